"""environment.yml (conda route) must pin exactly what pyproject.toml pins (pip route).

Two install routes drift apart silently unless something compares them; this test is that
comparison. Both files are parsed with real parsers (tomllib, yaml), not grepped.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# "name==version", optionally with extras; anything else (>=, ~=, bare names) is not a pin.
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")


def normalize(name: str) -> str:
    """PEP 503 name normalization: jupyterlab_widgets and jupyterlab-widgets are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(requirements, source):
    pins = {}
    for req in requirements:
        m = PIN.match(req)
        if m is None:
            raise ValueError(f"{source}: {req!r} is not an exact 'name==version' pin")
        name = normalize(m.group(1))
        if name in pins:
            raise ValueError(f"{source}: {name} is listed twice")
        pins[name] = m.group(3)
    return pins


def pyproject_pins():
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return parse_pins(project["dependencies"], "pyproject.toml")


def environment():
    with open(ROOT / "environment.yml") as f:
        return yaml.safe_load(f)


def environment_pip_pins():
    deps = environment()["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip: section"
    return parse_pins(pip_sections[0], "environment.yml")


def test_pip_pins_equal_pyproject_dependencies():
    env, proj = environment_pip_pins(), pyproject_pins()
    problems = [f"pinned only in environment.yml: {n}=={env[n]}" for n in sorted(set(env) - set(proj))]
    problems += [f"pinned only in pyproject.toml: {n}=={proj[n]}" for n in sorted(set(proj) - set(env))]
    problems += [f"{n}: environment.yml has {env[n]}, pyproject.toml has {proj[n]}"
                 for n in sorted(set(env) & set(proj)) if env[n] != proj[n]]
    assert not problems, "\n".join(problems)

def test_conda_part_is_conda_forge_python_311():
    env = environment()
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda
    # pip itself must be a conda dependency, or the pip: section is ignored by conda.
    assert "pip" in conda


def test_torch_is_the_cpu_pin():
    # Any other torch request pulls a multi-GB CUDA build on this project's machines.
    assert pyproject_pins()["torch"] == "2.13.0"


@pytest.mark.parametrize(
    "bad", ["numpy>=2", "numpy", "numpy==2.4.6; python_version<'3.12' extra"]
)
def test_parser_rejects_non_pins(bad):
    # Guards the guard: a loose requirement must not sneak through as "equal".
    with pytest.raises(ValueError, match="not an exact"):
        parse_pins([bad], "x")


def test_parser_normalizes_names():
    assert parse_pins(["JupyterLab_Widgets==3.0.17"], "x") == {"jupyterlab-widgets": "3.0.17"}
