"""The examples run: the quickstart notebook (tiny budget) and the training script."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.expensive  # trains agents or runs command lines: minutes

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_quickstart_notebook_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QUICKSTART_TIMESTEPS", "300")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs)
    assert "mean return" in outputs
    assert "with K=10" in outputs
    assert not (tmp_path / "quickstart_iterative_sac.zip").exists()


def test_training_script_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_pendulum.py"), "--timesteps", "300", "--save", str(tmp_path / "model")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr
    assert "mean return after 300 steps" in result.stdout
    assert (tmp_path / "model.zip").exists()
