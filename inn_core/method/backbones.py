"""Pretrained torchvision classifiers as INN's networks: ``create_model("tv:resnet50", weights=PATH)``.

Any classification model that ``torchvision.models.list_models(module=torchvision.models)``
offers can serve as ``h`` (its penultimate layer is the feature space) and as the initialisation
of ``f``: its last ``Linear`` layer becomes the feature output and a new ``Linear`` head maps it
to the ``K`` classes. Weights come from

- a local file (``weights=PATH``): a ``state_dict`` saved with ``torch.save(model.state_dict())``
  (or a checkpoint dict holding one under ``state_dict`` / ``model``), any number of classes in
  its classifier;
- torchvision's own download (``weights="torchvision"``) on a machine that is online;
- nothing (``weights=None``): a random initialisation.

Inputs stay images in ``[0, 1]``; the backbone normalises them with its weights' mean and std
(ImageNet's when unknown) and repeats a single gray channel to three.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inn_core.errors import InputError

__all__ = [
    "PREFIX",
    "TORCHVISION_DOWNLOAD",
    "TorchvisionBackbone",
    "torchvision_models",
    "create_backbone",
    "suggested_image_size",
    "check_backbone_name",
]

#: Registry names of torchvision backbones start with this: ``"tv:resnet18"``.
PREFIX = "tv:"
#: ``weights=`` value asking for torchvision's own download of its default weights.
TORCHVISION_DOWNLOAD = "torchvision"
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Models whose constructor returns extra auxiliary outputs in training mode unless told not to.
_NO_AUX = {"inception_v3", "googlenet"}


def torchvision_models() -> list[str]:
    """Names of torchvision's classification models (``torchvision.models.list_models``)."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def check_backbone_name(name: str) -> str:
    """``name`` if torchvision has that classification model, else one :class:`InputError` with close names."""
    names = torchvision_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        hint = (
            f"close names: {', '.join(close)}"
            if close
            else f"e.g. {', '.join(n for n in names if n.startswith('resnet'))}"
        )
        raise InputError(
            f"unknown torchvision model {name!r}; {hint} (all {len(names)}: torchvision.models.list_models())"
        )
    return name


def _default_weights(name: str) -> Any | None:
    import torchvision

    try:
        return torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return None


def suggested_image_size(name: str) -> int:
    """The input size the backbone's pretrained weights were trained at (their transforms' crop), else 224."""
    weights = _default_weights(check_backbone_name(name.removeprefix(PREFIX)))
    try:
        crop = weights.transforms().crop_size
        return int(crop[0] if isinstance(crop, (list, tuple)) else crop)
    except (AttributeError, TypeError, IndexError):
        return 224


def _normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    weights = _default_weights(name)
    try:
        t = weights.transforms()
        return tuple(float(v) for v in t.mean), tuple(float(v) for v in t.std)
    except (AttributeError, TypeError):
        return _IMAGENET_MEAN, _IMAGENET_STD


def _last_linear(net: nn.Module, name: str) -> tuple[str, nn.Linear]:
    linears = [(path, m) for path, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise InputError(
            f"torchvision model {name!r} has no Linear classifier layer to take features from; "
            f"choose another (e.g. resnet18)"
        )
    return linears[-1]


def _replace(net: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = net.get_submodule(parent_path) if parent_path else net
    setattr(parent, attr, module)


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise InputError(f"weights file {path} does not exist; pass the path of a torch.save(model.state_dict()) file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        raise InputError(
            f"weights file {path} is not a readable torch state_dict ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(
            f"weights file {path} must hold a state_dict (names -> tensors), as torch.save(model.state_dict()) writes"
        )
    return state


def _load(net: nn.Module, state: dict[str, torch.Tensor], name: str, path: Path) -> None:
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shapes:
            k = shapes[0]
            parts.append(
                f"{len(shapes)} of another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                f"{tuple(own[k].shape)} in {name})"
            )
        raise InputError(
            f"weights file {path} does not match torchvision's {name}: {'; '.join(parts)} tensors; "
            f"save the weights of the same architecture"
        )
    net.load_state_dict(state)


class _Backbone(nn.Module):
    """Normalise [0, 1] images as the weights expect, then the torchvision network up to its features."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        out = self.net((x - self.mean) / self.std)
        return out.flatten(1)


def _feature_model_base():
    from inn_core.method.models import FeatureModel

    return FeatureModel


class TorchvisionBackbone(_feature_model_base()):
    """A torchvision classifier split into features (``body``) and a new ``K``-class ``head``."""

    def __init__(self, name: str, num_classes: int, *, weights: str | Path | None = None) -> None:
        super().__init__()
        import torchvision

        name = check_backbone_name(name)
        kwargs: dict[str, Any] = {"aux_logits": False, "init_weights": False} if name in _NO_AUX else {}
        if weights == TORCHVISION_DOWNLOAD:
            try:
                net = torchvision.models.get_model(name, weights="DEFAULT", **kwargs)
            except Exception as exc:  # URLError, HTTPError, hash mismatch, no weights for this model
                raise InputError(
                    f"could not get torchvision's pretrained weights for {name} ({type(exc).__name__}: "
                    f"{exc}); on an offline machine pass --weights PATH to a saved state_dict"
                ) from exc
        else:
            net = torchvision.models.get_model(name, weights=None, **kwargs)
            if weights is not None:
                path = Path(weights).expanduser()
                state = _read_state(path)
                fc_path, fc = _last_linear(net, name)
                file_fc = state.get(f"{fc_path}.weight")
                # A file fine-tuned for another number of classes: give the classifier its shape first.
                if (
                    file_fc is not None
                    and file_fc.ndim == 2
                    and file_fc.shape[1] == fc.in_features
                    and file_fc.shape[0] != fc.out_features
                ):
                    _replace(net, fc_path, nn.Linear(fc.in_features, file_fc.shape[0], bias=fc.bias is not None))
                _load(net, state, name, path)
        fc_path, fc = _last_linear(net, name)
        _replace(net, fc_path, nn.Identity())
        self.backbone_name = name
        self.body = _Backbone(net, *_normalisation(name))
        self.head = nn.Linear(fc.in_features, num_classes)


def create_backbone(
    name: str, *, num_classes: int, in_channels: int, image_size: int | None, weights: str | Path | None = None
) -> TorchvisionBackbone:
    """The ``"tv:NAME"`` entry of the model registry (see :func:`inn_core.method.models.create_model`)."""
    if image_size is None or in_channels not in (1, 3):
        raise InputError(
            f"torchvision backbones take 1- or 3-channel images, got "
            f"{'feature vectors' if image_size is None else f'{in_channels} channels'}"
        )
    if image_size < 32:
        raise InputError(
            f"torchvision backbone {name} needs images of at least 32x32 (ideally "
            f"{suggested_image_size(name)}), got {image_size}; set image_size"
        )
    return TorchvisionBackbone(name.removeprefix(PREFIX), num_classes, weights=weights)
