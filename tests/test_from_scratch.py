"""The from-scratch notebook writes ATENT's training step inline and checks it against atentlib's sampler: under
nbval on the smoke data its gradient check (an assert in the notebook) must pass and be recorded."""
from __future__ import annotations

import json

from atentlib import notebook

from .conftest import run_nbval


def test_from_scratch_gradient_check_passes_under_nbval(smoke_profile_path, tmp_path):
    params = {"profile": str(smoke_profile_path), "n_train": 60, "n_val": 20, "epochs": 1, "K": 3,
              "batch_size": 20, "monitor_pgd_steps": 2, "figures_dir": str(tmp_path / "figures"),
              "metrics_dir": str(tmp_path / "metrics")}
    nb = notebook.to_ipynb("atent_from_scratch", tmp_path / "atent_from_scratch.ipynb", params)
    out = run_nbval(nb, tmp_path)
    assert " passed" in out.stdout
    m = json.loads((tmp_path / "metrics" / "atent_from_scratch.json").read_text())
    assert m["gradient_check_relative_difference"] < 1e-5
    assert set(m["last"]) == {"ATENT (inline)", "PGD-AT (inline)"}
    for r in m["last"].values():
        assert r["pgd"] <= r["natural"]
    assert (tmp_path / "figures" / "atent_from_scratch.png").stat().st_size > 1000
