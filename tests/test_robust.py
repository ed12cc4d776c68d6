"""Tests for inn_core.runs.robust: configuration, co-divide wiring, INN splits, records, resume, the trained model."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

import inn_core.runs.robust as dividemix
from inn_core.data.noise import NoiseSpec
from inn_core.errors import InputError
from inn_core.method.mixture import split_clean, split_clean_per_class
from inn_core.method.models import create_model
from inn_core.method.semisupervised import Split
from inn_core.method.training import predict_proba
from inn_core.runs.experiment import Cancelled, ExperimentConfig, prepare_data
from inn_core.runs.robust import (
    TRAINING_METHODS as METHODS,
)
from inn_core.runs.robust import (
    RobustConfig,
    TwinNetwork,
    default_augmentation,
    default_lambda_u,
    inn_clean_posterior,
    load_robust_model,
    resume_robust,
    robust_summary,
    train_robust,
)
from inn_core.runs.store import RunStore

TINY = {"data_options": {"max_samples": 120, "test_fraction": 0.05}, "L": 3, "H": 2, "device": "cpu"}


def _config(method: str, noise: NoiseSpec | None = None, **kw) -> RobustConfig:
    schedule = {
        "warmup_epochs": 1,
        "epochs": 3,
        "inn_epochs": 2,
        "T1": 1,
        "T2": 1,
        "T3": 2,
        "batch_size": 32,
        "rampup_epochs": 1,
    }
    noise = noise or NoiseSpec("symmetric", 0.5)
    return RobustConfig(experiment=ExperimentConfig(noise=noise, **TINY), method=method, **{**schedule, **kw})


def _stop_at(call: int):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) == call

    return should_stop


def _comparable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# -- configuration ---------------------------------------------------------------------------


def test_config_defaults_validation_and_round_trip():
    config = RobustConfig(method="inn-dividemix")
    assert config.method == "inn_dividemix"
    # Step 1's INN models train at least 40 epochs on digits and 50 on CIFAR (the paper trains f 50-300).
    assert (config.warmup_epochs, config.epochs, config.inn_epochs) == (10, 40, 40)
    assert config.network_epochs == 30
    for dataset in ("cifar10", "cifar100"):
        assert RobustConfig(experiment=ExperimentConfig(dataset=dataset)).inn_epochs >= 50
    assert config.mixture_split == "per_class" and config.mixture_init == "quantile"
    assert RobustConfig(experiment=ExperimentConfig(dataset="cifar10")).mixture_split == "global"
    assert RobustConfig.from_dict(config.to_dict()) == config
    assert RobustConfig(method="dividemix").network_epochs == 40
    cifar = RobustConfig(experiment=ExperimentConfig(dataset="cifar10"))
    assert (cifar.T1, cifar.T2, cifar.T3, cifar.epochs) == (30, 30, 9, 300)
    for bad, match in [
        ({"method": "mixmatch"}, "unknown method"),
        ({"warmup_epochs": 40}, "warmup_epochs"),
        ({"T3": 0}, "T3"),
        ({"temperature": 0.0}, "temperature"),
        ({"threshold": 1.0}, "threshold"),
        ({"lambda_u": -1.0}, "lambda_u"),
        ({"augment": "flip"}, "augmentation"),
        ({"lr": 0.0}, "learning rate"),
        ({"mixture_split": "kmeans"}, "mixture_split"),
        ({"mixture_init": "random"}, "mixture_init"),
    ]:
        with pytest.raises(InputError, match=match):
            RobustConfig(**bad)
    with pytest.raises(InputError, match="unknown robust-training setting"):
        RobustConfig.from_dict({"methd": "ce"})


def test_noise_dependent_defaults():
    assert RobustConfig(experiment=ExperimentConfig(noise=NoiseSpec("asymmetric", 0.4, mapping="digits"))).ne_warmup
    assert not RobustConfig().ne_warmup
    assert RobustConfig(experiment=ExperimentConfig(noise=NoiseSpec("symmetric", 0.9))).loss_history == 5
    assert RobustConfig(experiment=ExperimentConfig(noise=NoiseSpec("symmetric", 0.8))).loss_history == 1
    lam = default_lambda_u
    assert lam(NoiseSpec("symmetric", 0.2), num_classes=10) == 0
    assert lam(NoiseSpec("symmetric", 0.5), num_classes=10) == 25
    assert lam(NoiseSpec("symmetric", 0.8), num_classes=10) == 25
    assert lam(NoiseSpec("symmetric", 0.9), num_classes=10) == 50
    assert lam(NoiseSpec("symmetric", 0.8), num_classes=100) == 150
    assert lam(NoiseSpec("asymmetric", 0.4, mapping="digits"), num_classes=10) == 0
    assert lam(NoiseSpec.imbalanced((1, 2)), num_classes=2) == 0
    assert lam(NoiseSpec("matrix", matrix=[[0.4, 0.6], [0.6, 0.4]]), num_classes=2) == 25
    # A flipped digit is another digit: only small shifts below 32 px; CIFAR gets crop and flip.
    assert default_augmentation(8) == "shift"
    assert default_augmentation(32) == "crop_flip"
    assert default_augmentation(None) == "none"


# -- INN+DivideMix's Beta-mixture split -------------------------------------------------------


def test_inn_clean_posterior_is_the_beta_mixture_of_inn_scores():
    run = prepare_data(ExperimentConfig(noise=NoiseSpec("symmetric", 0.5), **TINY))
    f = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=0)
    h = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=1)
    scores, posterior = inn_clean_posterior(f, h, run.inputs, run.observed_labels, L=3, H=2, device="cpu")
    assert scores.shape == posterior.shape == (run.n,)
    assert ((scores >= 0) & (scores <= 1)).all() and ((posterior >= 0) & (posterior <= 1)).all()
    labelled, expected, mixture = split_clean(scores)
    assert_allclose(posterior, expected, rtol=0, atol=1e-12)
    assert_array_equal(Split.from_posterior(posterior).labelled, labelled)
    # The clean component is the one with the larger mean.
    assert mixture.means_[1] >= mixture.means_[0]
    _, per_class = inn_clean_posterior(
        f, h, run.inputs, run.observed_labels, L=3, H=2, device="cpu", split="per_class", init="arazo"
    )
    assert_allclose(per_class, split_clean_per_class(scores, run.observed_labels, init="arazo")[1], atol=1e-12)


# -- runs ---------------------------------------------------------------------------------------


def test_dividemix_trains_each_network_on_the_other_networks_division(tmp_path, monkeypatch):
    n = 120

    # Network 1's posteriors label every sample, network 2's only the first 30.
    def fake_posterior(losses, *, random_state):
        return np.ones(n) if random_state % 2 == 0 else (np.arange(n) < 30).astype(float)

    monkeypatch.setattr(dividemix, "gmm_clean_posterior", fake_posterior)
    store = RunStore(tmp_path)
    run_id = train_robust(_config("dividemix"), store=store)
    records = store.read_json(run_id, "metrics.json")["robust"]
    assert [r["phase"] for r in records] == ["warmup", "ssl", "ssl"]
    for r in records[1:]:
        assert r["labelled_size_net1"] == 30  # from network 2
        assert r["labelled_size_net2"] == n  # from network 1
    assert records[0]["labelled_size_net1"] is None


def test_inn_dividemix_trains_each_network_on_the_other_networks_inn_split(tmp_path, monkeypatch):
    n, calls = 120, []

    # Scoring alternates network 1, network 2: the first labels every sample, the second the first 30.
    def fake_posterior(f, h, inputs, labels, *, L, H, device, split, init):
        calls.append(f)
        posterior = np.ones(n) if len(calls) % 2 else (np.arange(n) < 30).astype(float)
        return posterior, posterior

    monkeypatch.setattr(dividemix, "inn_clean_posterior", fake_posterior)
    store = RunStore(tmp_path)
    config = _config("inn_dividemix")
    run_id = train_robust(config, store=store)
    records = store.read_json(run_id, "metrics.json")["robust"]
    assert [r["phase"] for r in records] == ["mixmatch", "dividemix_ssl", "dividemix_ssl"]
    assert [r["round"] for r in records] == [None, 1, 1]
    assert len(calls) == 2 * (1 + config.T2)
    for r in records:
        assert r["labelled_size_net1"] == 30  # from network 2's INN scores
        assert r["labelled_size_net2"] == n  # from network 1's


#: The noise each method's shared run uses; 90 % makes DivideMix average its losses over epochs.
NOISE = {
    "inn_dividemix": NoiseSpec("symmetric", 0.5),
    "dividemix": NoiseSpec("symmetric", 0.9),
    "ce": NoiseSpec("symmetric", 0.5),
}


@pytest.fixture(scope="module")
def finished(one_thread, tmp_path_factory):
    """One uninterrupted run of every method: ``(store, {method: run_id})``."""
    store = RunStore(tmp_path_factory.mktemp("finished"))
    return store, {method: train_robust(_config(method, NOISE[method]), store=store) for method in METHODS}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_records_epochs_and_returns_its_model(finished, method):
    store, run_ids = finished
    run_id, config = run_ids[method], _config(method, NOISE[method])
    record = store.get_run(run_id)
    assert record.status == "done" and record.kind == "robust" and record.progress == 1.0
    records = store.read_json(run_id, "metrics.json")["robust"]
    assert [r["epoch"] for r in records] == list(range(1, config.network_epochs + 1))
    assert all(r["method"] == method for r in records)
    for r in records:
        assert 0 <= r["test_accuracy"] <= r["best_test_accuracy"] <= 1
        assert r["labelled_size_net1"] is None or 0 <= r["labelled_size_net1"] <= 120
        for key in ("labelled_precision_net1", "labelled_recall_net1"):
            assert r[key] is None or 0 <= r[key] <= 1
    assert records[-1]["best_test_accuracy"] == pytest.approx(max(r["test_accuracy"] for r in records))
    model = load_robust_model(store, run_id)
    assert isinstance(model, TwinNetwork) == (method != "ce")
    run = prepare_data(config.experiment)
    accuracy = (predict_proba(model, run.test_images, device="cpu").argmax(1) == run.test_labels).mean()
    assert accuracy == pytest.approx(records[-1]["test_accuracy"], abs=1e-9)
    summary = robust_summary(store, run_id)
    assert summary["last_test_accuracy"] == records[-1]["test_accuracy"]
    assert summary["epochs_done"] == config.network_epochs
    if method == "ce":
        with pytest.raises(InputError, match="one network"):
            load_robust_model(store, run_id, network="net2", run=run)
        # The baseline trains on every label: its "labelled set" is the whole noisy training set.
        for r in records:
            assert r["labelled_size_net1"] == run.n and r["labelled_recall_net1"] == 1.0
            assert r["labelled_precision_net1"] == pytest.approx(1 - run.is_noisy.mean())
            assert r["test_accuracy_net2"] is None
    else:
        net1 = load_robust_model(store, run_id, network="net1", run=run)
        accuracy = (predict_proba(net1, run.test_images, device="cpu").argmax(1) == run.test_labels).mean()
        assert accuracy == pytest.approx(records[-1]["test_accuracy_net1"], abs=1e-9)


@pytest.mark.parametrize(
    ("method", "stops"),
    [
        # Stops at the n-th poll of should_stop (between batches and at progress reports): in step 1's
        # INN models, then further on; the second test below sweeps every phase.
        ("inn_dividemix", [2, 4, 3]),
        ("dividemix", [2, 2]),
    ],
)
def test_resume_after_interruption_equals_an_uninterrupted_run(finished, tmp_path, method, stops):
    straight, run_ids = finished
    expected_id = run_ids[method]
    store = RunStore(tmp_path)
    with pytest.raises(Cancelled):
        train_robust(_config(method, NOISE[method]), store=store, should_stop=_stop_at(stops[0]))
    run_id = store.list_runs()[0].id
    assert store.get_run(run_id).status == "cancelled"
    for stop in stops[1:]:
        with pytest.raises(Cancelled):
            resume_robust(store, run_id, should_stop=_stop_at(stop))
    resume_robust(store, run_id)
    assert store.get_run(run_id).status == "done"
    got = store.read_json(run_id, "metrics.json")["robust"]
    assert _comparable(got) == _comparable(straight.read_json(expected_id, "metrics.json")["robust"])
    for name in ("model_net1.pt", "model_net2.pt"):
        a, b = store.read_torch(run_id, name), straight.read_torch(expected_id, name)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    with pytest.raises(InputError, match="already done"):
        resume_robust(store, run_id)


@pytest.mark.parametrize(
    ("method", "phases"),
    [("ce", {"ce"}), ("dividemix", {"warmup", "ssl"}), ("inn_dividemix", {"inn", "inn_ssl"})],
)
def test_cancel_between_batches_resumes_to_the_uninterrupted_result(finished, tmp_path, method, phases):
    """Cancel is polled between batches: stop every few polls until the run is done, each stop a resume."""
    straight, run_ids = finished
    store = RunStore(tmp_path)
    stopped_inside: set[str] = set()
    run_id, stops = None, 0
    for _ in range(80):
        try:
            if run_id is None:
                train_robust(_config(method, NOISE[method]), store=store, should_stop=_stop_at(3))
            else:
                resume_robust(store, run_id, should_stop=_stop_at(3))
            break
        except Cancelled:
            stops += 1
            run_id = store.list_runs()[0].id
            assert store.get_run(run_id).status == "cancelled"
            mid = store.read_torch(run_id, "checkpoint.pt").get("mid_epoch")
            if mid is not None:
                stopped_inside.add(mid["tag"].rstrip("0123456789"))
    else:
        pytest.fail("the run did not finish in 80 resumes")
    assert stops > 2 and phases <= stopped_inside, stopped_inside
    got = store.read_json(run_id, "metrics.json")["robust"]
    assert _comparable(got) == _comparable(straight.read_json(run_ids[method], "metrics.json")["robust"])
    for name in ("model_net1.pt",) + (() if method == "ce" else ("model_net2.pt",)):
        a, b = store.read_torch(run_id, name), straight.read_torch(run_ids[method], name)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_resume_refuses_other_kinds_of_run(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(ExperimentConfig().to_dict(), kind="experiment")
    with pytest.raises(InputError, match="is .experiment., not .robust."):
        resume_robust(store, run_id)
