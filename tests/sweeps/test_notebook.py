"""A real notebook run by Jupyter's own client (nbclient on an ipykernel kernel): a model, a
loader and a space defined in cells, swept, interrupted and resumed from the notebook and from
the command line, and the best model rebuilt, in the kernel and in a process of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from trainable import by_value

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
NOTEBOOK = REPO / "examples" / "notebook.ipynb"
OPTIONS_CELL, SWEEP_CELL, REBUILD_CELL = 1, 3, 5


@pytest.fixture
def kernel_env():
    """The kernel's environment: a Ray temp dir of its own (short, for its socket paths)."""
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    yield {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(REPO)}
    shutil.rmtree(ray_tmp, ignore_errors=True)


def notebook(**options) -> nbformat.NotebookNode:
    """The example notebook with the test's options in its options cell."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[OPTIONS_CELL].source.lstrip().startswith("# The sweep's options")
    nb.cells[OPTIONS_CELL].source = f"SWEEP = {options!r}"
    return nb


def client(nb: nbformat.NotebookNode) -> NotebookClient:
    return NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )


def text(cell: nbformat.NotebookNode) -> str:
    """What a cell printed and returned."""
    parts = [o.get("text", "") for o in cell.outputs if o.output_type == "stream"]
    parts += [o["data"].get("text/plain", "") for o in cell.outputs if "data" in o]
    return "".join(parts)


def run_code(nb_client: NotebookClient, source: str) -> str:
    cell = nbformat.v4.new_code_cell(source)
    nb_client.nb.cells.append(cell)
    nb_client.execute_cell(cell, len(nb_client.nb.cells) - 1)
    return text(cell)


def test_the_example_notebook_sweeps_and_rebuilds_its_best_model(tmp_path, kernel_env):
    options = {"name": "nb", "storage": str(tmp_path), "num_trials": 3, "max_epochs": 3,
               "grace_period": 1, "confirm_top": 1, "confirm_seeds": 2}  # fmt: skip
    nb = notebook(**options)
    client(nb).execute(env=kernel_env)

    folder = tmp_path / "nb"
    best = json.loads((folder / "best.json").read_text())
    assert best["model"] == "__main__:Net" and best["dataset"] == "__main__:load"
    assert (folder / by_value.FILENAME).is_file()
    assert "Sweep finished: 3 trials" in text(nb.cells[SWEEP_CELL])
    assert "tensor(" in text(nb.cells[REBUILD_CELL])  # the rebuilt model's predictions
    # Another process, without the notebook: the sweep folder's copy of the code.
    rebuilt = subprocess.run(
        [sys.executable, "-c", "import sys; from trainable import TrainingRun; "
         "run = TrainingRun.from_checkpoint(sys.argv[1]); "
         "print(type(run.model).__qualname__, run.epoch)", best["checkpoint"]],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert rebuilt.stdout.split()[0] == "Net"
    replayed = subprocess.run(
        [sys.executable, "-m", "sweeps.replay", str(folder), str(best["trial_index"])],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]
    assert "bit for bit" in replayed.stdout


def recorded_epochs(folder: Path) -> int:
    journal = folder / "optuna.journal"
    return journal.read_text().count('"epoch:') if journal.is_file() else 0


def test_an_interrupted_notebook_sweep_resumes_from_the_cli_and_from_the_notebook(
    tmp_path, kernel_env
):
    options = {"name": "nb", "storage": str(tmp_path), "num_trials": 4, "max_epochs": 40,
               "grace_period": 40, "patience": 40, "confirm_seeds": 0}  # fmt: skip
    nb = notebook(**options)
    folder = tmp_path / "nb"
    nb_client = client(nb)
    with nb_client.setup_kernel(env=kernel_env):
        for index in range(SWEEP_CELL):
            nb_client.execute_cell(nb.cells[index], index)
        failed: list[Exception] = []

        def run_sweep_cell() -> None:
            try:
                nb_client.execute_cell(nb.cells[SWEEP_CELL], SWEEP_CELL)
            except Exception as err:  # a cell's error, raised in this thread
                failed.append(err)

        sweep = threading.Thread(target=run_sweep_cell)
        sweep.start()
        deadline = time.monotonic() + 120
        while recorded_epochs(folder) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert recorded_epochs(folder) >= 3, "the sweep recorded no epochs in 2 minutes"
        run_sync(nb_client.km.interrupt_kernel)()  # Ctrl-C, as Jupyter's stop button sends it
        sweep.join(timeout=120)
        assert not sweep.is_alive() and not failed, failed
        assert "Sweep interrupted" in text(nb.cells[SWEEP_CELL])
        assert run_code(nb_client, "print(results.best)").strip() == "None"  # no model picked

        # The command line continues it with the folder's copy of the notebook's code.
        resumed = subprocess.run(
            [sys.executable, "-m", "sweeps.run", "--name", "nb", "--storage", str(tmp_path),
             "--resume"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, env=kernel_env,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "Sweep finished: 4 trials" in resumed.stdout

        # The notebook extends it with its own objects, then rebuilds the best model.
        more = run_code(
            nb_client, "results = sweeps.sweep(model=Net, dataset=load, space=space, "
            "**{**SWEEP, 'num_trials': 5, 'max_epochs': 40}, resume=True)"
        )  # fmt: skip
        assert "Sweep finished: 5 trials" in more
        nb_client.execute_cell(nb.cells[REBUILD_CELL], REBUILD_CELL)
        assert "tensor(" in text(nb.cells[REBUILD_CELL])
