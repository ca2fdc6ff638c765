"""Generation on separate `limner worker` processes that share the API's PostgreSQL database.

The API process enqueues each job's GenSpec in `remote_jobs`; any worker claims it with
`SELECT ... FOR UPDATE SKIP LOCKED` (so two workers never take the same job), runs it, and writes partial
previews to `remote_events` and the outcome (or the error) to the job row. On the API side `RemoteRunner`
stands in for `Runner`: it forwards previews to the request as they arrive and sets the job's cancel flag
when the client leaves, which the worker polls. Everything else (validation, persistence, the answer) stays
in the API process, unchanged.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from PIL import Image

from limner.errors import InvalidRequest, SafetyBlocked
from limner.pipeline import GeneratedImage
from limner.server.engine import GenOutcome, GenSpec, Runner, spec_from_json, spec_to_json
from limner.server.errors import JobCancelled
from limner.server.jobs import Job
from limner.server.store import LEASE_S, Store

log = logging.getLogger("limner.worker")
POLL_S = 0.05
FINISH_TRIES = 5  # attempts to record a finished job's outcome before leaving it to the lease


class _Decision:
    """A refused Decision as it crossed the database: what the API's error needs."""

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d
        self.stage, self.categories, self.reason = d["stage"], d["categories"], d["reason"]

    def moderation_details(self) -> dict[str, Any]:
        return dict(self._d)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._d)


class RemoteRunner:
    """Runner-compatible: `run(spec, job)` executes on whichever worker claims it."""

    def __init__(self, store: Store, timeout_s: float = 3600) -> None:
        if not store.postgres:
            raise ValueError("external workers need a PostgreSQL database (--database-url)")
        self.store = store
        self.timeout_s = timeout_s

    def run(self, spec: GenSpec, job: Job) -> GenOutcome:
        """Queue `spec` in `remote_jobs` (once, even for a resumed job), forward the worker's previews to
        `job` and return its outcome; raises the worker's error, JobCancelled, or TimeoutError after `timeout_s`."""
        with self.store.transaction() as db:
            # ON CONFLICT: a job resumed after an API restart may already be queued (or done) on the workers
            db.execute("INSERT INTO remote_jobs (id, created_at, status, spec, cancel) VALUES (?,?,?,?,0) "
                       "ON CONFLICT (id) DO NOTHING", (job.id, time.time(), "queued", spec_to_json(spec)))
        seen, deadline = 0, time.time() + self.timeout_s
        while time.time() < deadline:
            if job.cancel.is_set():
                with self.store.transaction() as db:
                    db.execute("UPDATE remote_jobs SET cancel=1 WHERE id=?", (job.id,))
                raise JobCancelled(job.id)
            for ev in self.store._query("SELECT seq, kind, data FROM remote_events WHERE job_id=? AND seq>? "
                                        "ORDER BY seq", (job.id, seen)):
                seen = ev["seq"]
                job.emit(ev["kind"], (json.loads(ev["data"])["index"], base64.b64decode(json.loads(ev["data"])["b64"]))
                         if ev["kind"] == "partial" else None)
            row = self.store._query("SELECT status, result, error FROM remote_jobs WHERE id=?", (job.id,))[0]
            if row["status"] == "done":
                return _outcome(json.loads(row["result"]))
            if row["status"] in ("failed", "cancelled"):
                raise _error(json.loads(row["error"] or "{}"))
            time.sleep(POLL_S)
        # Nobody will read the result: withdraw a job no worker took, and ask a running one to stop, so that a
        # worker that comes up later does not spend its time on it.
        with self.store.transaction() as db:
            db.execute("UPDATE remote_jobs SET status='cancelled', error=? WHERE id=? AND status='queued'",
                       (json.dumps({"kind": "cancelled", "message": "timed out waiting for a worker"}), job.id))
            db.execute("UPDATE remote_jobs SET cancel=1 WHERE id=? AND status='running'", (job.id,))
        raise TimeoutError(f"no worker finished job {job.id} in {self.timeout_s:.0f} s; is `limner worker` running?")


def _outcome(r: dict[str, Any]) -> GenOutcome:
    images = []
    for im in r["images"]:
        data = base64.b64decode(im["data"])
        images.append(GeneratedImage(Image.open(io.BytesIO(data)), data, im["format"], im["payload"], im["record_id"]))
    return GenOutcome(r["request_id"], r["prompt"], r["seed"], images, tuple(r["size"]), r["usage"],
                      r["image_tokens"], r["safety"], r.get("revised_prompt"), r.get("action", "generate"),
                      r.get("plan"))


def _error(e: dict[str, Any]) -> Exception:
    kind, msg = e.get("kind"), e.get("message", "the worker failed")
    if kind == "blocked":
        return SafetyBlocked(_Decision(e["decision"]))
    if kind == "invalid":
        return InvalidRequest(msg)
    if kind == "cancelled":
        return JobCancelled(msg)
    return RuntimeError(f"worker error: {msg}")


class _WorkerJob:
    """What Runner.run calls back: previews go to the database; the cancel flag, and whether this worker still
    holds the job (another may have taken it over after a lapsed lease), are read from it."""

    def __init__(self, store: Store, job_id: str, worker: str) -> None:
        self.store, self.id, self.worker, self._checked = store, job_id, worker, 0.0
        # an earlier attempt's previews stay; this one numbers on from them, so the API's reader sees them in order
        self.seq = int(store._query("SELECT COALESCE(MAX(seq), 0) AS n FROM remote_events WHERE job_id=?",
                                    (job_id,))[0]["n"])

    def check(self) -> None:
        now = time.monotonic()
        if now - self._checked < 0.2:  # a database read per token would cost more than the token
            return
        self._checked = now
        row = self.store._query("SELECT cancel, worker FROM remote_jobs WHERE id=?", (self.id,))[0]
        if row["cancel"] or row["worker"] != self.worker:
            raise JobCancelled(self.id)

    def emit(self, kind: str, value: Any = None) -> None:
        if kind != "partial":
            return
        self.seq += 1
        idx, data = value
        with self.store.transaction() as db:  # only while the job is still this worker's
            db.execute("INSERT INTO remote_events (job_id, seq, kind, data) SELECT ?,?,?,? WHERE EXISTS "
                       "(SELECT 1 FROM remote_jobs WHERE id=? AND worker=?) ON CONFLICT DO NOTHING",
                       (self.id, self.seq, kind, json.dumps({"index": idx, "b64": base64.b64encode(data).decode()}),
                        self.id, self.worker))


class Heartbeat:
    """Renews a worker's lease on its job every `every_s` seconds, on a thread, while the job runs; a worker
    killed mid-job stops beating, and another worker takes the job over once the lease lapses."""

    def __init__(self, store: Store, job_id: str, worker: str, every_s: float) -> None:
        self.store, self.job_id, self.worker, self.every_s = store, job_id, worker, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if not self.store.heartbeat_remote_job(self.job_id, self.worker):
                    return  # taken over or ended: nothing left to renew
            except Exception:  # the database blinked: the next beat tries again, the lease is long enough
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def work_one(store: Store, runner: Runner, job_id: str, spec_json: str, worker: str = "",
             lease_s: float = LEASE_S) -> str:
    """Run one claimed job and record its outcome; returns the final status ("lost" when another worker
    took the job over meanwhile: its outcome is theirs to write)."""
    status, result, error = "done", None, None
    try:
        with Heartbeat(store, job_id, worker, lease_s / 4):
            out = runner.run(spec_from_json(spec_json), _WorkerJob(store, job_id, worker))  # type: ignore[arg-type]
        result = {"request_id": out.request_id, "prompt": out.prompt, "seed": out.seed, "size": list(out.size),
                  "usage": out.usage, "image_tokens": out.image_tokens, "safety": out.safety,
                  "revised_prompt": out.revised_prompt, "action": out.action, "plan": out.plan,
                  "images": [{"data": base64.b64encode(i.data).decode(), "format": i.format, "payload": i.payload,
                              "record_id": i.record_id} for i in out.images]}
    except SafetyBlocked as e:
        status, error = "failed", {"kind": "blocked", "decision": e.decision.moderation_details()}
    except InvalidRequest as e:
        status, error = "failed", {"kind": "invalid", "message": str(e)}
    except JobCancelled as e:
        status, error = "cancelled", {"kind": "cancelled", "message": str(e)}
    except Exception as e:  # the worker keeps serving; the API answers 500 for this job
        log.exception("job %s failed", job_id)
        status, error = "failed", {"kind": "error", "message": f"{type(e).__name__}: {e}"}
    for attempt in range(FINISH_TRIES):  # a database blip must not throw a finished result away
        try:
            with store.transaction() as db:
                # only while the job is still this worker's: a worker that lost its lease must not overwrite
                # the outcome of the one that took over
                got = db.execute("UPDATE remote_jobs SET status=?, result=?, error=? WHERE id=? AND worker=? "
                                 "AND status='running'", (status, json.dumps(result) if result else None,
                                                          json.dumps(error) if error else None, job_id, worker))
                if got.rowcount != 1:
                    return "lost"
                db.execute("DELETE FROM remote_events WHERE job_id=?", (job_id,))
            return status
        except Exception:
            log.warning("recording job %s failed (try %d of %d)", job_id, attempt + 1, FINISH_TRIES, exc_info=True)
            time.sleep(min(2.0**attempt, 10.0))
    return "lost"  # its lease lapses and another worker runs it again


def serve_forever(store: Store, runner: Runner, idle_s: float = 0.2, max_jobs: int | None = None,
                  lease_s: float = LEASE_S) -> int:
    """Claim and run jobs until interrupted (or `max_jobs` done); returns the number run."""
    # host and pid name the worker in logs; the random part keeps two containers' "pid 1" apart
    name, done, backoff = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", 0, idle_s
    while max_jobs is None or done < max_jobs:
        try:
            # the oldest queued job, or one whose worker's lease lapsed; never one another worker holds
            got = store.claim_remote_job(name, lease_s=lease_s)
        except Exception:  # the database restarting: wait and try again rather than exit
            log.warning("claiming a job failed; retrying in %.1f s", backoff, exc_info=True)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            continue
        backoff = idle_s
        if got is None:
            time.sleep(idle_s)
            continue
        status = work_one(store, runner, *got, worker=name, lease_s=lease_s)
        log.info("job %s: %s", got[0], status)
        done += 1
    return done
