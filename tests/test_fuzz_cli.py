"""A fuzz of the command line (issue 11): random argument lists made of the real options, random
values (numbers of every kind, garbage text, empty strings) and random order.

Every outcome must be either one clear line on stderr with exit code 2, or a run that starts
with exactly the values asked for, inside their documented ranges. Training and chip runs are
replaced by stand-ins that record what they were given (so the fuzz stays fast), and every
--out is a relative name inside a temporary folder. Derandomized, short.
"""
from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ttfs_lab import TTFSNetwork, checkpoint, cli

FUZZ = settings(derandomize=True, max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NUMBERS = st.one_of(
    st.integers(-10, 10).map(str), st.integers(-2**70, 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "-nan", "inf", "-inf", "Infinity", "1e23", "1e-400", "0x10", "1_000", " 3 ", "",
                     "--", "-", "3,5", "½", "٣", "1e308", "0.0", "-0", "True", "None"]),
    st.text(max_size=6),
)
OPTIONS = ["--epochs", "--batch-size", "--lr", "--hidden", "--seed", "--noise", "--max-silent-output", "--trials",
           "--chip-id", "--multiplex"]
FLAGS = [["--in-the-loop"], ["--no-progress"], ["--hardware", "bss2"], ["--hardware", "ideal"],
         ["--dtype", "float32"], ["--preset", "paper"], ["--preset", "mnist"]]
RANGES = {  # the documented ranges (ttfs_lab.arguments, ttfs_lab.hardware.cli)
    "epochs": (1, 1_000_000), "batch_size": (1, 1_000_000), "lr": (0, 1), "seed": (0, 2**63 - 2),
    "input_noise": (0, 10), "max_silent_output": (0, 1),
}


class _Started(Exception):
    """Raised by the stand-in trainer: the command got as far as training."""


@pytest.fixture()
def stand_ins(monkeypatch, tmp_path):
    from ttfs_lab import train
    from ttfs_lab.hardware import cli as hardware_cli

    started = []

    class Trainer:
        def __init__(self, config, progress=True):
            started.append(config)
            raise _Started()

    monkeypatch.setattr(train, "Trainer", Trainer)
    monkeypatch.setattr(hardware_cli, "chip_test_runs", lambda chip, net, x, y, trials=1: [0.5] * trials)
    monkeypatch.chdir(tmp_path)
    checkpoint.save(tmp_path / "net.pt", TTFSNetwork((4, 5, 3)))
    return started


def _run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as stop:
        code = stop.code
    except _Started:
        code = "started"
    out, err = capsys.readouterr()
    return code, out, err


def _one_clear_line(code, err):
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and err.startswith("python -m ttfs_lab") and "Traceback" not in err, err


@st.composite
def train_arguments(draw):
    argv = ["train", draw(st.sampled_from(["yinyang", "mnist", "yin_yang", "cifar", ""]))]
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            option = draw(st.sampled_from(OPTIONS))
            values = [draw(NUMBERS) for _ in range(draw(st.integers(1, 3)) if option == "--hidden" else 1)]
            argv += [option, *values] if draw(st.integers(0, 9)) else [option]  # sometimes no value at all
        else:
            argv += draw(st.sampled_from(FLAGS))
    if draw(st.booleans()):
        argv += ["--out", draw(st.text(alphabet="ab._- ", max_size=5))]
    return argv


@FUZZ
@given(train_arguments())
def test_train_arguments_start_right_or_are_refused(stand_ins, capsys, argv):
    stand_ins.clear()
    code, out, err = _run(argv, capsys)
    event(f"train: {code}")
    if code != "started":
        _one_clear_line(code, err)
        assert not stand_ins
        return
    (config,) = stand_ins
    for field, (low, high) in RANGES.items():
        value = getattr(config, field)
        assert math.isfinite(value) and low <= value <= high, (field, value, argv)
    assert config.lr > 0 and all(1 <= h <= 100_000 for h in config.hidden)
    for option, field in [("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--seed", "seed")]:
        if option in argv:  # the last one given wins, as argparse does, and is taken exactly
            assert getattr(config, field) == int(argv[len(argv) - 1 - argv[::-1].index(option) + 1]), (field, argv)
    if "--out" in argv:
        out_dir = argv[argv.index("--out") + 1]
        assert out_dir.strip() and os.path.isdir(out_dir)


@FUZZ
@given(st.sampled_from(["net.pt", "net.pt", "missing.pt", ".", "", "net.pt/x"]), st.lists(st.one_of(st.sampled_from(["--hardware", "bss2", "noisy", "ideal", "--trials", "--chip-id",
                                           "--multiplex", "net.pt", "missing.pt", ".", ""]), NUMBERS),
                max_size=4))
def test_evaluate_arguments_answer_or_are_refused(stand_ins, capsys, path, rest):
    argv = ["evaluate", path, *rest]
    code, out, err = _run(argv, capsys)
    event(f"evaluate: {code}")
    if code == 0:
        last = out.strip().splitlines()[-1]
        assert last.startswith("test_accuracy=") and 0 <= float(last.split("=")[1]) <= 1, out
        assert not err
    else:
        _one_clear_line(code, err)
