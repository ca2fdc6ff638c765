"""A restart keeps the queue: jobs the previous process left queued or running are run again.

Every admitted job is stored with its owner and a *recipe*: JSON holding what the job needs to redo its work
(the GenSpec with any uploads, and for a Responses turn the request, the tool and the ids already handed
out). The recipe is cleared when the job ends, whatever the ending. So at start-up, the jobs of this node that
are still `queued` or `running` are exactly the ones a crash or a restart cut short; they are queued again
ahead of new requests, under their original ids.

Their clients are gone, so a resumed job answers nobody: its images land in the history and gallery, and a
resumed Responses turn is stored under the response id its stream had already announced, so that
`GET /v1/responses/{id}` finds it. No half-written record is possible, as for any job: the store writes a
job's records in one transaction. A job that was cut short `MAX_ATTEMPTS` times (one that crashes the server,
say) is marked `interrupted` instead of being retried for ever.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from limner.server.deps import AppState
from limner.server.errors import JobCancelled
from limner.server.jobs import Job
from limner.server.serving_images import image_work_from_recipe
from limner.server.serving_responses import Turn, response_work

log = logging.getLogger("limner.server")

MAX_ATTEMPTS = 2  # restarts a job survives before it is given up as interrupted


def _work(state: AppState, recipe: dict[str, Any], owner: str) -> Callable[[Job], Any]:
    if recipe.get("type") == "images":
        return image_work_from_recipe(state, recipe, owner)
    if recipe.get("type") == "response":
        return response_work(state, Turn.from_recipe(recipe), owner)
    raise ValueError(f"unknown recipe type {recipe.get('type')!r}")


def _report(job_id: str, fut: asyncio.Future[Any]) -> None:
    if fut.cancelled():
        return
    err = fut.exception()
    if err is None:
        log.info("resumed job %s completed", job_id)
    elif not isinstance(err, JobCancelled):  # a safety refusal or a bad recipe: recorded in the jobs table
        log.warning("resumed job %s failed: %s: %s", job_id, type(err).__name__, err)


def resume_unfinished(state: AppState) -> list[asyncio.Future[Any]]:
    """Queue this node's unfinished jobs again (call with the event loop running, before serving)."""
    futures = []
    for row in state.store.reclaim_unfinished_jobs(state.settings.node, MAX_ATTEMPTS):
        try:
            work = _work(state, json.loads(row["recipe"]), row["owner"] or "local")
        except Exception as e:  # a recipe this version cannot read: give the job up, keep starting
            log.warning("job %s cannot be resumed (%s: %s)", row["id"], type(e).__name__, e)
            state.store.job_event(row["id"], row["kind"], "interrupted", f"cannot resume: {e}"[:1000])
            continue
        job = state.queue.readmit(row["id"], row["kind"])
        fut = state.queue.start(job, work)
        fut.add_done_callback(functools.partial(_report, row["id"]))
        futures.append(fut)
    if futures:
        log.warning("resumed %d jobs that a previous run left unfinished", len(futures))
    return futures
