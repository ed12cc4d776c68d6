"""Tests for the command line: exit codes and one-line messages for bad input, and the happy path."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from inn_core.cli import main
from inn_core.runs.store import RunStore


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--rate", "1.5"], "rate must be in [0, 1], got 1.5"),
        (["run", "--dataset", "mnist"], "unknown dataset 'mnist'; choose one of digits"),
        (["run", "--model", "vgg"], "unknown model 'vgg'; choose one of"),
        (["run", "--noise", "asymmetric", "--mapping", "imagenet"], "imagenet"),
        (["run", "--noise", "asymmetric", "--mapping", "3:12"], "12"),
        (["run", "--L", "5000"], "choose L <= "),
        (["run", "--H", "0"], "H (trapezoids per path) must be at least 1, got 0"),
        (["run", "--dataset", "cifar10", "--data-root", "/nonexistent/cifar"], "/nonexistent/cifar"),
        (["run", "--dataset", "imagefolder", "--data-root", "/nonexistent/pictures"], "/nonexistent/pictures"),
        (["run", "--noise", "matrix", "--matrix", "/nonexistent/T.csv"], "cannot read the transition matrix file"),
        (["run", "--eval-epochs", "a,b"], "evaluation epochs must be whole numbers"),
        (["run", "--cleanlab-epochs", "0"], "cleanlab_epochs must be a positive integer or None, got 0"),
        (["run", "--data-option", "max_samples=-5", "--no-estimate"], "max_samples must be a positive integer"),
        (["run", "--data-option", "bogus=1", "--no-estimate"], "dataset 'digits' has no option 'bogus'"),
        (["train", "--data-option", "bogus=1"], "dataset 'digits' has no option 'bogus'"),
        (["toy", "--steps", "0"], "epochs must be an integer in [1, 2000], got 0"),
        (["run", "--features", "emb.npy", "--backbone", "resnet18"], "--backbone does not apply to a run on given"),
        (["run", "--features", "emb.npy", "--model", "small_cnn"], "--model does not apply to a run on given"),
        (["show", "no-such-run"], "no run with id 'no-such-run'"),
        (["resume", "no-such-run"], "no run with id 'no-such-run'"),
        (["flagged", "no-such-run"], "no run with id 'no-such-run'"),
        (["export", "no-such-run"], "no run with id 'no-such-run'"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, tmp_path, argv, message):
    code, out, err = _cli(capsys, "--home", str(tmp_path), *argv)
    assert code == 2
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert "Traceback" not in err + out
    assert RunStore(tmp_path).list_runs() == []  # a rejected command leaves no failed run behind


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--colour", "red"], "unrecognized arguments: --colour red"),
        (["toy", "--objective", "foo"], "argument --objective: invalid choice: 'foo'"),
        (["toy", "--L", "abc"], "argument --L: invalid int value: 'abc'"),
        (["ablate"], "the following arguments are required: run"),
    ],
)
def test_argparse_errors_are_one_line_too(tmp_path, argv, message):
    proc = subprocess.run(
        [sys.executable, "-m", "inn_core", "--home", str(tmp_path), *argv], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr and "--help` lists the options" in proc.stderr


def test_home_goes_before_or_after_the_command(capsys, tmp_path, tiny_run_home):
    home, run_id = tiny_run_home
    code, out, _ = _cli(capsys, "list", "--home", str(home))
    assert code == 0 and run_id in out
    code, out, _ = _cli(capsys, "--home", str(tmp_path), "show", run_id, "--home", str(home))
    assert code == 0 and run_id in out
    code, out, _ = _cli(capsys, "--home", str(tmp_path), "list")
    assert code == 0 and "no runs" in out


def test_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "inn_core", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("run", "list", "show", "resume", "flagged", "export"):
        assert command in proc.stdout


def test_run_then_list_show_flagged_export(capsys, tmp_path):
    home = str(tmp_path / "runs")
    code, out, _ = _cli(
        capsys,
        "--home",
        home,
        "run",
        "--data-option",
        "max_samples=150",
        "--epochs",
        "2",
        "--L",
        "4",
        "--H",
        "2",
        "--name",
        "cli",
        "--quiet",
        "--device",
        "cpu",
    )
    assert code == 0
    assert "clean/noisy AUC" in out and "inn" in out
    [run] = RunStore(home).list_runs()
    assert run.status == "done" and run.name == "cli"
    inn = [r for r in RunStore(home).metrics(run.id)["methods"] if r["method"] == "inn"][-1]
    assert f"INN flags {inn['n_flagged']:,} samples (epoch 2). Next:" in out
    assert f"python -m inn_core flagged {run.id} --top 50" in out

    code, out, _ = _cli(capsys, "--home", home, "list")
    assert code == 0 and run.id in out and "done" in out

    code, out, _ = _cli(capsys, "--home", home, "show", run.id, "--json")
    payload = json.loads(out)
    frame = pd.DataFrame(payload["metrics"])
    assert {"epoch", "method", "auc"} <= set(frame.columns)
    assert set(frame["method"]) >= {"inn", "ce", "ce_ne", "deep_knn", "mixup_fy"}

    code, out, _ = _cli(capsys, "--home", home, "flagged", run.id, "--top", "7")
    rows = out.strip().splitlines()
    assert rows[0] == "index,observed_label,predicted_label,score,clean_posterior,true_label"
    assert len(rows) == 8
    scores = [float(r.split(",")[3]) for r in rows[1:]]
    assert scores == sorted(scores)

    RunStore(home).record_decision(run.id, 3, "relabel", new_label=9)
    code, out, _ = _cli(capsys, "--home", home, "export", run.id, "--output", str(tmp_path / "out"))
    assert code == 0
    cleaned = pd.read_csv(tmp_path / "out" / "cleaned_labels.csv")
    assert cleaned.loc[3, "cleaned_label"] == 9 and cleaned.loc[3, "decision"] == "relabel"
    assert json.loads((tmp_path / "out" / "config.json").read_text())["run_id"] == run.id


def test_train_dividemix_then_show_and_resume_errors(capsys, tmp_path):
    home = str(tmp_path / "runs")
    code, out, _ = _cli(
        capsys,
        "--home",
        home,
        "train",
        "--method",
        "dividemix",
        "--data-option",
        "max_samples=150",
        "--epochs",
        "2",
        "--warmup-epochs",
        "1",
        "--quiet",
        "--device",
        "cpu",
        "--name",
        "dm",
    )
    assert code == 0
    assert "test accuracy: best" in out and "labelled_precision_net1" in out
    [run] = RunStore(home).list_runs()
    assert run.kind == "robust" and run.status == "done"
    code, out, _ = _cli(capsys, "--home", home, "show", run.id, "--json")
    records = json.loads(out)["metrics"]
    assert [r["epoch"] for r in records] == [1, 2]
    code, _, err = _cli(capsys, "--home", home, "resume", run.id)
    assert code == 2 and "already done" in err
    code, _, err = _cli(capsys, "--home", home, "train", "--rate", "2")
    assert code == 2 and "rate must be in [0, 1]" in err


def test_train_without_test_split_reports_no_test_accuracy(capsys, tmp_path):
    home = str(tmp_path / "runs")
    code, out, err = _cli(
        capsys,
        "--home",
        home,
        "train",
        "--method",
        "ce",
        "--data-option",
        "max_samples=100",
        "--data-option",
        "test_fraction=0",
        "--epochs",
        "2",
        "--warmup-epochs",
        "1",
        "--quiet",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert "test accuracy: not measured" in out


@pytest.mark.parametrize("command", ["show", "export", "flagged", "resume", "cancel"])
def test_run_id_outside_the_store_is_one_line(capsys, tmp_path, command):
    code, out, err = _cli(capsys, "--home", str(tmp_path / "runs"), command, "../../etc")
    assert code == 2 and "is not a run id" in err and "Traceback" not in err


def test_demo_assets_default_is_the_folder_the_dashboard_reads(capsys, tmp_path, monkeypatch):
    import inn_core.views.demo as teaching

    written = []
    # The real command retrains the 40-epoch default run; only where it writes is under test here.
    monkeypatch.setattr(teaching, "write_demo_assets", lambda out, store=None: written.append(Path(out)) or Path(out))
    monkeypatch.chdir(tmp_path)
    code, _, _ = _cli(capsys, "--home", str(tmp_path / "runs"), "demo-assets")
    assert code == 0 and written == [teaching.DEMO_DIR]


def test_list_shows_no_rate_for_noise_none(capsys, tmp_path):
    store = RunStore(tmp_path / "runs")
    store.create_run({"dataset": "csv", "noise": {"kind": "none", "rate": 0.4}}, name="own")
    code, out, _ = _cli(capsys, "--home", str(store.home), "list")
    line = next(x for x in out.splitlines() if x.rstrip().endswith("own"))
    assert code == 0 and "none" in line and "0.4" not in line


def test_version_and_home_from_the_environment(tmp_path, tiny_run_home):
    from inn_core import __version__

    proc = subprocess.run([sys.executable, "-m", "inn_core", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"inn-lab {__version__}"
    home, run_id = tiny_run_home
    env = {**__import__("os").environ, "INN_LAB_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "inn_core", "list", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in json.loads(proc.stdout)] == [run_id]
    assert not (tmp_path / "runs").exists()  # the store came from $INN_LAB_HOME, not ./runs


def test_json_on_list_show_flagged(capsys, tiny_run_home):
    home, run_id = tiny_run_home
    code, out, _ = _cli(capsys, "--home", str(home), "list", "--json")
    (run,) = json.loads(out)
    assert code == 0 and run["id"] == run_id and run["status"] == "done"
    code, out, _ = _cli(capsys, "--home", str(home), "show", run_id, "--json")
    assert code == 0 and json.loads(out)["run"]["id"] == run_id
    code, out, _ = _cli(capsys, "--home", str(home), "flagged", run_id, "--json")
    records = json.loads(out)
    assert code == 0 and records and {"index", "observed_label", "score"} <= set(records[0])
    scores = [r["score"] for r in records]
    assert scores == sorted(scores)


def test_a_closed_pipe_ends_quietly(tiny_run_home):
    home, run_id = tiny_run_home
    # A reader that closes the pipe before the CLI writes: the write fails with EPIPE for certain.
    proc = subprocess.Popen(
        [sys.executable, "-m", "inn_core", "--home", str(home), "show", run_id, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err and err == ""
    # And through a shell pipe, as a user types it.
    shell = subprocess.run(
        f"{sys.executable} -m inn_core --home {home} show {run_id} --json | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert shell.stdout == '{\n  "run":' and "Traceback" not in shell.stderr


def test_export_formats_from_the_cli(capsys, tiny_run_home, tmp_path):
    import datasets

    home, run_id = tiny_run_home
    code, out, _ = _cli(capsys, "--home", str(home), "export", run_id, "--format", "hf", "-o", str(tmp_path))
    assert code == 0 and "hf" in out
    assert len(datasets.load_from_disk(str(tmp_path / "hf"))) == 200
    code, out, _ = _cli(capsys, "--home", str(home), "export", run_id, "--format", "datalab", "-o", str(tmp_path))
    assert code == 0 and "is_label_issue" in (tmp_path / "label_issues.csv").read_text().splitlines()[0]


def test_toy_json_prints_the_documented_numbers(capsys):
    from inn_core.cli import main

    assert main(["toy", "--json", "--steps", "60", "--noise-rate", "0.2", "--L", "3", "--H", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"clean_point", "noisy_point", "means", "auc"}
    assert set(out["noisy_point"]) == {"fy_at_point", "inn_score"}
    assert out["means"]["epochs"][-1] == 60 and len(out["means"]["E_cor"]) == len(out["means"]["epochs"])
    assert out["config"]["L"] == 3
    assert main(["toy", "--L", "0"]) == 2
