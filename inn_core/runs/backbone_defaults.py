"""What choosing a pretrained backbone implies for a run's data: its input size and crop.

Pretrained weights expect the images they were trained on: ImageNet classifiers see 224 px
(Inception 299 px) centre crops of images resized on their shorter side. A user picking a backbone
for their own images gets those defaults unless they set ``image_size`` / ``resize`` themselves.
"""

from __future__ import annotations

from typing import Any

from inn_core.errors import InputError
from inn_core.method.backbones import PREFIX, check_backbone_name, suggested_image_size

__all__ = ["OWN_IMAGE_DATASETS", "backbone_choice"]

#: Datasets of the user's own image files, whose loaders take ``image_size`` and ``resize``.
OWN_IMAGE_DATASETS = ("imagefolder", "csv", "hf")


def backbone_choice(
    backbone: str, dataset: str, data_options: dict[str, Any], *, model: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``("tv:NAME", data options)`` for a run on ``dataset`` with torchvision's ``backbone``.

    Own image datasets get ``image_size`` = the weights' input size and ``resize="crop"`` unless
    already set; built-in sets keep theirs.
    """
    name = check_backbone_name(backbone.removeprefix(PREFIX))
    if model is not None and model != PREFIX + name:
        raise InputError(f"give either --model or --backbone, not both (got --model {model} --backbone {backbone})")
    options = dict(data_options)
    if dataset in OWN_IMAGE_DATASETS:
        options.setdefault("image_size", suggested_image_size(name))
        options.setdefault("resize", "crop")
    return PREFIX + name, options
