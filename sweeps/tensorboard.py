"""TensorBoard for sweeps: serves the curves and HParams table that the run writes (see
:mod:`sweeps.tensorboard_runs`).

``python -m sweeps.tensorboard FOLDER [FOLDER ...]`` serves one or more sweeps on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys

from sweeps.config import ConfigError
from sweeps.storage import TENSORBOARD, SweepFolder


def logdir_spec(locations: list[str]) -> str:
    """TensorBoard's ``--logdir_spec``: one group of runs per sweep folder, named by the sweep."""
    parts: dict[str, str] = {}
    for location in locations:
        folder = SweepFolder.from_location(location)
        if not folder.exists():
            raise ConfigError(f"no sweep folder at {location}")
        if not folder.has_folder(TENSORBOARD):
            raise ConfigError(f"{location} has no {TENSORBOARD}/ folder (written by sweeps.run)")
        name, copy = folder.name, 1
        while name in parts:  # the same sweep name under two storages
            copy += 1
            name = f"{folder.name}-{copy}"
        parts[name] = folder.tensorboard_dir(download=True)
    return ",".join(f"{name}:{path}" for name, path in parts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.tensorboard",
        description="TensorBoard over one or more sweep folders (several compare sweeps).",
    )
    parser.add_argument("folders", nargs="+", metavar="FOLDER", help="sweep folder or URI")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind [127.0.0.1]")
    parser.add_argument("--port", default="6006", help="port [6006]; 0 picks a free one")
    args = parser.parse_args(argv)
    try:
        spec = logdir_spec(args.folders)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir_spec", spec, "--host", args.host, "--port", args.port])
    board.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
