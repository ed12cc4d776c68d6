"""Tests for inn_core.method.training: losses, MixUp, schedule, determinism, resume, digits accuracy."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from inn_core.errors import InputError
from inn_core.method.models import create_model
from inn_core.method.training import (
    TrainConfig,
    Trainer,
    augment_batch,
    extract_features,
    mixup_batch,
    negative_entropy,
    predict_proba,
    train,
)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target, dtype=torch.int64)
    return x, y


def _cnn(seed=0):
    return create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=seed)


def test_lr_schedule_divides_by_five_at_half_and_three_quarters():
    cfg = TrainConfig(epochs=100, lr=0.02)
    assert cfg.lr_at(0) == pytest.approx(0.02)
    assert cfg.lr_at(49) == pytest.approx(0.02)
    assert cfg.lr_at(50) == pytest.approx(0.004)
    assert cfg.lr_at(75) == pytest.approx(0.0008)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "mse"}, "unknown objective"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"lr": 0.0}, "learning rate must be positive"),
        ({"lr_milestones": (1.5,)}, "milestones"),
        ({"augment": "rotate"}, "unknown augmentation"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        TrainConfig(**kwargs)


@settings(max_examples=25, deadline=None)
@given(b=st.integers(2, 16), k=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_mixup_targets_are_distributions_and_inputs_convex(b, k, seed):
    rng = np.random.default_rng(seed)
    x = torch.rand(b, 3)
    y = torch.from_numpy(rng.integers(0, k, size=b))
    mixed, targets = mixup_batch(x, y, k, alpha=1.0, rng=np.random.default_rng(seed))
    torch.testing.assert_close(targets.sum(1), torch.ones(b))
    assert (targets >= 0).all()
    assert mixed.min() >= x.min() - 1e-6 and mixed.max() <= x.max() + 1e-6


def test_negative_entropy_is_minus_entropy():
    logits = torch.tensor([[0.0, 0.0], [10.0, -10.0]])
    # uniform over 2 classes: sum p log p = -log 2; a near one-hot: ~0
    expected = (-np.log(2) + 0.0) / 2
    assert negative_entropy(logits).item() == pytest.approx(expected, abs=1e-4)


def test_shift_augmentation_moves_at_most_one_pixel_and_never_flips():
    x = torch.zeros(64, 1, 8, 8)
    x[:, 0, 3, 0] = 1.0  # a mark on the left edge stays on the left half under any 1-px shift
    out = augment_batch(x, "shift", rng=np.random.default_rng(0))
    assert out.shape == x.shape
    cols = out[:, 0].sum(1).argmax(1)
    assert int(cols.max()) <= 1
    rows = out[:, 0].sum(2)
    visible = rows.sum(1) > 0
    assert ((rows.argmax(1) - 3).abs()[visible] <= 1).all()


def test_same_seed_same_weights_on_cpu(digits):
    x, y = digits
    cfg = TrainConfig(objective="mixup", epochs=2, batch_size=64)
    a = train(_cnn(), x[:300], y[:300], cfg, num_classes=10, device="cpu", random_state=3)
    b = train(_cnn(), x[:300], y[:300], cfg, num_classes=10, device="cpu", random_state=3)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


def test_resume_from_state_dict_matches_uninterrupted_training(digits):
    x, y = digits
    cfg = TrainConfig(objective="ce_ne", epochs=4, batch_size=64)
    full = Trainer(_cnn(), x[:256], y[:256], cfg, num_classes=10, device="cpu", random_state=1)
    for _ in range(4):
        full.train_epoch()
    half = Trainer(_cnn(), x[:256], y[:256], cfg, num_classes=10, device="cpu", random_state=1)
    half.train_epoch()
    half.train_epoch()
    state = half.state_dict()
    resumed = Trainer(_cnn(seed=99), x[:256], y[:256], cfg, num_classes=10, device="cpu", random_state=42)
    resumed.load_state_dict(state)
    resumed.train_epoch()
    resumed.train_epoch()
    for pa, pb in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(pa, pb)


def test_callbacks_see_every_epoch(digits):
    x, y = digits
    seen = []
    train(
        _cnn(),
        x[:128],
        y[:128],
        TrainConfig(epochs=3, batch_size=64),
        num_classes=10,
        device="cpu",
        callbacks=[lambda epoch, model, loss: seen.append((epoch, loss))],
    )
    assert [e for e, _ in seen] == [1, 2, 3]
    assert all(np.isfinite(loss) for _, loss in seen)


def test_trainer_rejects_mismatched_labels(digits):
    x, y = digits
    with pytest.raises(InputError, match="same length"):
        Trainer(_cnn(), x[:10], y[:9], TrainConfig(), num_classes=10, device="cpu")
    with pytest.raises(InputError, match=r"labels must lie in \[0, 10\)"):
        Trainer(_cnn(), x[:3], torch.tensor([0, 1, 12]), TrainConfig(), num_classes=10, device="cpu")


def test_small_cnn_learns_clean_digits(digits):
    x, y = digits
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:1400], perm[1400:]
    model = train(
        _cnn(),
        x[tr],
        y[tr],
        TrainConfig(objective="ce", epochs=15, batch_size=64, lr=0.05),
        num_classes=10,
        device="cpu",
        random_state=0,
    )
    proba = predict_proba(model, x[te], device="cpu")
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert (proba.argmax(1) == y[te].numpy()).mean() >= 0.93
    assert extract_features(model, x[te], device="cpu").shape == (len(te), 128)
