"""The job queue: bounded concurrency, a bounded wait queue (429 + Retry-After beyond it), cancellation.

Generation runs in worker threads (torch releases the GIL); the event loop only waits. A job's progress
events cross from the worker thread to the request's coroutine through an asyncio queue. A client that
disconnects sets the job's cancel flag; the engine's progress callback checks it at every token and
stops the job by raising `JobCancelled`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from limner.server.errors import JobCancelled, queue_full
from limner.server.store import Store, new_id

log = logging.getLogger("limner.server")
T = TypeVar("T")


@dataclass
class Job:
    """One admitted job: its id (as in the jobs table), the cancel flag the engine polls, and the queue of
    events its worker thread sends to the request's coroutine."""

    kind: str
    loop: asyncio.AbstractEventLoop
    id: str = field(default_factory=lambda: new_id("job"))
    cancel: threading.Event = field(default_factory=threading.Event)
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)

    def emit(self, kind: str, value: Any = None) -> None:
        """Called from the worker thread."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    def check(self) -> None:
        """Raise JobCancelled if the job has been cancelled; the engine calls it at every progress tick."""
        if self.cancel.is_set():
            raise JobCancelled(self.id)


class JobQueue:
    """Runs jobs on `max_concurrency` threads, with at most `max_queue` more waiting (429 beyond), and
    records each job's state in the store."""

    def __init__(self, store: Store, max_concurrency: int, max_queue: int, retry_after_s: int, node: str) -> None:
        self.store = store
        self.node = node
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="limner-job")
        self._lock = threading.Lock()
        self.admitted = 0  # running + waiting

    @property
    def capacity(self) -> int:
        """How many jobs can be admitted at once: running plus waiting."""
        return self.max_concurrency + self.max_queue

    def stats(self) -> dict[str, int]:
        """Admitted jobs and the queue's limits, for `/v1/limner/status`."""
        return {"admitted": self.admitted, "max_concurrency": self.max_concurrency, "max_queue": self.max_queue}

    def admit(self, kind: str, *, owner: str | None = None, recipe: str | None = None) -> Job:
        """Reserve a slot or raise the 429 APIError; the caller must `start` the job.

        `recipe` (JSON, see `limner.server.recovery`) is kept with the job until it ends, so that a restart
        can run a job it finds unfinished again.
        """
        with self._lock:
            if self.admitted >= self.capacity:
                raise queue_full(self.retry_after_s)
            self.admitted += 1
        job = Job(kind, asyncio.get_running_loop())
        try:
            self.store.job_event(job.id, kind, "queued", node=self.node, owner=owner, recipe=recipe)
        except Exception:
            self._release()
            raise
        return job

    def readmit(self, job_id: str, kind: str) -> Job:
        """A job a previous process left unfinished, already queued in the store: it takes a slot regardless
        of capacity (it was admitted once; the previous process held at most `capacity` of them)."""
        with self._lock:
            self.admitted += 1
        return Job(kind, asyncio.get_running_loop(), id=job_id)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn()` on the job thread and wait for it: the server loads and warms its models this way.

        Why: torch's CPU kernels use OpenMP (GNU libgomp), which keeps a team of helper threads per thread
        that runs torch code. Once the process holds more of those threads than there are CPUs (one team
        made by loading the models on the main thread, another by the jobs on the job thread), libgomp
        stops spinning between parallel regions and sleeps instead, and every one of the thousands of
        small regions of a generation then waits on a wake-up. On an idle 2-core machine that made an
        image through the API 65% slower than the same `Pipeline` call in a process of its own, with no
        more CPU time. With all torch work on the job thread, the server has one team, as the library
        has, and draws at the library's speed. (Where other work keeps the CPUs busy, spinning costs more
        than it saves: set OMP_WAIT_POLICY=PASSIVE, or --threads 1, for the server as for the library.)
        """
        return self._pool.submit(fn).result()

    def _release(self) -> None:
        with self._lock:
            self.admitted -= 1

    def start(self, job: Job, fn: Callable[[Job], Any]) -> asyncio.Future[Any]:
        """Run `fn(job)` in a worker; the returned future resolves to its result (or raises its error)."""

        def work() -> Any:
            try:
                if job.cancel.is_set():
                    raise JobCancelled(job.id)
                self.store.job_event(job.id, job.kind, "running")
                out = fn(job)
                self.store.job_event(job.id, job.kind, "completed")
                return out
            except JobCancelled:
                self.store.job_event(job.id, job.kind, "cancelled")
                raise
            except Exception as e:
                self.store.job_event(job.id, job.kind, "failed", f"{type(e).__name__}: {e}"[:1000])
                raise
            finally:
                self._release()
                job.emit("end")

        return asyncio.wrap_future(self._pool.submit(work))

    def shutdown(self) -> None:
        """Stop the threads: running jobs finish, waiting ones are dropped and stay `queued` in the store,
        so the next start resumes them."""
        self._pool.shutdown(wait=True, cancel_futures=True)


async def run_until_disconnect(fut: asyncio.Future[Any], job: Job, is_disconnected: Callable[[], Any]) -> Any:
    """Await a job's result; if the client disconnects first, cancel the job and re-raise JobCancelled."""
    while True:
        done, _ = await asyncio.wait({fut}, timeout=0.25)
        if done:
            return fut.result()
        if await is_disconnected():
            job.cancel.set()
            try:
                await fut
            except Exception:
                pass
            raise JobCancelled(job.id)


async def job_events(job: Job) -> AsyncIterator[tuple[str, Any]]:
    """The job's progress events until it ends."""
    while True:
        kind, value = await job.events.get()
        if kind == "end":
            return
        yield kind, value
