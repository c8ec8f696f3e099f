"""A user's code by import path: ``package.module:attr`` or ``path/to/file.py:attr``.

The same reference works in the sweep's driver, in every Ray worker and in a later process
rebuilding a checkpoint. The driver turns a file path absolute (:func:`normalize`); a process
that has the file loads it from there, as module ``<file stem>`` with the file's folder on
``sys.path`` (so the file imports its neighbours as it does when run as a script); one that
has not (a worker on another node) imports ``<file stem>``, which the sweep ships to every
worker through Ray's runtime environment. An object defined in a notebook or an interactive
session is named ``__main__:Name`` and travels by value (:mod:`trainable.by_value`). No torch
and no Ray here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from trainable import by_value

PACKAGE_ROOTS = tuple(
    str(Path(__file__).resolve().parent.parent / name)
    for name in ("trainable", "search_spaces", "sweeps")
)


class UserCodeError(ValueError):
    """The user's code cannot be imported, found or called; one line, with its file:line."""


def is_reference(text: str) -> bool:
    """Whether ``text`` names code (``module:attr`` or ``file.py:attr``), not a registered name."""
    return ":" in text and not text.startswith(("s3://", "gs://", "hdfs://", "file://"))


def split(reference: str) -> tuple[str, str]:
    """``(module or file, attribute)``, or a UserCodeError saying how a reference is spelled."""
    where, _, attr = reference.rpartition(":")
    if not where or not attr or not all(part.isidentifier() for part in attr.split(".")):
        raise UserCodeError(
            f"{reference!r} is not an import path; write package.module:attr or "
            "path/to/file.py:attr"
        )
    return where, attr


def normalize(reference: str) -> str:
    """The reference with a file path made absolute, as workers and later processes need it."""
    where, attr = split(reference)
    if where.endswith(".py"):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    return reference


def load(reference: str, what: str) -> Any:
    """The object ``reference`` names; ``what`` (model, dataset, space) words the errors.

    An object registered under ``reference`` in this process (code by value, or an object the
    caller passed to stand for it) comes first."""
    found = by_value.lookup(reference)
    if found is not None:
        return found
    if by_value.is_by_value(reference):
        raise UserCodeError(
            f"{what} {reference} was defined in a notebook or an interactive session, and this "
            f"process does not have it: pass the object itself ({what}=...), or use the sweep "
            f"folder, whose {by_value.FILENAME} holds it"
        )
    where, attr = split(reference)
    module = _load_file(where, what) if where.endswith(".py") else _import(where, what)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in dir(module) if not n.startswith("_"))
            raise UserCodeError(
                f"{what} {reference!r}: {module.__name__} has no attribute {part!r}; "
                f"it has: {', '.join(names) or '(nothing public)'}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserCodeError(
            f"{what} {reference!r} is {a_kind_of(obj)}, not a callable (a class or function)"
        )
    return obj


def reference_of(obj: Any, what: str) -> str:
    """The import path of a function or class, for the Python entry point's objects; for one
    defined in a notebook or an interactive session, ``__main__:Name``, and the object is kept
    to be sent by value (see :mod:`trainable.by_value`)."""
    if isinstance(obj, str):
        return obj
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not callable(obj) or module is None or "<" in name:
        raise UserCodeError(
            f"{what} {obj!r} is not a module-level class or function; define it at the top "
            "level of a module or a notebook cell, so that workers and checkpoints can find it"
        )
    if module == by_value.MAIN:
        path = getattr(sys.modules[by_value.MAIN], "__file__", None)
        if path is None or not Path(path).is_file():  # a notebook, python -, the REPL
            return by_value.reference_of(obj)
        return normalize(f"{path}:{name}")
    # A module file beside the script, not installed: by its path, so that a checkpoint
    # rebuilds the model from any folder (a package keeps its import path).
    local = source_file(f"{module}:{name}")
    if local is not None and local.suffix == ".py":
        return f"{local.resolve()}:{name}"
    return f"{module}:{name}"


def source_file(reference: str) -> Path | None:
    """The file or package folder to ship to workers for ``reference``; None where the code is
    installed (in site-packages, or part of this project), so that workers have it already, or
    where it travels by value."""
    if by_value.is_by_value(reference):
        return None
    where, _ = split(reference)
    if where.endswith(".py"):
        return Path(where)
    spec = importlib.util.find_spec(where.split(".")[0])
    if spec is None or spec.origin in ("built-in", "frozen"):
        return None
    if spec.origin is None:  # a namespace package: a folder without __init__.py
        folders = list(spec.submodule_search_locations or [])
        if len(folders) != 1:
            return None
        located = Path(folders[0])
    else:
        path = Path(spec.origin)
        located = path.parent if path.name == "__init__.py" else path
    return None if _installed(located) else located


def payload(references: list[str]) -> bytes | None:
    """The objects of ``references`` that travel by value, serialised for workers and the sweep
    folder (None: none does); a one-line error for an object that cannot be serialised."""
    try:
        return by_value.dumps(references)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        named = ", ".join(r for r in references if by_value.is_by_value(r))
        raise UserCodeError(
            f"{named} cannot be sent to workers by value ({reason}); create what it holds "
            "inside it, or move it to a .py file and import it from there"
        ) from None


def accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` takes a parameter ``name`` (or any keyword, through ``**kwargs``)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def where_raised(err: BaseException) -> str:
    """``file:line`` of the innermost frame of the user's code in ``err``'s traceback."""
    frames = traceback.extract_tb(err.__traceback__)
    if isinstance(err, SyntaxError) and err.filename:
        return f"{err.filename}:{err.lineno}"
    own = [f for f in frames if _is_users(f.filename)]
    frame = (own or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}" if frame else "?"


def a_kind_of(value: object) -> str:
    """ "a str", "an int": the value's type as an error message names it."""
    noun = type(value).__name__
    return f"an {noun}" if noun[0].lower() in "aeiou" else f"a {noun}"


def where_in(traceback_text: str) -> str | None:
    """``file:line`` of the innermost frame of the user's code in a formatted traceback (as
    Ray passes a trial's error back), or None when the user's code is not in it."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', traceback_text)
    own = [f"{name}:{line}" for name, line in frames if _is_users(name)]
    return own[-1] if own else None


def raised(what: str, reference: str, err: BaseException) -> UserCodeError:
    """A one-line error for an exception the user's code raised."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return UserCodeError(
        f"{what} {reference} raised {type(err).__name__}: {message} ({where_raised(err)})"
    )


def _installed(path: Path) -> bool:
    """Code that every node has already: packages, the standard library, this project."""
    if "site-packages" in path.parts or "dist-packages" in path.parts:
        return True
    roots = (sys.prefix, sys.base_prefix)
    return str(path).startswith(PACKAGE_ROOTS) or any(path.is_relative_to(r) for r in roots)


def _is_users(filename: str) -> bool:
    if filename.startswith("<") or filename.startswith(PACKAGE_ROOTS):
        return False
    parts = Path(filename).parts
    return not ("site-packages" in parts or "dist-packages" in parts
                or filename.startswith(sys.base_prefix))  # fmt: skip


def _import(name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise UserCodeError(
                f"{what} module {name!r} not found (not installed, and not in the current "
                "folder); or name a file: path/to/file.py:attr"
            ) from None
        raise raised(f"{what} module", name, err) from None
    except Exception as err:
        raise raised(f"{what} module", name, err) from None


def _load_file(path: str, what: str) -> ModuleType:
    file = Path(path).expanduser()
    name = file.stem
    if not file.is_file():
        if not file.is_absolute() or not name.isidentifier():
            raise UserCodeError(f"{what} file not found: {path}")
        # A worker on another node: the runtime environment shipped the file as a module.
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            raise UserCodeError(f"{what} file not found: {path}") from None
    if not name.isidentifier():
        raise UserCodeError(
            f"{what} file {path}: {name!r} is not a Python module name; rename the file "
            "(letters, digits and _)"
        )
    file = file.resolve()
    loaded = sys.modules.get(name)
    if loaded is not None:
        if getattr(loaded, "__file__", None) and Path(loaded.__file__).resolve() == file:
            return loaded
        raise UserCodeError(
            f"{what} file {path}: the module name {name!r} is taken by "
            f"{getattr(loaded, '__file__', None) or 'a built-in module'}; rename the file"
        )
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise raised(f"{what} file", os.fspath(path), err) from None
    return module
