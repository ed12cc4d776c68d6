"""Model registry: the paper's networks for 32x32 images and small models for digits and 2-D toys.

Every model maps inputs to logits and exposes ``features(x)``, the penultimate-layer output that
INN uses as the feature space ``h`` for neighbour search.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from inn_core.errors import InputError

__all__ = [
    "MODELS",
    "HEADS",
    "FeatureModel",
    "EmbeddingHead",
    "create_model",
    "check_model",
    "check_model_name",
    "default_model_for",
    "count_parameters",
]


class FeatureModel(nn.Module):
    """A classifier split into a feature extractor and a linear head.

    Subclasses set ``self.body`` (inputs -> features, shape ``(b, feature_dim)``) and ``self.head``.
    """

    body: nn.Module
    head: nn.Linear

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, ``(b, feature_dim)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, ``(b, num_classes)``."""
        return self.head(self.body(x))


class _PreActBlock(nn.Module):
    """Pre-activation residual block (BN-ReLU-conv twice); also the wide block of WRN without dropout."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False) if stride != 1 or in_planes != planes else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(FeatureModel):
    """PreAct ResNet-18 (He et al. 2016) as used by DivideMix and the INN paper; 512-d features."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)]
        in_planes = 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            for s in (stride, 1):
                layers.append(_PreActBlock(in_planes, planes, s))
                in_planes = planes
        layers += [nn.BatchNorm2d(512), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(512, num_classes)


class WideResNet28x2(FeatureModel):
    """Wide ResNet 28-2 (Zagoruyko & Komodakis 2016); 128-d features."""

    def __init__(self, num_classes: int, in_channels: int = 3, depth: int = 28, widen: int = 2) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)]
        in_planes = widths[0]
        for planes, stride in zip(widths[1:], (1, 2, 2)):
            for i in range(n):
                layers.append(_PreActBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        layers += [nn.BatchNorm2d(in_planes), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_planes, num_classes)


class _PoolTo(nn.AdaptiveAvgPool2d):
    """Adaptive average pooling that passes a map already of the output size through unchanged.

    ``nn.AdaptiveAvgPool2d`` copies such a map forward and backward, which was 15 % of a digits
    training step (8x8 inputs reach it at 4x4) and a quarter of an INN forward pass. An average
    over one element is that element, so the result is bit for bit the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.output_size if isinstance(self.output_size, tuple) else (self.output_size,) * 2
        return x if tuple(x.shape[-2:]) == size else super().forward(x)


class SmallCNN(FeatureModel):
    """A small CNN for 8x8 digits and other small images; 128-d features.

    Flattening a 4x4 map (rather than global pooling) keeps enough capacity to memorise noisy
    labels, which is the regime the INN paper is about; pooling before the second convolution
    keeps a forward pass cheap, since INN scoring makes 1 + L*H of them per sample.
    """

    def __init__(self, num_classes: int, in_channels: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            _PoolTo(4),
            nn.Flatten(),
            nn.Linear(64 * 16, 128),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(128, num_classes)


class CompactCNN(FeatureModel):
    """A CPU-cheap CNN for the user's own images trained from scratch; 128-d features.

    A stride-2 first convolution and a pooling step before the second one make a 28x28 forward
    pass about 12x cheaper than :class:`SmallCNN`'s (which convolves at full resolution): INN
    makes ``1 + L*H`` passes per sample, so this is what keeps own-data runs in minutes on a laptop.
    Images larger than 28 px are average-pooled to 28 px first - for photos, a pretrained
    backbone (``tv:resnet18``) is the better route.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        stem: list[nn.Module] = [nn.AdaptiveAvgPool2d(28)] if image_size > 28 else []
        self.body = nn.Sequential(
            *stem,
            nn.Conv2d(in_channels, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            _PoolTo(4),
            nn.Flatten(),
            nn.Linear(32 * 16, 128),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(128, num_classes)


def _compact(*, num_classes: int, in_channels: int, image_size: int | None) -> FeatureModel:
    if image_size is None or image_size < 8:
        raise InputError(f"CompactCNN needs images of at least 8x8, got size {image_size}")
    return CompactCNN(num_classes, in_channels, image_size)


class MLP(FeatureModel):
    """A two-hidden-layer MLP for 2-D toy data; 64-d features."""

    def __init__(self, num_classes: int, in_features: int = 2, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(hidden, num_classes)


class EmbeddingHead(FeatureModel):
    """A classifier head on given embeddings: per-dimension standardisation, then a linear map
    (``hidden=0``) or one hidden ReLU layer of ``hidden`` units.

    The standardisation is a fixed buffer (set by :meth:`standardize_with`), part of the model, so
    the head takes raw embeddings everywhere - in training, along INN's paths and in a viewer.
    Everything before the first nonlinearity is affine (:meth:`project`), and an affine map
    commutes with interpolation: INN may interpolate the projected points through :meth:`tail`
    instead of the embeddings, with the same result (see :mod:`inn_core.method.embedding_inn`).
    """

    def __init__(self, num_classes: int, in_features: int, hidden: int = 0) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(in_features))
        self.register_buffer("scale", torch.ones(in_features))
        self.first = nn.Linear(in_features, hidden or num_classes)
        self.head = nn.Linear(hidden, num_classes) if hidden else None

    @property
    def feature_dim(self) -> int:
        return self.first.out_features if self.head is not None else self.first.in_features

    def standardize_with(self, mean: torch.Tensor, std: torch.Tensor) -> EmbeddingHead:
        """Use ``(x - mean) / std`` (each ``(d,)``; zero spreads count as 1) as the first step."""
        with torch.no_grad():
            self.shift.copy_(mean)
            self.scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        return self

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The affine part: standardise, then the first linear layer; ``(b, hidden or K)``."""
        return self.first((x - self.shift) / self.scale)

    def tail(self) -> nn.Module:
        """The rest after :meth:`project` (sharing this head's weights): identity for a linear head."""
        return nn.Identity() if self.head is None else nn.Sequential(nn.ReLU(), self.head)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The standardised embeddings (linear head) or the hidden layer's output (MLP head)."""
        if self.head is None:
            return (x - self.shift) / self.scale
        return torch.relu(self.project(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, ``(b, num_classes)``."""
        z = self.project(x)
        return z if self.head is None else self.head(torch.relu(z))


def _image_model(cls: type[FeatureModel], min_size: int) -> Callable[..., FeatureModel]:
    def check(*, image_size: int | None) -> None:
        if image_size is None or image_size < min_size:
            raise InputError(f"{cls.__name__} needs images of at least {min_size}x{min_size}, got size {image_size}")

    def build(*, num_classes: int, in_channels: int, image_size: int | None) -> FeatureModel:
        check(image_size=image_size)
        return cls(num_classes, in_channels)

    build.check = check
    return build


def _check_mlp(*, image_size: int | None) -> None:
    if image_size is not None:
        raise InputError("the 'mlp' model is for 2-D feature data (toy2d); use 'small_cnn' for images")


def _mlp(*, num_classes: int, in_channels: int, image_size: int | None) -> FeatureModel:
    _check_mlp(image_size=image_size)
    return MLP(num_classes, in_features=in_channels)


_mlp.check = _check_mlp


def _check_head(*, image_size: int | None) -> None:
    if image_size is not None:
        raise InputError("embedding heads take (n, d) embeddings, not images; use 'small_cnn' for images")


def _head(hidden: int) -> Callable[..., FeatureModel]:
    def build(*, num_classes: int, in_channels: int, image_size: int | None) -> FeatureModel:
        _check_head(image_size=image_size)
        return EmbeddingHead(num_classes, in_channels, hidden)

    build.check = _check_head
    return build


#: Heads for INN in embedding space: name -> hidden units (0 = linear).
HEADS = {"linear_head": 0, "mlp_head": 256}

MODELS: dict[str, Callable[..., FeatureModel]] = {
    "preact_resnet18": _image_model(PreActResNet18, 8),
    "wide_resnet28_2": _image_model(WideResNet28x2, 8),
    "small_cnn": _image_model(SmallCNN, 4),
    "compact_cnn": _compact,
    "mlp": _mlp,
    **{name: _head(hidden) for name, hidden in HEADS.items()},
}


def create_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    image_size: int | None,
    seed: int | None = None,
    weights: str | None = None,
) -> FeatureModel:
    """Build a registered model.

    Parameters
    ----------
    name : one of :data:`MODELS`, or ``"tv:NAME"`` for any torchvision classification model
        (:mod:`inn_core.method.backbones`; features = its penultimate layer, a new K-class head).
    num_classes : K >= 2, the width of the logits.
    in_channels : image channels C, or the input dimension for ``mlp``.
    image_size : image height/width, or ``None`` for feature-vector data.
    seed : initialise the weights from this seed without touching the global RNG's state.
    weights : torchvision backbones only: a state_dict file, ``"torchvision"`` (download), or None.
    """
    check_model(name, num_classes=num_classes, image_size=image_size)
    if weights is not None and not name.startswith("tv:"):
        raise InputError(f"weights are for torchvision backbones (tv:NAME); {name!r} trains from scratch")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if name.startswith("tv:"):
            from inn_core.method.backbones import create_backbone

            return create_backbone(
                name, num_classes=num_classes, in_channels=in_channels, image_size=image_size, weights=weights
            )
        return MODELS[name](num_classes=num_classes, in_channels=in_channels, image_size=image_size)


def check_model(name: str, *, num_classes: int, image_size: int | None) -> None:
    """Raise the :class:`InputError` :func:`create_model` would raise, without building the network."""
    check_model_name(name)
    if num_classes < 2:
        raise InputError(f"num_classes must be at least 2, got {num_classes}")
    if name.startswith("tv:") and (image_size is None or image_size < 32):
        raise InputError(
            f"torchvision backbone {name[3:]} needs images of at least 32x32 (ideally 224), got "
            f"{'feature vectors' if image_size is None else f'size {image_size}'}; set image_size"
        )
    # A builder registered without a check is validated when it is built (torchvision backbones too).
    check = getattr(MODELS.get(name), "check", None)
    if check is not None:
        check(image_size=image_size)


def check_model_name(name: str) -> str:
    """``name`` if it is a :data:`MODELS` entry or ``"tv:NAME"`` of a torchvision model, else one InputError."""
    if isinstance(name, str) and name.startswith("tv:"):
        from inn_core.method.backbones import check_backbone_name

        check_backbone_name(name[3:])
        return name
    if name not in MODELS:
        raise InputError(
            f"unknown model {name!r}; choose one of {', '.join(MODELS)}, or tv:NAME for a torchvision model"
        )
    return name


def default_model_for(
    image_size: int | None, *, own_data: bool = False, device: str | torch.device | None = None
) -> str:
    """The registry name that suits inputs of this size: mlp for vectors, small_cnn below 32 px.

    From 32 px up ``preact_resnet18`` (the paper's) - except for the user's own images on a CPU
    (``own_data`` and a CPU ``device``), where it would take hours: ``compact_cnn`` there from
    16 px up (at 28 px a twelfth of ``small_cnn``'s cost); ask for ``preact_resnet18`` or a
    pretrained ``tv:`` backbone by name.
    """
    if image_size is None:
        return "mlp"
    if own_data and device is not None and torch.device(device).type == "cpu" and image_size >= 16:
        return "compact_cnn"
    if image_size < 32:
        return "small_cnn"
    return "preact_resnet18"


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
