"""Execute a jupytext percent notebook (notebooks/<name>.py) with papermill.

papermill reads only .ipynb, so the source is converted in memory with jupytext. The executed copy is written
to build/<name>.ipynb; when a cell fails, papermill keeps that copy (with the traceback in place) and the error
names it, so nothing is lost for debugging.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"


class NotebookError(RuntimeError):
    """A notebook cell failed; the message names the executed copy."""


def available() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.py"))


def to_ipynb(name: str, out: Path, parameters: dict[str, Any] | None = None) -> Path:
    """Write notebooks/<name>.py as an .ipynb (with parameters injected, not executed), e.g. for nbval."""
    import jupytext
    import papermill

    nb = jupytext.read(_source(name))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, out.with_suffix(".src.ipynb"))
    papermill.execute_notebook(str(out.with_suffix(".src.ipynb")), str(out), parameters=parameters or {},
                               prepare_only=True, kernel_name="python3", language="python")
    out.with_suffix(".src.ipynb").unlink()
    return out


def execute(name: str, parameters: dict[str, Any] | None = None, build_dir: Path = Path("build"),
            cwd: Path | None = None, progress: bool = False) -> Path:
    """Run notebooks/<name>.py with `parameters`; return the executed .ipynb's path."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = Path(build_dir) / f"{name}.ipynb"
    src = to_ipynb(name, Path(build_dir) / f"{name}.input.ipynb", None)
    try:
        papermill.execute_notebook(str(src), str(out), parameters=parameters or {}, kernel_name="python3",
                                   language="python", cwd=str(cwd) if cwd else None, progress_bar=progress)
    except PapermillExecutionError as exc:
        raise NotebookError(f"notebook {name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n"
                            f"the executed copy, with the traceback, is kept at {out}") from None
    finally:
        src.unlink(missing_ok=True)
    return out


def _source(name: str) -> Path:
    path = NOTEBOOKS_DIR / f"{name}.py"
    if not path.exists():
        raise NotebookError(f"unknown notebook {name!r}: available are {', '.join(available())}")
    return path
