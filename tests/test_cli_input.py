"""The command line refuses what cannot work: one line on stderr, exit code 2, before any
training (defects 1 and 8 of issue 11, with every numeric option and more values)."""
from __future__ import annotations

import json

import pytest

from ttfs_lab import cli

TINY = ["train", "yinyang", "--epochs", "1", "--hidden", "4", "--batch-size", "300", "--no-progress"]


def _run(argv, capsys):
    """(exit code, stdout, stderr) of ``python -m ttfs_lab ARGV``, in this process."""
    try:
        code = cli.main(argv)
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def _refused(argv, capsys, *needles):
    code, out, err = _run(argv, capsys)
    assert code == 2, (argv, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err  # one line
    assert "epochs=" not in out and "test_accuracy" not in out, out  # nothing trained or evaluated
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture(autouse=True)
def _no_training(monkeypatch):
    """A refused command must never get to training: make that a test failure, not a slow run."""
    from ttfs_lab.train import Trainer

    def refuse(self, *args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(Trainer, "run", refuse)


NUMERIC = {
    # option: (values that must be refused)
    "--epochs": ["0", "-1", "nan", "inf", "1.5", "1e3", "abc", "", "1000001", "0x10"],
    "--batch-size": ["0", "-5", "nan", "-inf", "2.0", "1e23", "x"],
    "--lr": ["inf", "-inf", "nan", "0", "-0.1", "1.5", "1e400", "abc", ""],
    "--hidden": ["0", "-2", "inf", "nan", "4.5", "100001", "many"],
    "--seed": ["1e23", "-1", "nan", "inf", "2.5", str(2**63), str(2**64), "99999999999999999999999", "seed"],
    "--noise": ["inf", "nan", "-1", "-1e-9", "10.5", "1e308", "noise"],
    "--max-silent-output": ["nan", "inf", "-0.1", "1.01", "x"],
}
HARDWARE = {"--trials": ["0", "-3", "nan", "1.5", "1e3", "1001"], "--chip-id": ["-1", "nan", str(2**31), "one"],
            "--multiplex": ["0", "-1", "inf", "1001", "2.5"]}


@pytest.mark.parametrize("option, value", [(o, v) for o, vs in NUMERIC.items() for v in vs])
def test_train_refuses_bad_numbers(option, value, capsys):
    _refused([*TINY, option, value], capsys, f"argument {option}:", "(see --help)")


@pytest.mark.parametrize("option, value", [(o, v) for o, vs in HARDWARE.items() for v in vs])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_chip_options_refuse_bad_numbers(command, option, value, capsys, tmp_path):
    head = [*TINY, "--hardware", "bss2"] if command == "train" else ["evaluate", str(tmp_path / "x.pt"), "--hardware", "bss2"]
    _refused([*head, option, value], capsys, f"argument {option}:")


@pytest.mark.parametrize("extra", [["--trials", "3"], ["--chip-id", "2"], ["--multiplex", "3"],
                                   ["--trials", "2", "--chip-id", "1"], ["--hardware", "ideal", "--trials", "3"]])
def test_chip_options_without_a_chip_are_refused(extra, capsys, tmp_path):
    from ttfs_lab import TTFSNetwork, checkpoint

    path = checkpoint.save(tmp_path / "net.pt", TTFSNetwork((4, 5, 3)))
    err = _refused(["evaluate", str(path), *extra], capsys, "only on a chip", "--hardware PROFILE")
    _refused([*TINY, *extra], capsys, "only on a chip")
    assert "evaluate" in err


def test_edge_values_that_can_work_are_accepted(capsys):
    parser = cli.build_parser()
    args = parser.parse_args([*TINY, "--lr", "1", "--noise", "0", "--seed", str(2**63 - 2), "--epochs", " 7 "])
    assert (args.lr, args.noise, args.seed, args.epochs) == (1.0, 0.0, 2**63 - 2, 7)
    config = cli.config_from_args(args)
    assert (config.seed, config.lr, config.epochs) == (2**63 - 2, 1.0, 7)


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "out").write_text("x"), "out is a file, not a folder"),
    (lambda d: (d / "f").write_text("x"), "cannot create the folder"),  # --out f/out: a file in the path
    (lambda d: (d / "out" / "checkpoint.pt").mkdir(parents=True), "checkpoint.pt is a folder"),
    (lambda d: (d / "out" / "metrics.json").mkdir(parents=True), "metrics.json is a folder"),
])
def test_a_destination_that_cannot_take_the_outputs_is_refused_before_training(tmp_path, capsys, make, message):
    make(tmp_path)
    out = tmp_path / ("f/out" if message == "cannot create the folder" else "out")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    _refused([*TINY, "--out", str(out)], capsys, "--out:", message)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no probe file left, nothing created


@pytest.mark.parametrize("argv, needle", [
    ([*TINY, "--out", ""], "must name a folder"),
    (["evaluate", ""], "must name a file"),
    ([*TINY, "--out", "x" * 300], "File name too long"),
    ([*TINY, "--hidden", "100000", "100000"], "GiB, but this machine has"),
    (["train", "mnist", "--preset", "paper"], "preset 'paper' is for yin_yang"),
    ([*TINY, "--dtype", "float16"], "invalid choice"),
    (["train", "cifar"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([*TINY, "--unknown"], "unrecognized arguments"),
])
def test_other_impossible_requests_are_one_line(argv, needle, capsys):
    _refused(argv, capsys, needle)


@pytest.mark.parametrize("content, needle", [
    (b"", "not a readable ttfs-lab checkpoint"),
    (b"garbage" * 10, "not a readable ttfs-lab checkpoint"),
    (json.dumps({"format": "ttfs-lab-checkpoint"}).encode(), "not a readable ttfs-lab checkpoint"),
])
def test_evaluate_refuses_files_that_are_no_checkpoint(tmp_path, capsys, content, needle):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    err = _refused(["evaluate", str(path)], capsys, needle)
    assert not err.rstrip().endswith(":"), err
    _refused(["evaluate", str(tmp_path / "missing.pt")], capsys, "no checkpoint at")
    _refused(["evaluate", str(tmp_path)], capsys, "that is a folder")
