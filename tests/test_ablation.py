import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from inn_core.cli import main
from inn_core.errors import InputError
from inn_core.runs.ablation import ABLATIONS, ablate, read_ablation

PAGE = str(Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "ablations.py")


def test_ablate_covers_every_ingredient_and_caches(tiny_store):
    store, run_id = tiny_store
    seen = []
    table = ablate(store, run_id, device="cpu", progress=lambda f, m: seen.append(f))
    groups = {(r["group"], r["value"]) for r in table["rows"]}
    n = store.read_json(run_id, "data.json")["n"]
    expected = {(g, v) for g, values in ABLATIONS.items() for v in values if not (g == "L" and v > n - 1)}
    assert groups == expected
    assert all(0 <= r["auc"] <= 1 for r in table["rows"])
    assert seen[-1] == pytest.approx(1.0) and (np.diff(seen) > 0).all()
    assert read_ablation(store, run_id) == json.loads(json.dumps(table))
    # The trapezoid variant is the run's own setting: it reproduces the run's stored INN AUC.
    own = next(r for r in table["rows"] if r["group"] == "rule" and r["value"] == "trapezoid")
    last = max(r["epoch"] for r in store.metrics(run_id)["methods"])
    stored = next(r["auc"] for r in store.metrics(run_id)["methods"] if r["epoch"] == last and r["method"] == "inn")
    assert own["auc"] == pytest.approx(stored, abs=1e-6)
    # Cached: a second call does not recompute.
    assert ablate(store, run_id, progress=lambda f, m: pytest.fail("recomputed")) == read_ablation(store, run_id)


def test_ablate_cli_and_bad_run(tiny_store, capsys):
    store, run_id = tiny_store
    assert main(["--home", str(store.home), "ablate", run_id, "--json", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["run"] == run_id and {r["group"] for r in out["rows"]} == set(ABLATIONS)
    assert "cached" not in captured.err  # computed, not read back
    # Cached now: said so, without a progress bar; a bad device is still an error.
    assert main(["--home", str(store.home), "ablate", run_id]) == 0
    err = capsys.readouterr().err
    assert err.strip() == "read from the run's cached ablation.json; --refresh recomputes it"
    assert main(["--home", str(store.home), "ablate", run_id, "--device", "gpu"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown device 'gpu'")
    # A bad run id: one line, no progress bar before it.
    assert main(["--home", str(store.home), "ablate", "no-such-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no run with id 'no-such-run'") and len(err.strip().splitlines()) == 1, err
    with pytest.raises(InputError):
        ablate(store, "no-such-run")
    failed = store.create_run({}, name="stopped early")
    store.update_run(failed, status="failed", error="killed")
    with pytest.raises(InputError, match="is failed; ablations need a finished run"):
        ablate(store, failed)
    embedding = store.create_run({}, name="embeddings", kind="embedding")
    with pytest.raises(InputError, match="is of kind 'embedding'; ablations rescore an experiment's stored models"):
        ablate(store, embedding)


def test_ablations_page_computes_on_demand(tiny_store, monkeypatch):
    store, run_id = tiny_store
    monkeypatch.setenv("INN_LAB_HOME", str(store.home))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert any("Not computed" in i.value for i in at.info)
    at.button(key="ablation_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [c.key for c in at.get("plotly_chart")] == ["ablation_chart"]
    assert read_ablation(store, run_id) is not None
