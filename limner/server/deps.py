"""The app's shared state (model, store, queue) and the FastAPI dependencies that hand it to routes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from limner.pipeline import Pipeline
from limner.server.auth import Keys, RateLimiter, owner_of
from limner.server.engine import Runner
from limner.server.errors import model_not_found
from limner.server.jobs import JobQueue
from limner.server.remote import RemoteRunner
from limner.server.settings import ServerSettings
from limner.server.store import Store

log = logging.getLogger("limner.server")



@dataclass
class AppState:
    """Everything the routes share: settings, the loaded pipeline, the runner, store and job queue, and the
    keys; built once at start-up by `load` and kept on `app.state.limner`."""

    settings: ServerSettings
    pipe: Pipeline
    runner: Runner | RemoteRunner
    store: Store
    queue: JobQueue
    checkpoint_id: str  # the loaded checkpoint's own model id (its file stem)
    keys: Keys
    limiter: RateLimiter

    @staticmethod
    def load(settings: ServerSettings) -> AppState:
        """Open the store and the job queue, and load the pipeline on the job thread; what was opened is
        closed again if loading fails."""
        from limner.engine.generator import default_checkpoint

        ckpt = Path(settings.checkpoint) if settings.checkpoint else default_checkpoint()
        store = Store(settings.database)  # unfinished jobs of a previous run resume in the app's lifespan
        queue = JobQueue(store, settings.max_concurrency, settings.max_queue, settings.retry_after_s, settings.node)

        def load_pipeline() -> Pipeline:
            if settings.torch_threads:
                import torch

                torch.set_num_threads(settings.torch_threads)
            pipe = Pipeline.from_pretrained(ckpt, safety=settings.safety, policy=settings.policy,
                                            device=settings.device)
            if settings.warm and pipe.safety is not None:
                pipe.safety.warm()
            return pipe

        try:
            # on the job thread, not here: see `JobQueue.call` (torch's OpenMP threads behave as in the library)
            pipe = queue.call(load_pipeline)
        except BaseException:
            queue.shutdown()
            store.close()
            raise
        runner = RemoteRunner(store) if settings.external_workers else Runner(pipe)
        return AppState(settings, pipe, runner, store, queue, ckpt.stem, Keys(store), RateLimiter())

    def close(self) -> None:
        """Shut the queue down (running jobs finish first), then close the store, the safety models and
        the provenance stage."""
        self.queue.shutdown()
        self.store.close()
        if self.pipe.safety is not None:
            self.pipe.safety.close()
        self.pipe.provenance.close()

    def model_ids(self) -> list[str]:
        """The ids `/v1/models` lists: limner, the checkpoint's own id, and the alias table
        (`ServerSettings.model_aliases`)."""
        ids = ["limner"]
        if self.checkpoint_id not in ids:
            ids.append(self.checkpoint_id)
        return ids + [a for a in self.settings.model_aliases if a not in ids]

    def resolve_image_model(self, model: str | None) -> str:
        """`limner`, the checkpoint's id, the alias table and any later `gpt-image-*` name the loaded model;
        others are 404."""
        if model is None or model in self.model_ids() or model.startswith("gpt-image-"):
            return "limner"
        raise model_not_found(model)

    def resolve_chat_model(self, model: str) -> str:
        """The Responses `model` (a chat model at OpenAI): limner serves any `gpt-*`/`o*` name with itself."""
        if model in ("limner", self.checkpoint_id) or model.startswith(("gpt-", "chatgpt-")) or \
                (len(model) > 1 and model[0] == "o" and model[1].isdigit()):
            return model
        raise model_not_found(model)


def get_state(request: Request) -> AppState:
    """FastAPI dependency: the app's shared AppState."""
    return request.app.state.limner


def get_owner(request: Request) -> str:
    """The caller's owner id (key id or "local"); raises 401/429 as OpenAI-shaped errors."""
    st: AppState = request.app.state.limner
    return owner_of(request, st.keys, st.limiter, st.settings.local_mode)


State = Annotated[AppState, Depends(get_state)]  # a route's `st: State` parameter
Owner = Annotated[str, Depends(get_owner)]  # a route's `owner: Owner` parameter: authenticates the caller
