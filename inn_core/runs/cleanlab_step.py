"""The cleanlab method of an experiment: K-fold out-of-fold CE probabilities, scored once at the end.

Why once, at the last evaluation epoch, and not at every one: out-of-fold probabilities need K
models that never saw the samples they predict, so scoring at E evaluation epochs would either
train K x E models or keep K fold models training alongside the run's three (K x the run's cost
for every epoch). The K fold models are trained once, after the run's three.

Why a quarter of the run's epochs (``ExperimentConfig.cleanlab_epochs``), with the run's schedule
shortened to them: fold models trained as long as the run memorise the noisy labels of their K - 1
folds, and their held-out probabilities become overconfident. Measured on digits (5 folds, seeds 0
and 1, clean/noisy AUC of the self-confidence score, 10 / 20 / 40 fold epochs of a 40-epoch run):
symmetric 40 % 0.996 / 0.985 / 0.964 and 0.997 / 0.980 / 0.950; symmetric 80 % 0.894 / 0.871 /
0.839 and 0.820 / 0.677 / 0.748; asymmetric 40 % 0.920 / 0.880 / 0.854 and 0.924 / 0.877 / 0.853.
The quarter is also a quarter of the cost: K x (K - 1) / K / 4 / 3 of the run's training (1 / 3 at
K = 5). Early stopping on the held-out folds' loss instead was better at 40 % noise and worse at
80 % (0.816 / 0.697), so it is not used.

Why half for the user's own images: their schedule is counted in SGD steps (:mod:`inn_core.runs.schedule`)
and short by design - the run's CE model fits 68 % of the observed labels of the 5,000-image benchmark
(30 % wrong) at its last epoch, against 99.6 % on default digits - so a quarter of it undertrains the
fold models. Measured there (``benchmarks/bench_own_data.py``'s data, 16-epoch run): 4 / 8 / 16 fold
epochs gave AUC 0.937 / 0.977 / 0.986; half cost no measurable time over a quarter there (56 s against
54 s, within the machine's noise); the full length would add about 40 % to the run's training.

Each fold's held-out probabilities are written to ``cleanlab_folds.npz`` as it finishes, so a
resumed run trains only the folds still missing. The scores join the last epoch's arrays
(``scores_cleanlab``, ``posterior_cleanlab`` from the Beta mixture like every method, and
``issues_cleanlab``, cleanlab's own ``find_label_issues`` mask, when cleanlab is installed) and
its record joins ``metrics.json``, so every page that lists methods shows it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from inn_core.method.confident import find_label_issues_mask, out_of_fold_probabilities
from inn_core.method.distributed import SINGLE, World
from inn_core.method.metrics import flag_metrics
from inn_core.method.registry import METHODS, OUT_OF_FOLD, ScoringInputs
from inn_core.runs.experiment import method_record
from inn_core.runs.prepare import build_model
from inn_core.runs.store import RunStore

if TYPE_CHECKING:
    from inn_core.runs.experiment import ExperimentConfig
    from inn_core.runs.prepare import RunData

__all__ = ["FOLDS_FILE", "score_with_cleanlab"]

FOLDS_FILE = "cleanlab_folds.npz"


def score_with_cleanlab(
    store: RunStore,
    run_id: str,
    config: ExperimentConfig,
    run: RunData,
    device: torch.device,
    *,
    on_fold: Callable[[int], None] | None = None,
    world: World = SINGLE,
) -> int:
    """Train the missing folds, score, and add the method to the last evaluation epoch; returns folds restored.

    Under torchrun each rank trains every ``world.size``-th missing fold; the folds' probabilities are then
    exchanged and rank 0 scores and writes (the other ranks' store writes do nothing).
    """
    saved = store.read_arrays(run_id, FOLDS_FILE) if store.has_file(run_id, FOLDS_FILE) else {}
    done = {int(key.removeprefix("fold_")): value for key, value in saved.items()}

    def make_model(k: int) -> torch.nn.Module:
        return build_model(config, run, seed=config.seed * 1000 + 700 + 13 * k)

    def finished(k: int, proba: np.ndarray) -> None:
        done[k] = proba
        store.write_arrays(run_id, FOLDS_FILE, **{f"fold_{j}": p for j, p in done.items()})
        # Progress reports are collective under torchrun (rank 0 broadcasts Cancel): every rank
        # reports the same folds, after the exchange below, not its own as they finish.
        if on_fold is not None and world.size == 1:
            on_fold(k)

    restored = len(done)
    missing = [k for k in range(config.cleanlab_folds) if k not in done]
    mine = missing[world.rank :: world.size]
    # With every fold in ``done`` this only assembles the out-of-fold matrix, training nothing.
    oof = functools.partial(
        out_of_fold_probabilities,
        make_model,
        run.inputs,
        run.observed_labels,
        config.cleanlab_config(),
        folds=config.cleanlab_folds,
        num_classes=run.num_classes,
        device=device,
        random_state=config.seed * 1000 + 700,
        done=done,
    )
    pred_probs = oof(on_fold=finished, train_only=mine)
    if world.size > 1:
        for share in world.gather_objects({k: done[k] for k in mine}):
            done.update(share)
        for k in missing:
            if on_fold is not None:
                on_fold(k)
        if not world.is_main:
            return restored
        store.write_arrays(run_id, FOLDS_FILE, **{f"fold_{j}": p for j, p in done.items()})
        pred_probs = oof()
    given = ScoringInputs(
        models={OUT_OF_FOLD: pred_probs},
        inputs=run.inputs,
        observed=run.observed_labels,
        neighbors=np.zeros((run.n, 0), np.int64),
        features=np.zeros((run.n, 0), np.float32),
        H=1,
    )
    scores = METHODS["cleanlab"].scorer(given)
    epoch = config.eval_epochs[-1]
    record, method_arrays = method_record(epoch, "cleanlab", scores, run.is_noisy)
    arrays = store.epoch_scores(run_id, epoch)
    arrays.update(method_arrays, proba_cleanlab=pred_probs)
    issues = find_label_issues_mask(run.observed_labels, pred_probs)
    if issues is not None:
        arrays["issues_cleanlab"] = issues
    store.write_arrays(run_id, f"epochs/epoch_{epoch:04d}.npz", **arrays)

    record.update(
        folds=config.cleanlab_folds,
        fold_epochs=config.fold_epochs,
        n_issues_cleanlab=None if issues is None else int(issues.sum()),
    )
    if run.is_noisy is not None and issues is not None:
        record.update({f"{key}_cleanlab_filter": value for key, value in flag_metrics(issues, run.is_noisy).items()})
    metrics = store.metrics(run_id)
    metrics["methods"] = [r for r in metrics["methods"] if r["method"] != "cleanlab"] + [record]
    store.write_json(run_id, "metrics.json", metrics)
    return restored
