"""Named random streams: every seed a run derives from its one ``seed`` comes from :func:`stream_seed`.

Each stream is ``seed * 1000 + offset + step * index``, with the offsets the runs have always used,
so stored runs stay reproducible; what was a magic number at each call site is a name here. The
index of a model's stream is its role's place in :data:`ROLE_INDEX`, so the Python API and an
experiment initialise (and batch) the MixUp model the same way for the same ``random_state``.
"""

from __future__ import annotations

__all__ = ["STREAMS", "ROLE_INDEX", "stream_seed", "role_seed"]

#: Stream name -> (offset, step).
STREAMS: dict[str, tuple[int, int]] = {
    "model_init": (11, 11),  # the experiment's (and the API's) models, by role
    "model_batches": (17, 17),  # their batch order and MixUp draws
    "robust_init": (101, 101),  # robust training's networks, by network
    "robust_batches": (103, 103),
    "inn_step1_init": (500, 1),  # INN+DivideMix step 1's INN models: index 10 * network + model
    "inn_step1_batches": (600, 1),
    "gmm": (0, 1),  # DivideMix's per-epoch GMM fits: index 2 * epoch + network
}

#: Model role -> stream index: one place for the roles' order.
ROLE_INDEX = {"ce": 0, "ce_ne": 1, "mixup": 2}


def stream_seed(seed: int, stream: str, index: int = 0) -> int:
    """The seed of draw ``index`` of the named ``stream`` of a run seeded with ``seed``."""
    offset, step = STREAMS[stream]
    return int(seed) * 1000 + offset + step * int(index)


def role_seed(seed: int, stream: str, role: str) -> int:
    """:func:`stream_seed` for a model role (``"ce"``, ``"ce_ne"``, ``"mixup"``)."""
    return stream_seed(seed, stream, ROLE_INDEX[role])
