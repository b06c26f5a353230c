"""Every notebooks/*.ipynb runs top to bottom without a cell error, on this venv's kernel."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 120  # per notebook, kernel start included


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """Make kernel "python3" this interpreter, whatever other kernelspecs the machine has.

    ipykernel's own kernelspec starts a bare ``python`` from PATH, which may be another
    interpreter; JUPYTER_PATH is searched before the user and system directories.
    """
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (pdeflow tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PDEFLOW_PROGRESS", "plain")
    return "python3"


if NOTEBOOKS:

    @pytest.mark.slow
    @pytest.mark.timeout(TIMEOUT_S + 60)  # backstop; the budget below names the slow cell
    @pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
    def test_notebook_runs(path, venv_kernel):
        import nbformat
        from jupyter_client.kernelspec import KernelSpecManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellTimeoutError

        assert KernelSpecManager().get_kernel_spec(venv_kernel).argv[0] == sys.executable
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            kernel_name=venv_kernel,
            timeout=TIMEOUT_S,
            resources={"metadata": {"path": str(path.parent)}},
        )
        deadline = time.monotonic() + TIMEOUT_S  # one budget for the whole notebook
        client.reset_execution_trackers()
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                first_line = (cell.source.strip().splitlines() or [""])[0][:80]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"{path.name}: {TIMEOUT_S} s budget spent before cell {index}")
                client.timeout = max(1, math.ceil(remaining))
                try:
                    # raises CellExecutionError, naming the cell, on any error
                    client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                except CellTimeoutError:
                    pytest.fail(
                        f"{path.name}: cell {index} ({first_line!r}) still running when the "
                        f"notebook's {TIMEOUT_S} s budget ran out"
                    )
        errors = [
            out
            for cell in nb.cells
            if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if out.get("output_type") == "error"
        ]
        assert not errors
        assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")

else:

    def test_no_notebooks_yet():
        """Nothing to execute: notebooks/ holds no .ipynb file (not a failure)."""
        assert not list((ROOT / "notebooks").glob("*.ipynb"))
