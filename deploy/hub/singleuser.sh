#!/bin/sh
# A student's single-user server, started by JupyterHub's LocalProcessSpawner as that student.
# Puts the dashboards (links to the read-only apps/) and a copy of the notebooks (without the
# solutions) into the student's home on first start, then runs JupyterHub's single-user server.
set -eu
: "${TTFS_LAB_REPO:?set by deploy/hub/jupyterhub_config.py}"
umask 077
cd "$HOME"
for app in playground neuron chip; do
    ln -sfn "$TTFS_LAB_REPO/apps/$app.ipynb" "$HOME/$app.ipynb"
done
if [ ! -e "$HOME/notebooks" ]; then
    cp -R "$TTFS_LAB_REPO/notebooks" "$HOME/notebooks.tmp"
    rm -rf "$HOME/notebooks.tmp/exercises/solutions"
    mv "$HOME/notebooks.tmp" "$HOME/notebooks"
fi
exec "$TTFS_LAB_VENV_BIN/jupyterhub-singleuser" "$@"
