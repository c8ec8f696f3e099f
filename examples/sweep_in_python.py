"""The sweep of ``my_models.py``, ``my_data.py`` and ``my_space.py``, started from Python:

    python examples/sweep_in_python.py

``sweeps.sweep`` takes the classes and functions themselves, and the options of
``python -m sweeps.run`` as keyword arguments. Workers and checkpoints import these again by
their import path; the ``__main__`` guard keeps a process that imports this file from starting
a sweep. Code defined in a notebook travels by value instead: see ``notebook.ipynb``.
"""

from __future__ import annotations

from my_data import load
from my_models import SmallCNN
from my_space import space

import sweeps

if __name__ == "__main__":
    results = sweeps.sweep(model=SmallCNN, dataset=load, space=space, num_trials=12, max_epochs=5)
    print(results.best["config"], results.best["test_acc"], results.folder)
