"""INN Lab engine: find wrongly labelled training samples with INN (Integration with the Nearest Neighborhoods).

The one-call API is :func:`inn_core.find_noisy_labels`, the scikit-learn estimator :class:`inn_core.INNDetector`;
runs with a durable store start through :mod:`inn_core.runs.launch` (:mod:`inn_core.runs.experiment`,
:mod:`inn_core.runs.store`); the command line is ``python -m inn_core``.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["find_noisy_labels", "NoisyLabels", "INNDetector", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m inn_core --help` and light imports don't pay for torch up front.
    if name in ("find_noisy_labels", "NoisyLabels"):
        from inn_core import api

        return getattr(api, name)
    if name == "INNDetector":
        from inn_core.estimator import INNDetector

        return INNDetector
    raise AttributeError(f"module 'inn_core' has no attribute {name!r}")
