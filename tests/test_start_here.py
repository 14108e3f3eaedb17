"""The start-here notebook runs top to bottom with its defaults (the quick profile's sampler settings, synthetic
tensors, no data files) under papermill, and passes nbval."""
from __future__ import annotations


from atentlib import notebook

from .conftest import run_nbval

NAME = "00_start_here"


def test_start_here_runs_under_papermill(tmp_path):
    executed = notebook.execute(NAME, {"profile": "quick"}, build_dir=tmp_path / "build", cwd=tmp_path)
    text = executed.read_text()
    assert "SYNTHETIC" in text
    assert "max ||x' - x||_inf over the batch" in text
    assert '"output_type": "error"' not in text
    assert "image/png" in text  # the figures were drawn
    assert list(tmp_path.iterdir()) == [tmp_path / "build"]  # the demo writes no files of its own


def test_start_here_passes_nbval(tmp_path):
    nb = notebook.to_ipynb(NAME, tmp_path / f"{NAME}.ipynb", {"profile": "quick"})
    out = run_nbval(nb, tmp_path)
    assert " passed" in out.stdout
