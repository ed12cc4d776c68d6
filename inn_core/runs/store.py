"""The run store: one directory per run plus a SQLite index of runs and review decisions.

Layout under ``home`` (default ``./runs``)::

    index.sqlite            runs (id, name, status, progress, config, ...) and decisions (append-only log)
    <run_id>/config.json    the experiment's configuration
    <run_id>/labels.npz     observed / true labels, noise mask, kept indices
    <run_id>/metrics.json   per-epoch records (methods and models)
    <run_id>/epochs/epoch_NNNN.npz   per-method scores and clean posteriors at an evaluation epoch
    <run_id>/checkpoint.pt  trainer states (plain state_dicts) for resume
    <run_id>/final.npz      neighbours, h features, predicted probabilities
    <run_id>/model_<name>.pt  final model weights

Every file is written to a temporary name and renamed into place, and every database change is a
transaction, so a run killed at any moment leaves either the old or the new version of each file,
and a run is only ever marked ``done`` after everything it promises is on disk.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inn_core.errors import InputError
from inn_core.runs.records import ExperimentMetrics

__all__ = [
    "STATUSES",
    "DECISIONS",
    "RunRecord",
    "Decision",
    "RunStore",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_run_id",
]

STATUSES = ("queued", "running", "done", "failed", "cancelled")
DECISIONS = ("keep", "relabel", "drop")
DEFAULT_HOME = "runs"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'experiment',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress REAL NOT NULL DEFAULT 0,
    phase TEXT NOT NULL DEFAULT '',
    eta REAL,
    error TEXT,
    pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    sample INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('keep', 'relabel', 'drop')),
    new_label INTEGER,
    note TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0,
    batch TEXT
);
CREATE INDEX IF NOT EXISTS decisions_by_sample ON decisions (run_id, sample, id);
"""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename.

    On any failure the temporary file is removed and ``path`` keeps its previous content; a full
    disk is an :class:`InputError` that says so (free space, then resume).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(
                f"the disk is full: could not write {path} ({len(data):,} bytes); the previous version "
                "is kept - free some space, then resume the run"
            ) from exc
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=_json_default).encode())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclass(frozen=True)
class RunRecord:
    """One row of the runs index."""

    id: str
    name: str
    kind: str
    created: float
    updated: float
    config: dict[str, Any]
    status: str
    progress: float
    phase: str
    eta: float | None
    error: str | None
    pid: int | None
    cancel_requested: bool

    @property
    def experiment(self) -> dict[str, Any]:
        """The run's experiment settings (dataset, noise, model, seed, ...): its config, or the
        ``experiment`` part of it for run kinds that wrap one (robust training)."""
        nested = self.config.get("experiment")
        return nested if self.kind != "experiment" and isinstance(nested, dict) else self.config


@dataclass(frozen=True)
class Decision:
    """A review decision on one sample: keep, relabel (to ``new_label``) or drop."""

    id: int
    run_id: str
    sample: int
    decision: str
    new_label: int | None
    note: str
    created: float
    undone: bool
    batch: str | None = None


class RunStore:
    """Runs on disk and their SQLite index.

    Parameters
    ----------
    home : directory holding all runs; created when missing.
    busy_timeout : seconds a write waits for another process's write lock on the index before it
        gives up with an :class:`InputError` (nothing is half-saved; the caller can retry).
    """

    def __init__(self, home: str | Path = DEFAULT_HOME, *, busy_timeout: float = 30.0) -> None:
        self.home = Path(home)
        self.busy_timeout = float(busy_timeout)
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_path = self.home / "index.sqlite"
        with self._connect() as conn:
            conn.executescript(_SCHEMA)
            # Stores written before bulk review have no batch column; a decision without one stands alone.
            if "batch" not in {r["name"] for r in conn.execute("PRAGMA table_info(decisions)")}:
                conn.execute("ALTER TABLE decisions ADD COLUMN batch TEXT")

    # -- database -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                raise InputError(
                    f"the run index {self.db_path} is busy: another process held its write lock for over "
                    f"{self.busy_timeout:g} s; nothing was saved - try again"
                ) from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, config: dict[str, Any], *, name: str = "", kind: str = "experiment") -> str:
        """Register a new run (status ``queued``) and write its config; returns the run id."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        atomic_write_json(self.run_dir(run_id) / "config.json", config)
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO runs (id, name, kind, created, updated, config, status) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued')",
                (run_id, name or run_id, kind, now, now, json.dumps(config)),
            )
        return run_id

    def run_dir(self, run_id: str) -> Path:
        """The folder of ``run_id``; :class:`InputError` for anything that is not a run id (no path tricks)."""
        return self.home / check_run_id(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """The index row of ``run_id``; :class:`InputError` when there is no such run."""
        check_run_id(run_id)
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise InputError(f"no run with id {run_id!r} in {self.home}; `python -m inn_core list` shows the runs")
        return _record(row)

    def list_runs(self, *, kind: str | None = None) -> list[RunRecord]:
        """All runs, newest first; stale ``running`` runs whose process is gone show as failed."""
        self.mark_stale_runs()
        query = "SELECT * FROM runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY created DESC"
        with self._connect() as conn:
            rows = conn.execute(query, (kind,) if kind else ()).fetchall()
        return [_record(r) for r in rows]

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set status, progress, phase, eta, error, pid or cancel_requested in one transaction."""
        allowed = {"status", "progress", "phase", "eta", "error", "pid", "cancel_requested", "name"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}")
        check_run_id(run_id)
        fields["updated"] = time.time()
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._transaction() as conn:
            cur = conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))
            if cur.rowcount == 0:
                raise InputError(f"no run with id {run_id!r} in {self.home}")

    def request_cancel(self, run_id: str) -> None:
        self.update_run(run_id, cancel_requested=1)

    def cancel_requested(self, run_id: str) -> bool:
        return self.get_run(run_id).cancel_requested

    def mark_stale_runs(self) -> None:
        """Mark runs left ``running`` or ``queued`` by a process that no longer exists as failed (resumable).

        A queued run with no recorded process is waiting for its worker to start and stays queued.
        """
        with self._connect() as conn:
            rows = conn.execute("SELECT id, pid, status FROM runs WHERE status IN ('running', 'queued')").fetchall()
        for row in rows:
            if row["pid"] is not None and not _pid_alive(row["pid"]):
                stopped = "stopped" if row["status"] == "running" else "exited before it started"
                said = self._worker_last_line(row["id"])
                self.update_run(
                    row["id"],
                    status="failed",
                    pid=None,
                    error=f"interrupted: the process running it {stopped}"
                    + (f" ({said})" if said else "")
                    + "; resume it to continue",
                )

    def _worker_last_line(self, run_id: str) -> str:
        """The last line a background worker wrote to its log (its error message, when it failed early)."""
        path = self.run_dir(run_id) / "worker.log"
        try:
            lines = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def delete_run(self, run_id: str) -> None:
        """Remove a run, its files and its decisions."""
        import shutil

        self.get_run(run_id)
        with self._transaction() as conn:
            conn.execute("DELETE FROM decisions WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # -- run files --------------------------------------------------------------------------

    def write_json(self, run_id: str, name: str, obj: Any) -> None:
        atomic_write_json(self.run_dir(run_id) / name, obj)

    def read_json(self, run_id: str, name: str, default: Any = None) -> Any:
        path = self.run_dir(run_id) / name
        if not path.exists():
            return default
        return json.loads(path.read_text())

    def write_arrays(self, run_id: str, name: str, **arrays: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self.run_dir(run_id) / name, buf.getvalue())

    def read_arrays(self, run_id: str, name: str) -> dict[str, np.ndarray]:
        path = self.run_dir(run_id) / name
        if not path.exists():
            raise InputError(f"run {run_id!r} has no {name} yet (status: {self.get_run(run_id).status})")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def has_file(self, run_id: str, name: str) -> bool:
        return (self.run_dir(run_id) / name).exists()

    def write_torch(self, run_id: str, name: str, obj: Any) -> None:
        buf = io.BytesIO()
        torch.save(obj, buf)
        atomic_write_bytes(self.run_dir(run_id) / name, buf.getvalue())

    def read_torch(self, run_id: str, name: str) -> Any:
        path = self.run_dir(run_id) / name
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    def config(self, run_id: str) -> dict[str, Any]:
        return self.read_json(run_id, "config.json")

    def metrics(self, run_id: str) -> ExperimentMetrics:
        """Per-epoch records: ``{"methods": [...], "models": [...]}`` (empty lists before the first evaluation)."""
        return self.read_json(run_id, "metrics.json", {"methods": [], "models": []})

    def eval_epochs(self, run_id: str) -> list[int]:
        """Evaluation epochs whose scores are on disk, ascending."""
        folder = self.run_dir(run_id) / "epochs"
        if not folder.exists():
            return []
        return sorted(int(p.stem.split("_")[1]) for p in folder.glob("epoch_*.npz"))

    def epoch_scores(self, run_id: str, epoch: int) -> dict[str, np.ndarray]:
        """Arrays saved at an evaluation epoch: ``scores_<method>`` and ``posterior_<method>``, each ``(n,)``."""
        return self.read_arrays(run_id, f"epochs/epoch_{epoch:04d}.npz")

    def epoch_methods(self, run_id: str, epoch: int | None = None) -> list[str]:
        """The scoring methods with scores at an evaluation epoch (default: the last), registered ones first.

        Empty before the first evaluation. Reads the file's array names only, not the arrays.
        """
        from inn_core.method.registry import methods_in

        epochs = self.eval_epochs(run_id)
        if not epochs:
            return []
        epoch = epochs[-1] if epoch is None else int(epoch)
        path = self.run_dir(run_id) / f"epochs/epoch_{epoch:04d}.npz"
        if not path.exists():
            raise InputError(f"run {run_id!r} was evaluated at epochs {epochs}, not at {epoch}")
        with np.load(path, allow_pickle=False) as data:
            return methods_in(data.files)

    # -- review decisions -------------------------------------------------------------------

    def record_decision(
        self, run_id: str, sample: int, decision: str, *, new_label: int | None = None, note: str = ""
    ) -> int:
        """Append a decision in one transaction; returns its id. ``relabel`` needs ``new_label``."""
        if decision not in DECISIONS:
            raise InputError(f"unknown decision {decision!r}; choose one of {', '.join(DECISIONS)}")
        if decision == "relabel" and new_label is None:
            raise InputError("a relabel decision needs the new label")
        if decision != "relabel":
            new_label = None
        self.get_run(run_id)
        self._check_sample_and_label(run_id, sample, new_label)
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO decisions (run_id, sample, decision, new_label, note, created) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, int(sample), decision, None if new_label is None else int(new_label), note, time.time()),
            )
            return int(cur.lastrowid)

    def _check_sample_and_label(self, run_id: str, sample: int, new_label: int | None) -> None:
        """Sample in ``[0, n)`` and new label in ``[0, K)`` of the run's data (only bounds below before it loaded)."""
        data = self.read_json(run_id, "data.json") or {}
        n, k = data.get("n"), data.get("num_classes")
        if not isinstance(sample, (int, np.integer)) or isinstance(sample, bool) or not 0 <= sample < (n or 2**62):
            raise InputError(f"sample index must be a whole number in 0..{n - 1 if n else 'n-1'}, got {sample!r}")
        if new_label is not None and (
            not isinstance(new_label, (int, np.integer))
            or isinstance(new_label, bool)
            or not 0 <= new_label < (k or 2**62)
        ):
            raise InputError(f"new label must be a class id in 0..{k - 1 if k else 'K-1'}, got {new_label!r}")

    def undo_decision(self, run_id: str, sample: int | None = None) -> Decision | None:
        """Undo the latest standing decision (of ``sample``, or of the whole run); the one before it stands again.

        Without ``sample``, when the latest decision belongs to a batch the whole batch is undone
        (the decision returned carries its ``batch`` id). Returns the decision undone, or ``None``
        when there was nothing to undo. History is kept.
        """
        where, args = "run_id = ? AND undone = 0", [run_id]
        if sample is not None:
            where += " AND sample = ?"
            args.append(int(sample))
        with self._transaction() as conn:
            row = conn.execute(f"SELECT * FROM decisions WHERE {where} ORDER BY id DESC LIMIT 1", args).fetchone()
            if row is None:
                return None
            if sample is None and row["batch"] is not None:
                # The run's latest action was a batch: take all of it back, as it was done, at once.
                conn.execute(
                    "UPDATE decisions SET undone = 1 WHERE run_id = ? AND batch = ? AND undone = 0",
                    (run_id, row["batch"]),
                )
            else:
                conn.execute("UPDATE decisions SET undone = 1 WHERE id = ?", (row["id"],))
        return _decision(row)

    def record_decisions(self, run_id: str, decisions: Sequence[tuple[int, str, int | None]], *, note: str = "") -> str:
        """Append many decisions as one batch, in ONE transaction: all land or none; returns the batch id.

        Parameters
        ----------
        decisions : ``(sample, decision, new_label)`` triples; ``new_label`` is read for ``relabel`` only.
        note : saved with every decision of the batch.

        One :meth:`undo_batch` (or :meth:`undo_decision` without a sample, while the batch is the
        latest thing done) takes the whole batch back.
        """
        rows = []
        for sample, decision, new_label in decisions:
            if decision not in DECISIONS:
                raise InputError(f"unknown decision {decision!r}; choose one of {', '.join(DECISIONS)}")
            if decision == "relabel" and new_label is None:
                raise InputError(f"a relabel decision needs the new label (sample {sample})")
            rows.append((int(sample), decision, int(new_label) if decision == "relabel" else None))
        if not rows:
            raise InputError("a batch needs at least one sample; the selection is empty")
        if len({r[0] for r in rows}) != len(rows):
            raise InputError("a batch decides each sample once, but the selection repeats samples")
        self.get_run(run_id)
        if self.has_file(run_id, "labels.npz"):
            n = int(self.read_arrays(run_id, "labels.npz")["observed"].shape[0])
            k = int(self.read_json(run_id, "data.json", {}).get("num_classes") or 0)
            bad = [r[0] for r in rows if not 0 <= r[0] < n]
            if bad:
                raise InputError(f"samples must be in [0, {n}) for run {run_id!r}, got {bad[:3]}")
            bad = [r[2] for r in rows if r[2] is not None and k and not 0 <= r[2] < k]
            if bad:
                raise InputError(f"new labels must be in [0, {k}) for run {run_id!r}, got {bad[:3]}")
        batch, now = uuid.uuid4().hex[:12], time.time()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO decisions (run_id, sample, decision, new_label, note, created, batch) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, sample, decision, label, note, now, batch) for sample, decision, label in rows],
            )
        return batch

    def undo_batch(self, run_id: str, batch: str) -> list[Decision]:
        """Undo every standing decision of ``batch`` in one transaction; returns them (empty when none stood)."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM decisions WHERE run_id = ? AND batch = ? AND undone = 0 ORDER BY id", (run_id, batch)
            ).fetchall()
            conn.execute(
                "UPDATE decisions SET undone = 1 WHERE run_id = ? AND batch = ? AND undone = 0", (run_id, batch)
            )
        return [_decision(r) for r in rows]

    def current_decisions(self, run_id: str) -> dict[int, Decision]:
        """The standing decision per sample: the latest one not undone."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM decisions WHERE id IN "
                "(SELECT MAX(id) FROM decisions WHERE run_id = ? AND undone = 0 GROUP BY sample)",
                (run_id,),
            ).fetchall()
        return {r["sample"]: _decision(r) for r in rows}

    def decision_log(self, run_id: str) -> list[Decision]:
        """Every decision ever made on the run, oldest first, undone ones included."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM decisions WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        return [_decision(r) for r in rows]


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def check_run_id(run_id: str) -> str:
    """``run_id`` itself when it has the shape of a run id (letters, digits, ``-``, ``_``); else :class:`InputError`."""
    if not isinstance(run_id, str) or _RUN_ID.fullmatch(run_id) is None:
        raise InputError(
            f"{run_id!r} is not a run id (letters, digits, '-' and '_' only); `python -m inn_core list` shows the runs"
        )
    return run_id


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        created=row["created"],
        updated=row["updated"],
        config=json.loads(row["config"]),
        status=row["status"],
        progress=row["progress"],
        phase=row["phase"],
        eta=row["eta"],
        error=row["error"],
        pid=row["pid"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def _decision(row: sqlite3.Row) -> Decision:
    return Decision(
        id=row["id"],
        run_id=row["run_id"],
        sample=row["sample"],
        decision=row["decision"],
        new_label=row["new_label"],
        note=row["note"],
        created=row["created"],
        undone=bool(row["undone"]),
        batch=row["batch"],
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this very process counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
