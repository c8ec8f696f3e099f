"""The entrypoint of compose's Ray containers (head, worker, sweep): run the command, leave the
cluster cleanly.

- The command runs as a child in a process group of its own; SIGTERM and SIGINT (``docker
  stop``, ``compose down``, Ctrl-C on ``compose run``) reach it once, from here.
- When it ends, any Ray process it left in the container is stopped with ``ray stop``: the
  sweep's driver node (``ray start`` without ``--block``) then leaves the cluster as a node that
  stopped, rather than one the head declares dead after missed heartbeats.
- ``ray start --block`` drains its node on SIGTERM and then exits 1; a stop that was asked for
  is a clean exit (0) here, so ``compose ps`` and restart policies see what happened. Any other
  exit keeps its status.
"""

import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: entrypoint.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    stop_asked = False
    child = subprocess.Popen(argv, process_group=0)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stop_asked
        stop_asked = True
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = child.wait()
    subprocess.run(["ray", "stop"], stdout=subprocess.DEVNULL, check=False)
    ray_node = argv[:2] == ["ray", "start"] and "--block" in argv
    if stop_asked and ray_node and status in (0, 1, -signal.SIGTERM, 128 + signal.SIGTERM):
        return 0
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
