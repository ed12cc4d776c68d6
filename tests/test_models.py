"""Tests for inn_core.method.models: registry, shapes, seeded initialisation."""

import pytest
import torch

from inn_core.errors import InputError
from inn_core.method.models import MODELS, create_model, default_model_for


@pytest.mark.parametrize(
    ("name", "channels", "size", "feature_dim"),
    [
        ("preact_resnet18", 3, 32, 512),
        ("wide_resnet28_2", 3, 32, 128),
        ("small_cnn", 1, 8, 128),
        ("mlp", 2, None, 64),
        ("linear_head", 12, None, 12),
        ("mlp_head", 12, None, 256),
    ],
)
def test_logits_and_feature_shapes(name, channels, size, feature_dim):
    model = create_model(name, num_classes=7, in_channels=channels, image_size=size, seed=0).eval()
    x = torch.rand(3, channels, size, size) if size else torch.rand(3, channels)
    assert model(x).shape == (3, 7)
    assert model.features(x).shape == (3, feature_dim)
    assert model.feature_dim == feature_dim


def test_registry_lists_all_models():
    assert set(MODELS) == {
        "preact_resnet18",
        "wide_resnet28_2",
        "small_cnn",
        "compact_cnn",
        "mlp",
        "linear_head",
        "mlp_head",
    }


def test_seed_gives_identical_weights_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=5)
    after = torch.rand(1)
    b = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=5)
    c = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=6)
    torch.testing.assert_close(before, after)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_bad_model_requests_raise_input_error():
    with pytest.raises(InputError, match="unknown model 'resnet9'"):
        create_model("resnet9", num_classes=10, in_channels=3, image_size=32)
    with pytest.raises(InputError, match="at least 2"):
        create_model("small_cnn", num_classes=1, in_channels=1, image_size=8)
    with pytest.raises(InputError, match="2-D feature data"):
        create_model("mlp", num_classes=3, in_channels=1, image_size=8)


def test_default_model_for_sizes():
    assert default_model_for(None) == "mlp"
    assert default_model_for(8) == "small_cnn"
    assert default_model_for(32) == "preact_resnet18"
    # Own images on a CPU: never preact_resnet18 unless asked; no upscaling, a cheap CNN from 16 px.
    assert default_model_for(32, own_data=True, device="cpu") == "compact_cnn"
    assert default_model_for(28, own_data=True, device="cpu") == "compact_cnn"
    assert default_model_for(8, own_data=True, device="cpu") == "small_cnn"
    assert default_model_for(224, own_data=True, device="cuda") == "preact_resnet18"


@pytest.mark.parametrize("size", [8, 28, 64])
def test_compact_cnn_takes_own_image_sizes(size):
    model = create_model("compact_cnn", num_classes=3, in_channels=3, image_size=size, seed=0)
    assert model.features(torch.rand(2, 3, size, size)).shape == (2, 128)


@pytest.mark.parametrize("size", [4, 7])
def test_pooling_passes_a_map_of_its_output_size_through_bit_for_bit(size):
    from torch import nn

    from inn_core.method.models import _PoolTo

    x = torch.randn(5, 3, size, size, requires_grad=True)
    reference = x.detach().clone().requires_grad_(True)
    out, expected = _PoolTo(4)(x), nn.AdaptiveAvgPool2d(4)(reference)
    assert out.shape == (5, 3, 4, 4) and torch.equal(out, expected)
    weights = torch.randn(5, 3, 4, 4)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.equal(x.grad, reference.grad)
