"""Exports the ecosystem reads: a reviewed run as CSV, an image-folder tree, a Hugging Face dataset,
Label Studio tasks or a cleanlab-Datalab-style issue table.

Every format reads the same three things: the run's sample table (scores, suggestions), its
standing review decisions (:func:`~inn_core.views.review.cleaned_labels`) and, for formats that
carry pixels, its training images - the original files when the run read files, PNGs written from
the tensors otherwise (digits, CIFAR).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inn_core.errors import InputError
from inn_core.runs.store import RunStore, atomic_write_bytes
from inn_core.views.review import cleaned_labels, export_run, sample_table

__all__ = ["EXPORT_FORMATS", "datalab_frame", "export", "labelstudio_tasks"]

#: Format name -> one line saying what it writes.
EXPORT_FORMATS = {
    "csv": "cleaned_labels.csv, decisions.csv, scores.csv and config.json, class names next to every label id",
    "imagefolder": "a class-per-folder tree of the cleaned set (dropped samples left out), for torchvision ImageFolder",
    "hf": "a Hugging Face datasets folder (save_to_disk) with image, given_label, cleaned_label, inn_score, ...",
    "labelstudio": "Label Studio import JSON: one task per flagged sample, the suggestion as a scored prediction",
    "datalab": "label_issues.csv with cleanlab Datalab's columns "
    "is_label_issue, label_score, given_label, predicted_label",
}
#: The formats that write the samples' images (an embedding run has none).
IMAGE_FORMATS = ("imagefolder", "hf", "labelstudio")


def export(
    store: RunStore,
    run_id: str,
    out_dir: str | Path,
    *,
    format: str = "csv",
    method: str = "inn",
    link: str = "hardlink",
) -> dict[str, Path]:
    """Write run ``run_id`` with its review decisions applied into ``out_dir`` in ``format``.

    Parameters
    ----------
    format : one of :data:`EXPORT_FORMATS`.
    method : the scoring method whose scores are exported (default INN).
    link : imagefolder only - ``"hardlink"`` (falls back to a copy across file systems) or ``"copy"``
        for runs read from image files.

    Returns
    -------
    dict of what was written: name -> path.
    """
    if format not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    if link not in ("hardlink", "copy"):
        raise InputError(f"link must be 'hardlink' or 'copy', got {link!r}")
    record = store.get_run(run_id)
    if record.kind == "embedding" and format in IMAGE_FORMATS:
        raise InputError(
            f"run {run_id!r} scored given embeddings, so it has no images to write as {format!r}; "
            "export it as csv or datalab"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot export into {str(out)!r}: it is a file, not a folder")
    if format == "csv":
        return export_run(store, run_id, out, method=method)
    out.mkdir(parents=True, exist_ok=True)
    frame = _joined(store, run_id, method)
    if format == "datalab":
        path = out / "label_issues.csv"
        atomic_write_bytes(path, datalab_frame(frame).to_csv(index=False).encode())
        return {"label_issues": path}
    if format == "labelstudio":
        images = _RunImages(store, run_id)
        tasks = labelstudio_tasks(frame, images, _class_names(store, run_id))
        path, config = out / "tasks.json", out / "label_config.xml"
        atomic_write_bytes(path, json.dumps(tasks, indent=1).encode())
        atomic_write_bytes(config, _labelstudio_config(_class_names(store, run_id)).encode())
        return {"tasks": path, "label_config": config}
    if format == "imagefolder":
        return {
            "imagefolder": _write_imagefolder(frame, _RunImages(store, run_id), _class_names(store, run_id), out, link)
        }
    return {"hf": _write_hf(frame, _RunImages(store, run_id), _class_names(store, run_id), out)}


# -- the table every format reads ----------------------------------------------------------------


def _class_names(store: RunStore, run_id: str) -> list[str]:
    info = store.read_json(run_id, "data.json", {})
    observed = store.read_arrays(run_id, "labels.npz")["observed"]
    return list(info.get("class_names") or [str(k) for k in range(int(observed.max()) + 1)])


def _joined(store: RunStore, run_id: str, method: str) -> pd.DataFrame:
    """The sample table with the standing decisions: ``decision``, ``cleaned_label``, ``dropped``."""
    table = sample_table(store, run_id, method=method)
    cleaned = cleaned_labels(store, run_id)
    for column in ("decision", "cleaned_label", "dropped"):
        table[column] = cleaned[column].to_numpy()
    return table


def datalab_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """cleanlab ``Datalab.get_issues("label")`` columns from a joined sample table.

    ``label_score`` is the INN score (low = likely wrong label, as cleanlab's), ``is_label_issue``
    the Beta-mixture flag, ``predicted_label`` the MixUp model's prediction (the observed label where
    the run has no final prediction). ``index`` keeps the sample's position.
    """
    predicted = frame["predicted_label"] if "predicted_label" in frame.columns else frame["observed_label"]
    return pd.DataFrame(
        {
            "index": frame["index"].to_numpy(),
            "is_label_issue": frame["flagged"].to_numpy(dtype=bool),
            "label_score": frame["score"].to_numpy(dtype=float),
            "given_label": frame["observed_label"].to_numpy(),
            "predicted_label": np.asarray(predicted),
        }
    )


# -- pixels ---------------------------------------------------------------------------------------


class _RunImages:
    """A run's training images: the original file of each sample when it has one, else PNG bytes."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        from inn_core.runs.experiment import ExperimentConfig
        from inn_core.runs.prepare import prepare_data

        config = ExperimentConfig.from_dict(store.config(run_id))
        run = prepare_data(config)
        stored = store.read_arrays(run_id, "labels.npz")["observed"]
        if stored.shape != run.observed_labels.shape or not np.array_equal(stored, run.observed_labels):
            raise InputError(
                f"the data of run {run_id!r} changed since it ran; restore the files under "
                f"{config.data_root or config.dataset} to export its images"
            )
        if not run.data.is_image:
            raise InputError(f"run {run_id!r} holds feature vectors, not images; export it as csv or datalab")
        self.data = run.data
        self.base = _source_base(config)

    def file(self, i: int) -> Path | None:
        """The original image file of sample ``i``, when the run read files and it is still there."""
        if self.data.sources is None or self.base is None:
            return None
        path = self.base / self.data.sources[i]
        return path if path.is_file() else None

    def png(self, i: int) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.data.display_image(int(i))).save(buf, format="PNG")
        return buf.getvalue()

    def pil(self, i: int):
        from PIL import Image

        path = self.file(i)
        return Image.open(path) if path is not None else Image.open(io.BytesIO(self.png(i)))


def _source_base(config: Any) -> Path | None:
    """The folder a run's ``sources`` are relative to (image folders and CSVs of file paths)."""
    options = config.data_options or {}
    if config.dataset == "imagefolder" and config.data_root:
        return Path(config.data_root).expanduser()
    if config.dataset == "csv":
        if options.get("image_root"):
            return Path(options["image_root"]).expanduser()
        table = options.get("csv_path") or config.data_root
        return Path(table).expanduser().parent if table else None
    return None


def _folder_name(name: str) -> str:
    cleaned = re.sub(r"[^\w\-. ]+", "_", str(name)).strip(" .")
    return cleaned or "_"


# -- the formats ----------------------------------------------------------------------------------


def _write_imagefolder(frame: pd.DataFrame, images: _RunImages, class_names: list[str], out: Path, link: str) -> Path:
    root = out / "imagefolder"
    if root.exists():
        shutil.rmtree(root)  # a fresh tree: a sample relabelled since the last export must not stay behind
    kept = frame[~frame["dropped"].to_numpy(dtype=bool)]
    for i, label in zip(kept["index"].tolist(), kept["cleaned_label"].tolist()):
        # Only classes that keep a sample get a folder: ImageFolder refuses empty class folders.
        folder = root / _folder_name(class_names[int(label)])
        folder.mkdir(parents=True, exist_ok=True)
        source = images.file(i)
        if source is None:
            (folder / f"{i:06d}.png").write_bytes(images.png(i))
            continue
        target = folder / f"{i:06d}_{source.name}"
        if link == "hardlink":
            try:
                os.link(source, target)
                continue
            except OSError:
                pass  # another file system, or links not allowed: copy instead
        shutil.copy2(source, target)
    return root


def _write_hf(frame: pd.DataFrame, images: _RunImages, class_names: list[str], out: Path) -> Path:
    import datasets

    labels = datasets.ClassLabel(names=class_names)
    features = datasets.Features(
        {
            "index": datasets.Value("int64"),
            "image": datasets.Image(),
            "given_label": labels,
            "cleaned_label": labels,
            "inn_score": datasets.Value("float32"),
            "is_label_issue": datasets.Value("bool"),
            "decision": datasets.Value("string"),
        }
    )
    index = frame["index"].tolist()

    def image(i: int) -> dict[str, Any]:
        path = images.file(i)
        # The bytes themselves, so the saved folder stands alone when the originals move.
        if path is not None:
            return {"path": path.name, "bytes": path.read_bytes()}
        return {"path": f"{i:06d}.png", "bytes": images.png(i)}

    # A dropped sample keeps its row (a cleaned set is the same dataset with added columns); its
    # cleaned_label is -1, ClassLabel's "no label", and decision says why.
    cleaned = [-1 if pd.isna(c) else int(c) for c in frame["cleaned_label"].tolist()]
    ds = datasets.Dataset.from_dict(
        {
            "index": index,
            "image": [image(i) for i in index],
            "given_label": frame["observed_label"].astype(int).tolist(),
            "cleaned_label": cleaned,
            "inn_score": frame["score"].astype(float).tolist(),
            "is_label_issue": frame["flagged"].astype(bool).tolist(),
            "decision": frame["decision"].astype(str).tolist(),
        },
        features=features,
    )
    path = out / "hf"
    if path.exists():
        shutil.rmtree(path)
    ds.save_to_disk(str(path))
    return path


def labelstudio_tasks(frame: pd.DataFrame, images: _RunImages, class_names: list[str]) -> list[dict[str, Any]]:
    """Label Studio import tasks: one per flagged sample, most suspicious first.

    Each task's ``data.image`` is a PNG data URI (or the original file's path), ``data`` also holds
    the sample index, given label and INN score; its one ``prediction`` holds the suggested label as
    a ``choices`` result and the INN score as ``score`` (lower = look first).
    """
    flagged = frame[frame["flagged"].to_numpy(dtype=bool)].sort_values(["score", "index"], kind="stable")
    suggested = flagged["predicted_label"] if "predicted_label" in flagged.columns else flagged["observed_label"]
    tasks = []
    for (_, row), label in zip(flagged.iterrows(), suggested.tolist()):
        i = int(row["index"])
        path = images.file(i)
        uri = str(path) if path is not None else "data:image/png;base64," + base64.b64encode(images.png(i)).decode()
        tasks.append(
            {
                "id": i + 1,
                "data": {
                    "image": uri,
                    "index": i,
                    "given_label": class_names[int(row["observed_label"])],
                    "inn_score": float(row["score"]),
                    "decision": str(row["decision"]),
                },
                "predictions": [
                    {
                        "model_version": "inn-lab",
                        "score": float(row["score"]),
                        "result": [
                            {
                                "from_name": "label",
                                "to_name": "image",
                                "type": "choices",
                                "value": {"choices": [class_names[int(label)]]},
                            }
                        ],
                    }
                ],
            }
        )
    return tasks


def _labelstudio_config(class_names: list[str]) -> str:
    from xml.sax.saxutils import quoteattr

    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in class_names)
    return (
        f'<View>\n  <Image name="image" value="$image"/>\n  <Choices name="label" toName="image" choice="single">\n'
        f"{choices}\n  </Choices>\n</View>\n"
    )
