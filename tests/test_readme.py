"""The README's code must run, and the make targets it names must exist.

The ```python blocks are executed in order in one namespace (a later block may use names from
an earlier one), from an empty working directory so they cannot lean on files lying around.
"""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)


def test_readme_has_python_quick_start():
    assert len(PYTHON_BLOCKS) >= 1


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    for i, block in enumerate(PYTHON_BLOCKS):
        code = compile(block, f"README.md python block {i + 1}", "exec")
        exec(code, namespace)
    assert capsys.readouterr().out.strip(), "the quick-start is meant to print its results"


def makefile_targets():
    text = (ROOT / "Makefile").read_text()
    targets = set()
    for m in re.finditer(r"^([A-Za-z0-9_.\- ]+):(?!=)", text, re.M):
        targets.update(m.group(1).split())
    return targets


@pytest.mark.parametrize("target", sorted(set(re.findall(r"`make (\w+)", README))))
def test_make_targets_named_in_readme_exist(target):
    assert target in makefile_targets(), f"README mentions `make {target}`, Makefile has no such target"


def test_the_two_commands_come_first():
    first_block = re.search(r"^```\w*\n(.*?)^```", README, re.S | re.M).group(1)
    assert re.search(r"^make app\b", first_block, re.M)
    assert re.search(r"^make test\b", first_block, re.M)


def test_ci_script_runs_make_test():
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    lines = [l.strip() for l in ci.read_text().splitlines()]
    assert "set -euo pipefail" in lines
    assert any(re.match(r"^(exec )?make test\b", l) for l in lines)


README_COMMANDS = re.findall(r"^\.venv/bin/python -m ttfs_lab (.+?)(?:\s+#.*)?$", README, re.M)


def test_readme_names_command_lines():
    assert any(c.startswith("train ") for c in README_COMMANDS)


@pytest.mark.parametrize("command", README_COMMANDS)
def test_readme_command_lines_parse(command):
    # Parsing only (no training): every option the README shows must exist and accept its value.
    from ttfs_lab.cli import build_parser

    args = build_parser().parse_args(command.split())
    assert args.command == command.split()[0]
