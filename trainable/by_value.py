"""A user's code by value: classes and functions defined in a notebook or an interactive session.

Code in a file travels by import path (:mod:`trainable.user_code`); a notebook cell or a
``python -`` session has no file that a worker or a later process could import. Such an object
is named ``__main__:Name`` (where Python says it lives) and travels by value: serialised with
cloudpickle, as Ray ships functions. A process holds these objects in one registry, which
:func:`trainable.user_code.load` reads before importing anything: the driver registers the
objects it is given; a worker, the payload Ray hands its trainable; a later process (``--resume``
from the command line, a replay, a checkpoint rebuilt), the sweep folder's :data:`FILENAME`.

Checkpoint bundles never hold code (they load with ``weights_only=True``); the code file lives
beside them, at the top of the sweep folder. Loading it runs the code it holds, as importing a
module does. No torch and no Ray here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cloudpickle

MAIN = "__main__"
FILENAME = "code.pkl"  # in the sweep folder: every object of the sweep that came by value
SEARCHED_LEVELS = 3  # a checkpoint's folder, its trial's folder, the sweep folder

_objects: dict[str, Any] = {}


def is_by_value(reference: str) -> bool:
    """Whether ``reference`` names an object defined in ``__main__`` of a notebook or session."""
    return reference.startswith(f"{MAIN}:")


def reference_of(obj: Any) -> str:
    """``__main__:Name`` for ``obj``, which is then registered in this process."""
    reference = f"{MAIN}:{obj.__qualname__}"
    register(reference, obj)
    return reference


def register(reference: str, obj: Any) -> None:
    """``obj`` is what ``reference`` names in this process, over any earlier object."""
    _objects[reference] = obj


def lookup(reference: str) -> Any | None:
    return _objects.get(reference)


def missing(references: Iterable[str]) -> list[str]:
    """Those of ``references`` that came by value and that this process has no object for."""
    return [r for r in references if is_by_value(r) and r not in _objects]


def dumps(references: Iterable[str]) -> bytes | None:
    """The registered objects of ``references`` that came by value, serialised; None if none
    did. What cloudpickle cannot serialise (a lock, a socket, an open file) raises its error."""
    wanted = {r: _objects[r] for r in dict.fromkeys(references) if is_by_value(r) and r in _objects}
    return cloudpickle.dumps(wanted) if wanted else None


def install(payload: bytes, *, replace: bool = True) -> list[str]:
    """Register the objects of a :func:`dumps` payload; with ``replace=False`` an object
    already registered (one the user passed) is kept. The references installed."""
    objects = cloudpickle.loads(payload)
    installed = []
    for reference, obj in objects.items():
        if replace or reference not in _objects:
            _objects[reference] = obj
            installed.append(reference)
    return installed


def install_missing(references: Iterable[str], payload: Callable[[], bytes | None]) -> None:
    """Register the objects of ``payload()`` (a :func:`dumps` payload, or None for none) when
    some of ``references`` came by value and have no object in this process; ``payload`` is
    read only then, and an object already registered (one the user passed) is kept. Loading
    them runs their code."""
    if missing(references):
        found = payload()
        if found is not None:
            install(found, replace=False)


def find_file(directory: str | os.PathLike) -> Path | None:
    """The sweep folder's code file above a checkpoint in ``directory``, if there is one."""
    here = Path(directory).resolve()
    for folder in [here, *here.parents][: SEARCHED_LEVELS + 1]:
        if (folder / FILENAME).is_file():
            return folder / FILENAME
    return None
