"""Single-user server settings of the workshop hub (found through JUPYTER_CONFIG_PATH).

Voilà's own settings come from apps/voila.json (also on JUPYTER_CONFIG_PATH, read by Voilà's
server extension), the same file `make app` serves with. Its other sections (kernel culling and
the like, for jupyter_server's classes) apply to this server too, so both modes cull alike.
One of them is ``VoilaExecutor.iopub_timeout`` (nbclient's default is 4 s): on a loaded machine
a dashboard cell's widget output can arrive later than that after the cell's reply, nbclient then
drops it with only a log warning, and the page never shows its controls (measured: 3-4 of 5
pages opened at once on plain Voila, before it was raised to 120 s; 0 of 5 after).
"""
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821

voila_json = Path(os.environ["TTFS_LAB_REPO"]) / "apps" / "voila.json"
settings = json.loads(voila_json.read_text())
# MathJax: the standalone app's Voila.mathjax_url is a tornado setting of this server (offline).
c.ServerApp.tornado_settings = {key: settings["Voila"][key] for key in ("mathjax_url", "mathjax_config")
                                if key in settings.get("Voila", {})}
for section, values in settings.items():
    if section in ("Voila", "VoilaConfiguration"):  # the standalone app's and Voilà's own
        continue
    for name, value in values.items():
        setattr(getattr(c, section), name, value)

c.ServerApp.jpserver_extensions = {"voila": True}
# Each student has one dashboard open at a time: no extra warm kernel per student (the warm
# pool is a feature of the standalone Voilà app only, and would double every student's memory).
c.VoilaConfiguration.preheat_kernel = False
