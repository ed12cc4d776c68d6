"""The background worker: ``python -m inn_core.runs.worker --home HOME RUN`` continues one run.

Started by :func:`~inn_core.runs.lifecycle.launch_in_background`; it re-enters through the front
door (:func:`inn_core.runs.launch.resume`) and reports through the store only. Its output (one line
for a user error, a traceback for a bug) goes to the run's ``worker.log``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from inn_core.errors import InputError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Resume the run; returns the exit status (0 done, 1 cancelled, 2 user error)."""
    parser = argparse.ArgumentParser(prog="python -m inn_core.runs.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="run store folder")
    parser.add_argument("run", help="id of the run to continue")
    args = parser.parse_args(argv)
    from inn_core.runs.launch import resume
    from inn_core.runs.lifecycle import Cancelled
    from inn_core.runs.store import RunStore

    try:
        resume(RunStore(args.home), args.run)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Cancelled:
        print(f"run {args.run} cancelled", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
