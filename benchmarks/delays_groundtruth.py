"""Ground-truth counts for learned delays, per tau regime and backend (issue 15's figures).

    python benchmarks/delays_groundtruth.py

Runs the same random delayed layers as tests/test_delays.py::test_synaptic_delays_match_brute_force
(a brute-force threshold crossing at t_i + d_ij, tests/groundtruth.py) and prints how many
neuron outcomes were compared, how many had their input order changed by the delays, and the
worst spike-time error. The test asserts the bound; this prints the figures.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np
import test_delays as T
from ttfs_lab.native import set_backend
for backend in ("torch", "native"):
    with set_backend(backend):
        for regime, p in T.REGIMES.items():
            rng = np.random.default_rng(sum(map(ord, regime)))
            count, worst, reordered = 0, 0.0, 0
            for _ in range(T.N_LAYERS):
                times, weights, delays = T.random_delayed_layer(rng, p)
                got = T.synaptic_spike_times(T._t(times), T._t(weights), T._t(delays), p)
                n, err = T._compare(got, T.brute_force(times, weights, delays, p))
                count, worst = count + n, max(worst, err)
                arrival = times[:, :, None] + delays[None]
                reordered += int((np.argsort(times, 1, kind="stable")[:, :, None] != np.argsort(arrival, 1, kind="stable")).any(axis=1).sum())
            print(f"{backend:6s} {regime:14s} outcomes {count:4d} (reordered inputs {reordered:3d})  worst |T - brute force| {worst:.1e}")
