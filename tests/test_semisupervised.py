"""Tests for inn_core.method.semisupervised: co-divide, sharpening, co-refinement/co-guessing, MixUp, the SSL epoch."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from inn_core.errors import InputError
from inn_core.method.models import create_model
from inn_core.method.semisupervised import (
    Split,
    co_divide,
    co_guess,
    co_refine,
    gmm_clean_posterior,
    linear_rampup,
    mix_batch,
    normalise_losses,
    semi_supervised_loss,
    sharpen,
    ssl_epoch,
    uniform_prior_penalty,
)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-30))).sum(dim=1)


def _distributions(seed: int, b: int, k: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(b, k, generator=g, dtype=torch.float64), dim=1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(1, 16), k=st.integers(2, 12), t=st.floats(0.05, 1.0))
def test_sharpening_keeps_distributions_and_lowers_entropy(seed, b, k, t):
    p = _distributions(seed, b, k)
    q = sharpen(p, t)
    assert_allclose(q.sum(dim=1).numpy(), 1.0, rtol=0, atol=1e-12)
    assert (q >= 0).all()
    assert (_entropy(q) <= _entropy(p) + 1e-9).all()
    # The ranking of classes is kept: sharpening never changes the predicted class.
    assert_array_equal(q.argmax(1).numpy(), p.argmax(1).numpy())


def test_sharpening_fixed_points_and_bad_temperature():
    uniform = torch.full((3, 5), 0.2, dtype=torch.float64)
    assert_allclose(sharpen(uniform, 0.5).numpy(), 0.2, rtol=0, atol=1e-12)
    p = _distributions(0, 4, 5)
    assert_allclose(sharpen(p, 1.0).numpy(), p.numpy(), rtol=0, atol=1e-12)
    # T = 0.5 squares and renormalises.
    assert_allclose(sharpen(p, 0.5).numpy(), (p**2 / (p**2).sum(1, keepdim=True)).numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(InputError, match="temperature"):
        sharpen(p, 0.0)


def test_co_refinement_blends_label_and_prediction_by_the_clean_posterior():
    one_hot = torch.eye(3, dtype=torch.float64)[[0, 1, 2]]
    prediction = torch.tensor([[0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [1 / 3, 1 / 3, 1 / 3]], dtype=torch.float64)
    trusted = co_refine(one_hot, torch.ones(3), prediction, 0.5)
    assert_allclose(trusted.numpy(), one_hot.numpy(), rtol=0, atol=1e-12)
    distrusted = co_refine(one_hot, torch.zeros(3), prediction, 0.5)
    assert_allclose(distrusted.numpy(), sharpen(prediction, 0.5).numpy(), rtol=0, atol=1e-12)
    half = co_refine(one_hot, torch.full((3,), 0.5), prediction, 0.5)
    assert_allclose(half.numpy(), sharpen(0.5 * one_hot + 0.5 * prediction, 0.5).numpy(), rtol=0, atol=1e-12)
    assert_allclose(half.sum(1).numpy(), 1.0, rtol=0, atol=1e-12)


def test_co_guessing_averages_every_prediction_then_sharpens():
    preds = [_distributions(s, 6, 4) for s in range(4)]
    guess = co_guess(preds, 0.5)
    assert_allclose(guess.numpy(), sharpen(sum(preds) / 4, 0.5).numpy(), rtol=1e-12, atol=1e-12)
    assert_allclose(guess.sum(1).numpy(), 1.0, rtol=0, atol=1e-12)
    # A second network's opinion moves the guess: co-guessing is not the first network alone.
    assert not torch.allclose(guess, co_guess(preds[:2], 0.5))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(2, 20), k=st.integers(2, 10), alpha=st.floats(0.1, 8.0))
def test_mixmatch_targets_sum_to_one_and_follow_the_inputs(seed, b, k, alpha):
    targets = _distributions(seed, b, k)
    # Mixing the targets themselves as inputs shows both are mixed with the same lambda and partner.
    mixed_x, mixed_t, lam = mix_batch(targets.clone(), targets, alpha=alpha, rng=np.random.default_rng(seed))
    assert 0.5 <= lam <= 1.0
    assert_allclose(mixed_t.sum(dim=1).numpy(), 1.0, rtol=0, atol=1e-12)
    assert_allclose(mixed_x.numpy(), mixed_t.numpy(), rtol=0, atol=1e-12)


def test_mixup_is_deterministic_per_seed_and_dominated_by_the_sample():
    x = torch.arange(32, dtype=torch.float64).view(8, 4)
    t = torch.eye(8, dtype=torch.float64)
    a = mix_batch(x, t, alpha=4.0, rng=np.random.default_rng(3))
    b = mix_batch(x, t, alpha=4.0, rng=np.random.default_rng(3))
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    # Each sample keeps at least half of its own one-hot target (lambda = max(l, 1 - l)).
    assert (torch.diagonal(a[1]) >= 0.5 - 1e-12).all()


def test_gmm_posterior_finds_the_low_loss_cluster_and_is_scale_free():
    rng = np.random.default_rng(0)
    losses = np.concatenate([rng.normal(0.2, 0.05, 300), rng.normal(2.0, 0.3, 200)]).clip(0)
    posterior = gmm_clean_posterior(losses, random_state=0)
    assert posterior.shape == (500,)
    assert ((posterior >= 0) & (posterior <= 1)).all()
    assert (posterior[:300] >= 0.5).mean() > 0.98
    assert (posterior[300:] < 0.5).mean() > 0.98
    # Losses are min-max normalised first: an affine change of scale gives the same posteriors.
    assert_allclose(gmm_clean_posterior(3 * losses + 7, random_state=0), posterior, rtol=0, atol=1e-6)
    assert_allclose(normalise_losses(losses).min(), 0.0, atol=1e-12)
    assert_allclose(normalise_losses(losses).max(), 1.0, atol=1e-12)


def test_gmm_posterior_without_evidence_is_one_half():
    assert_allclose(gmm_clean_posterior(np.full(20, 1.3)), 0.5, rtol=0, atol=0)
    assert_allclose(gmm_clean_posterior(np.array([0.4])), 0.5, rtol=0, atol=0)


def test_split_labels_at_posterior_one_half():
    split = Split.from_posterior(np.array([0.5, 0.4999, 0.9, 0.0, 1.0]))
    assert_array_equal(split.labelled, [True, False, True, False, True])
    assert_array_equal(split.labelled_indices, [0, 2, 4])
    assert_array_equal(split.unlabelled_indices, [1, 3])
    with pytest.raises(InputError, match="threshold"):
        Split.from_posterior(np.array([0.5]), threshold=1.0)


def test_co_divide_gives_each_network_the_other_networks_split():
    p1 = np.array([0.9, 0.9, 0.1, 0.1, 0.6])
    p2 = np.array([0.1, 0.8, 0.8, 0.2, 0.5])
    for_net1, for_net2 = co_divide(p1, p2)
    assert_array_equal(for_net1.labelled, p2 >= 0.5)
    assert_array_equal(for_net2.labelled, p1 >= 0.5)
    assert_allclose(for_net1.posterior, p2, rtol=0, atol=0)
    assert_allclose(for_net2.posterior, p1, rtol=0, atol=0)
    with pytest.raises(InputError, match="same shape"):
        co_divide(p1, p2[:3])


def test_uniform_prior_penalty_is_zero_for_balanced_predictions():
    balanced = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    assert_allclose(float(uniform_prior_penalty(balanced)), 0.0, atol=1e-6)
    skewed = torch.tensor([[5.0, 0.0], [5.0, 0.0]])
    assert float(uniform_prior_penalty(skewed)) > 1.0


def test_semi_supervised_loss_weighs_the_unlabelled_term():
    g = torch.Generator().manual_seed(0)
    lx, lu = torch.randn(6, 4, generator=g), torch.randn(5, 4, generator=g)
    tx, tu = torch.softmax(torch.randn(6, 4, generator=g), 1), torch.softmax(torch.randn(5, 4, generator=g), 1)
    zero, parts = semi_supervised_loss(lx, tx, lu, tu, lambda_u=0.0)
    ten, _ = semi_supervised_loss(lx, tx, lu, tu, lambda_u=10.0)
    assert_allclose(float(ten - zero), 10 * float(parts["unlabelled"]), rtol=1e-5, atol=1e-6)
    assert_allclose(float(zero), float(parts["labelled"] + parts["prior"]), rtol=1e-6, atol=1e-6)
    expected_mse = float(((torch.softmax(lu, 1) - tu) ** 2).mean())
    assert_allclose(float(parts["unlabelled"]), expected_mse, rtol=1e-6, atol=1e-7)
    # Without unlabelled samples the unlabelled term is 0, not NaN.
    empty, parts = semi_supervised_loss(lx, tx, lu[:0], tu[:0], lambda_u=25.0)
    assert torch.isfinite(empty) and float(parts["unlabelled"]) == 0.0


def test_linear_rampup():
    assert linear_rampup(0.0, 16) == 0.0
    assert linear_rampup(4.0, 16) == pytest.approx(0.25)
    assert linear_rampup(40.0, 16) == 1.0
    assert linear_rampup(0.0, 0) == 1.0


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (60,), generator=g)
    return x, y


def _net(seed):
    return create_model("small_cnn", num_classes=3, in_channels=1, image_size=8, seed=seed)


def _epoch(net, other, x, y, split, seed, **kw):
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    return ssl_epoch(
        net,
        x,
        y,
        split,
        num_classes=3,
        optimizer=opt,
        rng=np.random.default_rng(seed),
        other=other,
        batch_size=16,
        augment="shift",
        lambda_u=25.0,
        rampup_epochs=1,
        rampup_start=0.5,
        **kw,
    )


def test_ssl_epoch_trains_only_its_network_deterministically(tiny):
    x, y = tiny
    split = Split.from_posterior(np.linspace(0, 1, 60))
    peer = _net(2)
    peer_before = {k: v.clone() for k, v in peer.state_dict().items()}
    a, b = _net(1), _net(1)
    out_a = _epoch(a, peer, x, y, split, 0)
    out_b = _epoch(b, peer, x, y, split, 0)
    assert out_a["steps"] == 30 // 16 + 1
    assert np.isfinite(out_a["loss"]) and out_a["loss"] == out_b["loss"]
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=0, atol=0)
    for key, value in peer.state_dict().items():
        torch.testing.assert_close(value, peer_before[key], rtol=0, atol=0)
    # The peer's guesses enter the loss: a different peer gives a different epoch.
    c = _net(1)
    out_c = _epoch(c, _net(3), x, y, split, 0)
    assert out_c["loss"] != out_a["loss"]


def test_ssl_epoch_edge_splits(tiny):
    x, y = tiny
    # Everything labelled: no unlabelled term, still trains; MixMatch mode needs no peer.
    out = _epoch(_net(1), None, x, y, Split.from_posterior(np.ones(60)), 0, refine_labels=False)
    assert out["steps"] == 60 // 16 + 1 and out["unlabelled"] == 0.0
    # Fewer than two labelled samples: nothing to learn from, nothing trained.
    net = _net(1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    posterior = np.zeros(60)
    posterior[0] = 1.0
    out = _epoch(net, None, x, y, Split.from_posterior(posterior), 0)
    assert out["steps"] == 0 and np.isnan(out["loss"])
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
