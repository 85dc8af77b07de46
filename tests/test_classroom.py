"""Smoke version of benchmarks/classroom.py on the real workshop hub: two students in Chromium
sign in, train and move a control; one student's kernel is killed (-9) in the middle of
training and that student restores the last save while the other trains on; the hub restarts
and both find their state; a wrong password gets JupyterHub's message. Figures are printed by
the benchmark, not asserted (timings are the machine's, not the code's)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
needs = [(os.geteuid() == 0, "needs root (one Unix account per student)"),
         (Path("/usr/bin/chromium").exists(), "needs Debian's chromium"),
         ((ROOT / ".hub-venv" / "bin" / "jupyterhub").exists(), "needs `make hub-install`")]


@pytest.mark.skipif(not all(ok for ok, _ in needs), reason="; ".join(why for ok, why in needs if not ok))
def test_two_students_kill_and_restart_drills(tmp_path):
    out = tmp_path / "classroom.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "classroom.py"), "--students", "2", "--seconds", "24",
                           "--drill", "kill,restart,password", "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    print(proc.stdout[-3000:], proc.stderr[-3000:])
    assert proc.returncode == 0
    run = json.loads(out.read_text())["runs"][0]
    students = run["per_student"]
    assert [s["error"] for s in students] == [None, None]
    assert all(s["interactive_s"] is not None and not s["messages"] for s in students)
    assert run["kernels_died"] == []
    assert all(mb > 50 for mb in run["rss_per_student_mb"])  # both servers were measured
    # Student 1's kernel was killed: the page said so, and Restore brought back the last save.
    kill = run["kill_drill"]
    assert kill["student"] == 1 and "stopped" in kill["banner"]
    assert kill["saved_epoch_after_kill"] is not None and kill["restored"] == kill["saved_epoch_after_kill"]
    assert students[0]["banner"] is None and students[0]["epochs"] >= 1  # the other trained on, unaware
    # The hub restarted: each student found the state saved last (kernels save when stopped).
    restart = run["restart_drill"]
    assert set(restart["restored"]) == {"0", "1"}
    for student, position in restart["restored"].items():
        assert position == restart["saved_at_stop"][student] and position[1] > 0
    assert run["wrong_password_message"] == "Invalid username or password"


def _classroom_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("classroom_bench", ROOT / "benchmarks" / "classroom.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("finished", [False, True])
def test_redraw_rate_counts_training_time_only(finished):
    """Redraws at 0.5 s steps for 5 s after Play at t = 1000 ms, page read at 20 s: while training
    that is 2 per second; a finished run's resting map (5 s → 20 s) must not dilute it, and a run
    still training has a 15 s gap at the end, which the longest gap must show."""
    rate, gap = _classroom_module().redraw_rate([500.0] + [1000.0 + 500 * k for k in range(1, 11)],
                                                1000.0, 21000.0, finished)
    if finished:
        assert rate == pytest.approx(2.0) and gap == pytest.approx(0.5)
    else:
        assert rate == pytest.approx(10 / 20) and gap == pytest.approx(15.0)
