"""`limner serve`: the OpenAI-compatible API and the web chat UI on uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from limner.cli.devices import add_device_option, pick_device
from limner.cli.errors import CliError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register three top-level commands: `serve` (the API and web UI), `keys` (API keys) and `worker`
    (runs jobs from a PostgreSQL-backed server's queue)."""
    p = sub.add_parser(
        "serve",
        help="serve the OpenAI-compatible API and the web chat UI",
        description="Serve OpenAI's Images API (/v1/images/generations, /edits, /variations), Responses API "
        "(/v1/responses with the image_generation tool), a minimal Files API (/v1/files) and /v1/models "
        "(point the openai SDK's base_url at http://HOST:PORT/v1), plus the web chat UI at /. History and images "
        "are kept under --data-dir. Every setting can also be given as a LIMNER_<SETTING> environment variable "
        "(LIMNER_PORT, LIMNER_MAX_QUEUE, ...); a flag wins over the environment.",
    )
    p.add_argument("--host", default=None, help="address to listen on (default $LIMNER_HOST, else 127.0.0.1: local "
                   "only)")
    p.add_argument("--port", type=int, default=None, help="port (default $LIMNER_PORT, else 8000; 0 picks a free one)")
    p.add_argument("--checkpoint", default=None,
                   help="model checkpoint (default: $LIMNER_CHECKPOINT or the shipped model)")
    p.add_argument("--data-dir", default=None, help="history database and images (default: $LIMNER_DATA_DIR, "
                   "else ~/.limner/server)")
    p.add_argument("--database-url", default=None, help="postgresql://... to keep history, keys and jobs in "
                   "PostgreSQL (default: $LIMNER_DATABASE_URL, else SQLite in --data-dir)")
    p.add_argument("--external-workers", action="store_true", help="run no generation here: `limner worker` "
                   "processes sharing --database-url do it (set --max-concurrency to the number of workers)")
    p.add_argument("--policy", default=None, help="safety policy file (default: the built-in policy)")
    p.add_argument("--max-concurrency", type=int, default=None,
                   help="generations running at once (default $LIMNER_MAX_CONCURRENCY, else 1)")
    p.add_argument("--max-queue", type=int, default=None,
                   help="requests waiting beyond those running; more get 429 (default $LIMNER_MAX_QUEUE, else 16)")
    p.add_argument("--max-body-mb", type=float, default=None, help="largest request body in MB (default 50)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--allow-private-image-urls", action="store_true",
                   help="let image inputs named by http(s) URL be fetched from private, loopback and link-local "
                   "addresses (off by default: a caller must not reach the server's own network; "
                   "$LIMNER_FETCH_ALLOW_PRIVATE=1 does the same)")
    add_device_option(p)
    p.add_argument("--require-keys", action="store_true",
                   help="require an API key even on loopback (keys are always required on other addresses)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)

    k = sub.add_parser("keys", help="create, list and revoke the server's API keys",
                       description="API keys of `limner serve`, stored hashed in the server's database.")
    k.add_argument("--data-dir", default=None, help="the server's data directory (default: as `limner serve`)")
    k.add_argument("--database-url", default=None, help="the server's PostgreSQL URL, if it uses one")
    ks = k.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    c = ks.add_parser("create", help="create a key and print its secret (shown once)")
    c.add_argument("name", help="who or what the key is for")
    c.add_argument("--rate-per-min", type=int, default=60, help="requests per minute allowed (default 60)")
    ks.add_parser("list", help="list keys (never their secrets)")
    r = ks.add_parser("revoke", help="revoke a key by its id")
    r.add_argument("key_id")
    k.set_defaults(func=run_keys)

    w = sub.add_parser("worker", help="run generation jobs from a PostgreSQL-backed `limner serve` queue",
                       description="Claim jobs that `limner serve --external-workers` queued in PostgreSQL "
                       "(SELECT ... FOR UPDATE SKIP LOCKED), run them with the model, safety stack and provenance, "
                       "and hand the results back. Start as many as you like, on any machine that reaches the "
                       "database.")
    w.add_argument("--database-url", default=os.environ.get("LIMNER_DATABASE_URL"),
                   help="the server's postgresql:// URL (default: $LIMNER_DATABASE_URL)")
    w.add_argument("--checkpoint", default=None, help="model checkpoint (default: as `limner serve`)")
    w.add_argument("--policy", default=None, help="safety policy file (default: the built-in policy)")
    w.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    add_device_option(w)
    w.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs (default: run forever)")
    w.add_argument("--lease-s", type=float, default=None,
                   help="seconds without a heartbeat after which a running job's worker counts as gone and this "
                   "worker takes the job over (default 60; it beats every quarter of that)")
    w.set_defaults(func=run_worker)


def run(args: argparse.Namespace) -> int:
    """Run `limner serve`: check the address and checkpoint, load the model, safety stack and stores, then
    serve on uvicorn until stopped. Returns 0; CliError on bad settings or when loading fails."""
    from limner.server.settings import load_settings

    ckpt = args.checkpoint or os.environ.get("LIMNER_CHECKPOINT")
    from limner.model.checkpoint import checkpoint_exists

    if ckpt and not checkpoint_exists(ckpt):
        raise CliError(f"checkpoint {ckpt!r} does not exist")
    if args.checkpoint is None and not ckpt:
        from limner.engine.generator import default_checkpoint

        if not default_checkpoint().is_file():
            raise CliError(f"the shipped model {str(default_checkpoint())!r} is missing; pass --checkpoint")
    body_mb = args.max_body_mb
    try:  # flags not given (None) leave the environment's LIMNER_* values, else the defaults
        settings = load_settings(host=args.host, port=args.port, checkpoint=ckpt,
                                 data_dir=Path(args.data_dir) if args.data_dir else None,
                                 policy=args.policy, max_concurrency=args.max_concurrency,
                                 max_queue=args.max_queue, torch_threads=args.threads,
                                 device=pick_device(args.device),
                                 max_body_bytes=int(body_mb * 1024 * 1024) if body_mb is not None else None,
                                 require_keys=True if args.require_keys else None,
                                 external_workers=args.external_workers or None,
                                 fetch_allow_private=True if args.allow_private_image_urls else None,
                                 database_url=args.database_url or None)
    except ValueError as e:
        raise CliError(str(e)) from e
    try:
        ipaddress.ip_address(settings.host)
    except ValueError:
        if settings.host != "localhost":
            raise CliError(f"host {settings.host!r} is not an IP address") from None
    import uvicorn

    from limner.server.app import create_app
    from limner.server.deps import AppState

    try:  # load before serving, so a bad checkpoint or database is a one-line error, not a startup traceback
        state = AppState.load(settings)
    except Exception as e:
        raise CliError(f"could not start: {type(e).__name__}: {e}") from e

    if not settings.local_mode:
        print("limner: API keys are required (create one with `limner keys create NAME`)", flush=True)
    print(f"limner: serving on http://{settings.host}:{settings.port} (data in {settings.data_dir})", flush=True)
    uvicorn.run(create_app(settings, state=state), host=settings.host, port=settings.port, log_level=args.log_level,
                timeout_graceful_shutdown=5)
    return 0


def run_keys(args: argparse.Namespace) -> int:
    """Run `limner keys create|list|revoke` on the server's store; `create` prints the id and the secret,
    shown only then. Returns 0; CliError on bad settings, a rejected key, or an unknown key id."""
    from limner.server.auth import Keys
    from limner.server.settings import load_settings
    from limner.server.store import Store

    try:
        settings = load_settings(data_dir=Path(args.data_dir) if args.data_dir else None,
                                 database_url=args.database_url or None)
    except ValueError as e:
        raise CliError(str(e)) from e
    store = Store(settings.database)
    try:
        keys = Keys(store)
        if args.keys_command == "create":
            try:
                key, secret = keys.create(args.name, args.rate_per_min)
            except ValueError as e:
                raise CliError(str(e)) from e
            print(f"{key.id}\t{secret}")
            print("limner: store the secret now; it is not shown again", file=sys.stderr)
        elif args.keys_command == "list":
            for key in keys.list():
                state = "revoked" if key.revoked_at else "active"
                print(f"{key.id}\t{key.name}\t{key.rate_per_min}/min\t{state}")
        elif not keys.revoke(args.key_id):
            raise CliError(f"no active key with id {args.key_id!r}")
    finally:
        store.close()
    return 0


def run_worker(args: argparse.Namespace) -> int:
    """Run `limner worker`: claim and run jobs queued by `limner serve --external-workers` until --max-jobs
    (default: forever). Returns 0; CliError without a postgresql:// URL or with a missing checkpoint."""
    from limner.server.store import Store, is_database_url

    if not args.database_url or not is_database_url(args.database_url):
        raise CliError(f"--database-url must be a postgresql:// URL, got {args.database_url!r}")
    from limner.model.checkpoint import checkpoint_exists

    if args.checkpoint and not checkpoint_exists(args.checkpoint):
        raise CliError(f"checkpoint {args.checkpoint!r} does not exist")
    from limner.server.store import LEASE_S

    lease_s = LEASE_S if args.lease_s is None else args.lease_s
    if not 1 <= lease_s <= 3600:
        raise CliError(f"--lease-s must be within 1..3600 seconds, got {args.lease_s}")
    device = pick_device(args.device)
    import logging

    import torch

    from limner.pipeline import Pipeline
    from limner.server.engine import Runner
    from limner.server.remote import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    from limner.model.checkpoint import CheckpointError
    from limner.safety.policy import PolicyError

    try:
        pipe = Pipeline.from_pretrained(args.checkpoint, policy=args.policy, device=device)
    except (CheckpointError, PolicyError, OSError) as e:  # a corrupt model or policy: a message, not a traceback
        raise CliError(f"cannot load the model for the worker: {e}") from e
    if pipe.safety is not None:
        pipe.safety.warm()
    store = Store(args.database_url)
    print("limner: worker ready", flush=True)
    try:
        serve_forever(store, Runner(pipe), max_jobs=args.max_jobs, lease_s=lease_s)
    finally:
        store.close()
    return 0
