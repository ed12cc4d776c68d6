"""Views: read models over finished runs for people — review tables and exports, one sample's evidence,
the noise preview, the embedding map, robust-training tables, the consistency toy and the demo run.
"""

from inn_core._lazy import lazy_exports

_EXPORTS = {
    "sample_table": "review",
    "flagged_samples": "review",
    "cleaned_labels": "review",
    "decision_log": "review",
    "review_progress": "review",
    "export_run": "review",
    "rule_selection": "bulk",
    "preview_bulk": "bulk",
    "apply_bulk": "bulk",
    "export": "exports",
    "SampleEvidence": "evidence",
    "sample_evidence": "evidence",
    "load_evidence_source": "evidence",
    "NoisePreview": "preview",
    "noise_preview": "preview",
    "compute_embedding": "embedding",
    "run_embedding": "embedding",
    "robust_history": "robust_results",
    "robust_table": "robust_results",
    "ToyConfig": "toy",
    "consistency_toy": "toy",
    "load_demo": "demo",
    "write_demo_assets": "demo",
    "ScoreSplit": "score_split",
    "score_split": "score_split",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
