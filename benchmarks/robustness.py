"""Robustness study on Yin-Yang: accuracy under each hardware distortion, trained ideally vs
fine-tuned with the distortion in the loop (ttfs_lab.experiments.robustness).

    python benchmarks/robustness.py --out results/robustness [--network ideal/checkpoint.pt] [--quick]

is the same as ``python -m ttfs_lab robustness ...``; it additionally writes the table as
DIR/robustness.md. Measured on the 2-core machine, one thread: the full study with --network
notebooks/data/yinyang_paper.ckpt (9 distortions x 2-4 strengths, 15 in-the-loop epochs each)
took 215 s wall clock while one other run shared the machine (15 minutes at load average 7);
--quick (ideal training included) 42 s wall clock, 19 s of CPU.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ttfs_lab.cli import main
from ttfs_lab.experiments.robustness import table


def run(argv) -> int:
    code = main(["robustness", *argv])
    if code == 0:
        out = Path(next(a.split("=", 1)[1] if a.startswith("--out=") else argv[i + 1]
                        for i, a in enumerate(argv) if a == "--out" or a.startswith("--out=")))
        records = json.loads((out / "robustness.json").read_text())
        (out / "robustness.md").write_text(table(records) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
