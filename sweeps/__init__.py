"""Orchestration of a sweep: configuration, the Ray Tune run, and the results on disk.

``python -m sweeps.run`` is the entry point, and ``sweeps.sweep(...)`` its Python equal. This
package imports :mod:`trainable` and :mod:`search_spaces`; they never import it.

Its top level is what a user configures and runs, and what a sweep leaves behind: ``config``,
``space``, ``run``, ``api``, ``results``, ``manifest``, ``report``, ``tensorboard`` and
``replay``. :mod:`sweeps.tune` is the Ray Tune run, and :mod:`sweeps.storage` the sweep
folder that the run and its outputs use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeps.api import sweep

__all__ = ["sweep"]


def __getattr__(name: str) -> object:
    # Lazily: the CLI's checks import this package without Ray Tune or torch.
    if name == "sweep":
        from sweeps.api import sweep

        return sweep
    raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
