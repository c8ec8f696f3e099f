"""The single error type of the package and the "did you mean" hint its messages share."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SpaceError(ValueError):
    """A bad search-space name, file or spec, described in one line."""


def suggest(name: object, valid: Iterable[object]) -> str:
    """Return "; did you mean 'x'? valid: a, b" (the hint only when something is close)."""
    options = [str(option) for option in valid]
    listed = ", ".join(options) if options else "(none)"
    close = difflib.get_close_matches(str(name), options, n=1)
    hint = f" did you mean {close[0]!r}?" if close else ""
    return f";{hint} valid: {listed}"
