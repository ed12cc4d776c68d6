"""Data: datasets, label noise and safe archive unpacking — the bottom floor with ``method``."""

from inn_core._lazy import lazy_exports

_EXPORTS = {
    "DATASETS": "datasets",
    "LabelledData": "datasets",
    "dataset_options": "datasets",
    "load_dataset": "datasets",
    "to_uint8_images": "datasets",
    "read_transition_matrix": "noise",
    "NoiseResult": "noise",
    "NoiseSpec": "noise",
    "expected_noise_rate": "noise",
    "imbalanced_pair": "noise",
    "inject_noise": "noise",
    "transition_matrix": "noise",
    "read_features": "features",
    "read_labels": "features",
    "check_embeddings": "features",
    "UploadedData": "archive",
    "import_archive": "archive",
    "unpack_archive": "archive",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
