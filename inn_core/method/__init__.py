"""Method: the paper's concepts — models, training, neighbours, INN scoring, mixtures, metrics, MixMatch pieces.

Nothing here knows of runs, stores or screens.
"""

from inn_core._lazy import lazy_exports

_EXPORTS = {
    "MODELS": "models",
    "FeatureModel": "models",
    "create_model": "models",
    "default_model_for": "models",
    "TrainConfig": "training",
    "Trainer": "training",
    "train": "training",
    "predict_proba": "training",
    "extract_features": "training",
    "nearest_neighbors": "neighbors",
    "inn_scores": "scoring",
    "small_loss_scores": "scoring",
    "deep_knn_scores": "scoring",
    "cleanlab_scores": "scoring",
    "BetaMixture": "mixture",
    "split_clean": "mixture",
    "clean_noisy_auc": "metrics",
    "clean_split_metrics": "metrics",
    "consistency_means": "metrics",
    "flag_metrics": "metrics",
    "precision_at_k": "metrics",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
