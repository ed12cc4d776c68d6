"""Tests for inn_core.method.scoring: INN against Algorithm 1 read literally, Lemma 1, baselines."""

import numpy as np
import pytest
import torch
from torch import nn

from inn_core.errors import InputError
from inn_core.method.scoring import (
    deep_knn_scores,
    inn_scores,
    interpolation_points,
    label_probabilities,
    small_loss_scores,
)


def _random_model(d=5, k=4, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, k))


def _algorithm_1(model, x, y, nbr, H):
    """The paper's Algorithm 1 with equation (1), one sample, one neighbour, one point at a time."""
    scores = []
    with torch.no_grad():
        for i in range(len(x)):
            total = 0.0
            for j in nbr[i]:
                fy = []
                for h in range(H + 1):
                    point = (H - h) / H * x[i] + h / H * x[j]
                    fy.append(torch.softmax(model(point[None]), dim=1)[0, y[i]].item())
                total += sum((fy[h - 1] + fy[h]) / (2 * H) for h in range(1, H + 1))
            scores.append(total / len(nbr[i]))
    return np.array(scores)


@pytest.mark.parametrize(("L", "H", "batch_size"), [(1, 1, 7), (3, 4, 2048), (5, 10, 33)])
def test_vectorised_scores_match_algorithm_1(L, H, batch_size):
    rng = np.random.default_rng(L * 100 + H)
    n = 23
    x = torch.from_numpy(rng.normal(size=(n, 5)).astype(np.float32))
    y = rng.integers(0, 4, size=n)
    nbr = np.stack([rng.choice(np.delete(np.arange(n), i), size=L, replace=False) for i in range(n)])
    model = _random_model()
    expected = _algorithm_1(model, x, y, nbr, H)
    got = inn_scores(model, x, y, nbr, H=H, batch_size=batch_size, device="cpu")
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_paths_start_at_x_and_end_at_neighbour():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(6, 5)).astype(np.float32))
    y = rng.integers(0, 4, size=6)
    nbr = np.array([[(i + 1) % 6, (i + 2) % 6] for i in range(6)])
    model = _random_model()
    scores, paths = inn_scores(model, x, y, nbr, H=4, return_paths=True, device="cpu")
    assert paths.shape == (6, 2, 5)
    fy = label_probabilities(model, x, y, device="cpu")
    np.testing.assert_allclose(paths[:, :, 0], np.repeat(fy[:, None], 2, axis=1), atol=1e-6)
    # the last point of each path is the neighbour's input, scored with the sample's label
    with torch.no_grad():
        probs = torch.softmax(model(x), 1).numpy()
    np.testing.assert_allclose(paths[:, :, -1], probs[nbr, y[:, None]], atol=1e-6)
    trapezoid = ((paths[:, :, :-1] + paths[:, :, 1:]) / 2).mean(2).mean(1)
    np.testing.assert_allclose(scores, trapezoid, atol=1e-6)


def test_subset_scores_equal_full_scores():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.normal(size=(15, 5)).astype(np.float32))
    y = rng.integers(0, 4, size=15)
    nbr = np.stack([np.delete(np.arange(15), i)[:3] for i in range(15)])
    model = _random_model()
    full = inn_scores(model, x, y, nbr, H=3, device="cpu")
    part, paths = inn_scores(model, x, y, nbr, H=3, device="cpu", sample_indices=np.array([4, 11]), return_paths=True)
    np.testing.assert_allclose(part, full[[4, 11]], atol=1e-6)
    assert paths.shape == (2, 3, 4)


def test_interpolation_points_endpoints():
    x = torch.zeros(2, 3)
    nb = torch.ones(2, 4, 3)
    pts = interpolation_points(x, nb, H=5)
    assert pts.shape == (2, 4, 6, 3)
    torch.testing.assert_close(pts[:, :, 0], torch.zeros(2, 4, 3))
    torch.testing.assert_close(pts[:, :, -1], torch.ones(2, 4, 3))
    torch.testing.assert_close(pts[0, 0, :, 0], torch.linspace(0, 1, 6))


def test_midpoint_rule_is_the_prediction_halfway_to_each_neighbour():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(size=(9, 5)).astype(np.float32))
    y = rng.integers(0, 4, size=9)
    nbr = np.array([[(i + 1) % 9, (i + 3) % 9] for i in range(9)])
    model = _random_model()
    got = inn_scores(model, x, y, nbr, rule="midpoint", device="cpu")
    with torch.no_grad():
        mid = (x[:, None] + x[nbr]) / 2
        probs = torch.softmax(model(mid.reshape(-1, 5)), 1).reshape(9, 2, 4).numpy()
    expected = probs[np.arange(9)[:, None], np.arange(2)[None], y[:, None]].mean(1)
    np.testing.assert_allclose(got, expected, atol=1e-6)


class _LinearBetweenTrainingPoints(nn.Module):
    """A model that has perfectly fitted MixUp: on the segment between training points e_i and e_j
    it predicts exactly alpha * onehot(y_i) + (1 - alpha) * onehot(y_j) (Lemma 1's assumption)."""

    def __init__(self, observed, k):
        super().__init__()
        self.register_buffer("targets", nn.functional.one_hot(torch.as_tensor(observed), k).float())

    def forward(self, x):
        return torch.log(x @ self.targets + 1e-12)


def test_lemma_1_every_clean_score_exceeds_every_noisy_score():
    rng = np.random.default_rng(4)
    k, per_class, L = 3, 12, 5
    true = np.repeat(np.arange(k), per_class)
    n = len(true)
    observed = true.copy()
    noisy = np.zeros(n, bool)
    for c in range(k):  # two noisy samples per class, so every neighbourhood keeps a clean majority
        members = np.flatnonzero(true == c)
        flip = rng.choice(members, size=2, replace=False)
        observed[flip] = (c + 1 + rng.integers(0, k - 1, size=2)) % k
        noisy[flip] = True
    # neighbours: L samples of the same true class, so they vote for the true class
    nbr = np.stack(
        [rng.choice(np.flatnonzero((true == true[i]) & (np.arange(n) != i)), size=L, replace=False) for i in range(n)]
    )
    model = _LinearBetweenTrainingPoints(observed, k)
    x = torch.eye(n)
    scores = inn_scores(model, x, observed, nbr, H=10, device="cpu")
    # f_y is linear along each path, so the trapezoid rule is exact: 1/2 + 1/(2L) * #{neighbours with label y}
    agree = (observed[nbr] == observed[:, None]).sum(1)
    np.testing.assert_allclose(scores, 0.5 + agree / (2 * L), atol=1e-5)
    assert scores[~noisy].min() > scores[noisy].max()


def test_small_loss_is_log_probability_of_observed_label():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(10, 5)).astype(np.float32))
    y = rng.integers(0, 4, size=10)
    model = _random_model()
    with torch.no_grad():
        expected = -nn.functional.cross_entropy(model(x), torch.as_tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(small_loss_scores(model, x, y, device="cpu"), expected, atol=1e-5)


def test_deep_knn_fraction_of_agreeing_neighbours():
    labels = np.array([0, 0, 1, 1])
    nbr = np.array([[1, 2], [0, 3], [3, 0], [2, 1]])
    np.testing.assert_allclose(deep_knn_scores(labels, nbr), [0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(deep_knn_scores(labels, np.array([[1], [0], [3], [0]])), [1, 1, 1, 0])


def test_scoring_input_errors():
    x = torch.zeros(4, 2)
    y = np.zeros(4, int)
    model = _random_model(d=2)
    nbr = np.array([[1], [0], [3], [2]])
    with pytest.raises(InputError, match="H .* at least 1"):
        inn_scores(model, x, y, nbr, H=0)
    with pytest.raises(InputError, match="unknown integration rule"):
        inn_scores(model, x, y, nbr, rule="simpson")
    with pytest.raises(InputError, match="between 1 and n - 1 = 3"):
        inn_scores(model, x, y, np.zeros((4, 4), int))
    with pytest.raises(InputError, match="same length"):
        inn_scores(model, x, y[:3], nbr)
    with pytest.raises(InputError, match=r"must lie in \[0, 4\)"):
        inn_scores(model, x, y, nbr + 5)


def test_cleanlab_scores_rank_disagreeing_labels_lowest():
    pred_probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.95, 0.05]])
    labels = np.array([0, 0, 1, 1])  # the last label disagrees with a confident prediction
    from inn_core.method.scoring import cleanlab_scores

    scores = cleanlab_scores(labels, pred_probs)
    assert scores.shape == (4,)
    assert scores.argmin() == 3
    assert ((scores >= 0) & (scores <= 1)).all()


def test_image_models_score_like_algorithm_1_and_keep_their_weights():
    # Image inputs take the channels-last path, on a copy: the caller's model must come back as it was.
    rng = np.random.default_rng(6)
    n = 12
    x = torch.from_numpy(rng.normal(size=(n, 2, 5, 5)).astype(np.float32))
    y = rng.integers(0, 3, size=n)
    nbr = np.stack([np.delete(np.arange(n), i)[:3] for i in range(n)])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(36, 3))
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    expected = _algorithm_1(model.eval(), x, y, nbr, 4)
    model.train()
    got = inn_scores(model, x, y, nbr, H=4, batch_size=40, device="cpu")
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert model.training
    for name, p in model.named_parameters():
        assert p.is_contiguous()
        torch.testing.assert_close(p, weights[name], rtol=0, atol=0)


def test_midpoint_scores_are_the_same_with_and_without_paths():
    # Without paths only the midpoints are evaluated; with them x and the neighbour are too.
    rng = np.random.default_rng(7)
    x = torch.from_numpy(rng.normal(size=(10, 5)).astype(np.float32))
    y = rng.integers(0, 4, size=10)
    nbr = np.array([[(i + 2) % 10, (i + 5) % 10] for i in range(10)])
    model = _random_model()
    alone = inn_scores(model, x, y, nbr, rule="midpoint", batch_size=7, device="cpu")
    scores, paths = inn_scores(model, x, y, nbr, rule="midpoint", return_paths=True, device="cpu")
    assert paths.shape == (10, 2, 3)
    np.testing.assert_allclose(alone, scores, atol=1e-6)
    np.testing.assert_allclose(paths[:, :, 1].mean(1), scores, atol=1e-6)
    np.testing.assert_allclose(paths[:, 0, 0], label_probabilities(model, x, y, device="cpu"), atol=1e-6)
