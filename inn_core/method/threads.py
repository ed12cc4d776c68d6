"""One process-wide lock around torch's CPU thread count.

``torch.set_num_threads`` changes the whole process. A dashboard serves several sessions from
threads of one process, so two blocks that each set and restore the count can interleave and leave
the server at one thread for good, or run one block at the other's count (a toy trained at a
different count than alone gives different floats). Every block that changes the count holds one
re-entrant lock, so blocks of different threads run one after the other and each restores exactly
what it found.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]

_LOCK = threading.RLock()


@contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """Run torch's CPU kernels on ``count`` threads for the block; yields the count it found.

    Other threads entering a ``torch_threads`` block wait until this one ends; the same thread may
    nest blocks (the inner one restores the outer's count).
    """
    with _LOCK:
        previous = torch.get_num_threads()
        if previous != count:
            torch.set_num_threads(count)
        try:
            yield previous
        finally:
            if torch.get_num_threads() != previous:
                torch.set_num_threads(previous)
