"""Load and latency bench of `limner serve` on loopback, every figure measured in one run.

Starts the real server (`python -m limner.cli.main serve`) as a subprocess on a free loopback port with a
temporary data directory, drives it with the official `openai` client, and always stops it at the end.
It prints, for the targets of issue 6:

1. overhead of the API over the engine for one 256x256 image, two ways, measured on the same --repeats
   calls (after one warm-up call of each path):
   - *same request* (the target's figure): the wall time of each `images.generate` call through the API,
     as the client sees it, against the server's engine time for that very call, read from the server's
     database: from the job's start (`jobs.started_at`, written just before the `Pipeline` call) to its
     image's row (`images.created_at`, set as soon as the Pipeline returns). The engine side is the
     `Pipeline` call: prompt safety -> drawing -> output safety -> provenance watermark and C2PA
     signature -> PNG encode. The difference is everything the API adds: the request's JSON, loopback
     HTTP, validation, admission to the queue and the job's state changes (database writes), the hand-off
     to the job thread, writing the image to the history, base64 and the JSON answer, and the SDK decoding
     it. Both sides are the same request in the same process at the same moment, so other work on the
     machine weighs on both alike;
   - *separate engine process* (a cross-check): the median API wall time against the median of --repeats
     direct `limner.pipeline.Pipeline` calls (same checkpoint, threads, prompt, seeds, quality, safety and
     provenance; timed inside that process, so no IPC) in a separate process, interleaved one call at a
     time (ABBA order) so that they never run at the same time. On a 2-core machine the two processes
     then run at different moments, and a training run or any other load can favour either side: this
     figure measures the machine as much as the API. It also reports the CPU seconds each process spent
     per call, which other work on the machine cannot distort;
2. time to the first partial image / time to the final image, streaming with partial_images = 1, 2, 3
   (SSE events `image_generation.partial_image` and `image_generation.completed`);
3. load: --clients concurrent clients posting generations for --duration seconds (requests in flight at
   the end are awaited and counted): throughput, p50/p99 latency, errors by type (429s apart), and the
   check p99 <= 2 x (single-request latency x queue depth), with the single-request latency of step 1
   and queue depth = min(clients, max-concurrency + max-queue), the requests the server holds at once.

    .venv/bin/python bench/serve.py [--checkpoint PATH] [--clients 16] [--duration 60] [--threads N]
                                    [--quality low] [--repeats 10] [--stream-repeats 5] [--json OUT]
                                    [--parts overhead,streaming,load]
                                    [--database-url postgresql://... [--workers 2 [--kill-worker-at S]]]

With --database-url the server keeps its history (and with --workers, its queue) in PostgreSQL, and generation
runs on --workers `limner worker` processes; --kill-worker-at S kills one with SIGKILL S seconds into the load
(mid-job) and starts a replacement. After the load the bench checks the store: every job ended, every image
has its bytes, and the history holds exactly the images the clients were answered with.

Without --checkpoint it uses the shipped model (`limner.engine.generator.default_checkpoint()`) and exits
non-zero if that file is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serve_procs import (  # bench/ is sys.path[0]
    PROMPT,
    SIZE,
    EngineWorker,
    Server,
    Workers,
    cpu_seconds,
    engine_worker,
    tail,
)

# -- small helpers ------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    return xs[max(0, math.ceil(q / 100 * len(xs)) - 1)]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def finite(x: Any) -> Any:
    """`x` with every nan/inf float replaced by None, so the JSON file is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    return x


def fmt_s(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f} s"


# -- the measurements ---------------------------------------------------------------------------------------


def is_refusal(exc: BaseException) -> bool:
    """A safety refusal (`moderation_blocked` / `image_content_policy_violation`) is a complete answer of the
    service, not a failure: the output classifiers run on every image, and the shipped model's abstract shapes
    are now and then refused. The bench counts refusals apart instead of aborting on them."""
    return getattr(exc, "code", None) in ("moderation_blocked", "image_content_policy_violation")


def make_client(url: str, timeout: float) -> Any:
    from openai import OpenAI

    # no retries: a 429 or an error must be seen and counted, not hidden by the SDK's automatic retry
    return OpenAI(base_url=f"{url}/v1", api_key="local", max_retries=0, timeout=timeout)


def api_generate(client: Any, quality: str, seed: int | None = None) -> float:
    extra = {"seed": seed} if seed is not None else None
    t = time.perf_counter()
    r = client.images.generate(model="limner", prompt=PROMPT, size=SIZE, quality=quality, extra_body=extra)
    dt = time.perf_counter() - t
    if not r.data or not r.data[0].b64_json:
        raise RuntimeError("the API answered without an image")
    return dt


def server_engine_seconds(db: Path) -> float:
    """The server's engine time for its latest request, from its database: from the job's start
    (`jobs.started_at`, written just before the Pipeline call) to its image's row (`images.created_at`, set
    as soon as the Pipeline returns, before the history is written)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        job = conn.execute("SELECT started_at FROM jobs WHERE status='completed' ORDER BY finished_at DESC "
                           "LIMIT 1").fetchone()
        image = conn.execute("SELECT MAX(created_at) FROM images").fetchone()
    if not job or not image or job[0] is None or image[0] is None:
        return math.nan
    return float(image[0]) - float(job[0])


def measure_overhead(client: Any, server: Server, worker: EngineWorker, db: Path,
                     args: argparse.Namespace) -> dict[str, Any]:
    """Per call: the API's wall time, the server's engine time for that call, the direct engine's wall time,
    and the CPU seconds each process spent."""
    api_generate(client, args.quality, seed=0)  # warm-up of both paths, not counted
    worker.generate(0)
    api: list[float] = []
    engine: list[float] = []
    direct: list[float] = []
    api_cpu: list[float] = []
    direct_cpu: list[float] = []

    def one_api(seed: int) -> None:
        c = cpu_seconds(server.proc.pid)
        api.append(api_generate(client, args.quality, seed))
        api_cpu.append(cpu_seconds(server.proc.pid) - c)
        engine.append(server_engine_seconds(db))  # the calls are sequential: the latest job is this call's

    def one_direct(seed: int) -> None:
        c = cpu_seconds(worker.proc.pid)
        direct.append(worker.generate(seed))
        direct_cpu.append(cpu_seconds(worker.proc.pid) - c)

    for i in range(args.repeats):
        seed = 1000 + i
        # ABBA order: a slow drift of the machine weighs on both paths alike
        first, second = (one_api, one_direct) if i % 4 in (0, 3) else (one_direct, one_api)
        first(seed)
        second(seed)
    m_api, m_direct = median(api), median(direct)
    c_api, c_direct = median(api_cpu), median(direct_cpu)
    added = [a - j for a, j in zip(api, engine, strict=True)]
    same = [a / j - 1 for a, j in zip(api, engine, strict=True) if j > 0]
    return {"repeats": args.repeats,
            # same request: API wall vs the server's engine time for it
            "server_engine_median_s": median(engine), "api_added_median_s": median(added),
            "same_request_overhead": median(same),
            # separate engine process
            "api_median_s": m_api, "direct_median_s": m_direct,
            "ratio": m_api / m_direct, "overhead": m_api / m_direct - 1,
            "api_cpu_median_s": c_api, "direct_cpu_median_s": c_direct, "cpu_overhead": c_api / c_direct - 1,
            "api_s": api, "server_engine_s": engine, "direct_s": direct, "api_cpu_s": api_cpu,
            "direct_cpu_s": direct_cpu}


def stream_once(client: Any, quality: str, partials: int, seed: int | None = None) -> tuple[float, float, list[str]]:
    """(time to the first partial image, time to the completed image, event types) of one streamed request.

    A safety refusal, before or during the stream, ends the events with "refused" (and final stays NaN)."""
    t0 = time.perf_counter()
    first = final = math.nan
    types: list[str] = []
    extra = {"seed": seed} if seed is not None else None
    try:
        stream = client.images.generate(model="limner", prompt=PROMPT, size=SIZE, quality=quality, stream=True,
                                        partial_images=partials, extra_body=extra)
        for ev in stream:
            now = time.perf_counter() - t0
            types.append(ev.type)
            if ev.type == "image_generation.partial_image" and math.isnan(first):
                first = now
            elif ev.type == "image_generation.completed":
                final = now
    except Exception as e:
        if not is_refusal(e):
            raise
        types.append("refused")
    return first, final, types


def measure_streaming(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    stream_once(client, args.quality, 1, seed=0)  # warm-up
    out: dict[str, Any] = {}
    for p in (1, 2, 3):
        firsts: list[float] = []
        finals: list[float] = []
        ratios: list[float] = []
        bad: list[list[str]] = []
        refused = 0
        for i in range(args.stream_repeats):
            # fixed seeds: the same requests on every run, so that two runs compare like with like
            first, final, types = stream_once(client, args.quality, p, seed=2000 + i)
            expected = ["image_generation.partial_image"] * p + ["image_generation.completed"]
            if types and types[-1] == "refused":
                refused += 1  # an answer, but no final image: no ratio
                continue
            if types != expected:
                bad.append(types)
            if not (math.isnan(first) or math.isnan(final)):
                firsts.append(first)
                finals.append(final)
                ratios.append(first / final)
        out[str(p)] = {"partial_images": p, "first_partial_median_s": median(firsts),
                       "final_median_s": median(finals), "ratio_median": median(ratios),
                       "ratios": ratios, "unexpected_event_sequences": bad, "refused": refused}
    return out


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # answered requests: images and safety refusals
    refused: int = 0  # answered with a safety refusal (moderation_blocked)
    errors: Counter[str] = field(default_factory=Counter)  # by type, 429s excluded
    rejected_429: int = 0
    last_done: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_client(url: str, args: argparse.Namespace, t_end: float, res: LoadResult) -> None:
    import openai

    client = make_client(url, args.request_timeout)
    try:
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            wait = 0.0
            try:
                client.images.generate(model="limner", prompt=PROMPT, size=SIZE, quality=args.quality)
                ok, kind = True, ""
            except openai.APIStatusError as e:
                ok = is_refusal(e)
                kind = "refused" if ok else "429" if e.status_code == 429 else f"HTTP {e.status_code}"
                if e.status_code == 429:  # a well-behaved client honours Retry-After
                    try:
                        wait = float(e.response.headers.get("retry-after", "1"))
                    except ValueError:
                        wait = 1.0
            except Exception as e:  # connection errors, timeouts, anything else: by exception name
                ok, kind = False, type(e).__name__
            done = time.perf_counter()
            with res.lock:
                res.last_done = max(res.last_done, done)
                if ok:
                    res.latencies.append(done - t)
                    res.refused += kind == "refused"
                elif kind == "429":
                    res.rejected_429 += 1
                else:
                    res.errors[kind] += 1
            if wait:
                time.sleep(max(0.0, min(wait, t_end - time.perf_counter())))
    finally:
        client.close()


def sample_queue(url: str, stop: threading.Event, samples: list[int]) -> None:
    """The server's own count of admitted requests (running + waiting), once a second."""
    import httpx

    with httpx.Client(base_url=url, timeout=5) as h:
        while not stop.wait(1.0):
            try:
                samples.append(int(h.get("/v1/limner/status").json()["queue"]["admitted"]))
            except Exception:
                pass


def measure_load(url: str, args: argparse.Namespace, single_s: float, workers: Workers | None = None
                 ) -> dict[str, Any]:
    res = LoadResult()
    stop = threading.Event()
    depth_samples: list[int] = []
    sampler = threading.Thread(target=sample_queue, args=(url, stop, depth_samples), daemon=True)
    t0 = time.perf_counter()
    t_end = t0 + args.duration
    threads = [threading.Thread(target=load_client, args=(url, args, t_end, res), daemon=True)
               for _ in range(args.clients)]
    sampler.start()
    killer = None
    if workers is not None and args.kill_worker_at is not None:  # a worker dies mid-job under load
        killer = threading.Timer(args.kill_worker_at, workers.kill_one)
        killer.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()  # in-flight requests finish (each bounded by --request-timeout)
    if killer is not None:
        killer.join()
    stop.set()
    sampler.join()
    wall = max(res.last_done, t_end) - t0
    lat = res.latencies
    depth = min(args.clients, args.max_concurrency + args.max_queue)
    bound = 2 * single_s * depth
    p99 = percentile(lat, 99)
    return {"clients": args.clients, "duration_s": args.duration, "wall_s": wall, "completed": len(lat),
            "refused": res.refused,
            "throughput_images_per_s": len(lat) / wall, "p50_s": percentile(lat, 50), "p99_s": p99,
            "max_s": max(lat) if lat else math.nan, "rejected_429": res.rejected_429,
            "errors_by_type": dict(res.errors), "errors_other_than_429": sum(res.errors.values()),
            "queue_depth": depth, "single_request_s": single_s, "p99_bound_s": bound,
            "p99_within_bound": (not math.isnan(p99)) and p99 <= bound,
            "admitted_mean": statistics.fmean(depth_samples) if depth_samples else math.nan,
            "admitted_max": max(depth_samples) if depth_samples else None,
            "workers": args.workers, "workers_killed": workers.killed if workers is not None else 0}


def check_store(database: str | Path, answered_images: int, since: float) -> dict[str, Any]:
    """After the load: nothing lost or half-written. Every job queued since `since` ended (none left queued or
    running on a dead worker), every image row has its bytes, and the history holds exactly the images
    clients got (rows from before `since`, in a database used before, are not counted)."""
    from limner.server.store import Store

    s = Store(database)
    try:
        q = s._query
        stuck = q("SELECT COUNT(*) AS n FROM remote_jobs WHERE status IN ('queued', 'running') AND created_at >= ?",
                  (since,))[0]["n"]
        by_status = {r["status"]: r["n"] for r in q("SELECT status, COUNT(*) AS n FROM remote_jobs "
                                                    "WHERE created_at >= ? GROUP BY status", (since,))}
        retried = q("SELECT COUNT(*) AS n FROM remote_jobs WHERE attempts > 1 AND created_at >= ?", (since,))[0]["n"]
        images = q("SELECT COUNT(*) AS n FROM images WHERE created_at >= ?", (since,))[0]["n"]
        no_bytes = q("SELECT COUNT(*) AS n FROM images i LEFT JOIN image_data d ON d.id = i.id "
                     "WHERE d.id IS NULL AND i.created_at >= ?", (since,))[0]["n"]
    finally:
        s.close()
    ok = stuck == 0 and no_bytes == 0 and images == answered_images
    return {"remote_jobs_by_status": by_status, "jobs_left_unfinished": stuck, "jobs_taken_over": retried,
            "images_stored": images, "images_answered": answered_images, "images_without_bytes": no_bytes,
            "intact": ok}


# -- report -------------------------------------------------------------------------------------------------


def verdict(value: float, must: float, aim: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "aim met" if value <= aim else "pass" if value <= must else "FAIL"


def report(res: dict[str, Any]) -> None:
    c, ov, st, ld = res["config"], res["overhead"], res["streaming"], res["load"]
    print()
    print(f"limner serve bench  {c['date']}  checkpoint {c['checkpoint']}")
    print(f"threads {c['threads']}  quality {c['quality']}  size {SIZE}  max-concurrency {c['max_concurrency']}  "
          f"max-queue {c['max_queue']}  cpus {c['cpu_count']}  load average at start {c['loadavg_start']}")
    if ov:
        print()
        print(f"1. overhead, {ov['repeats']} calls of each path (medians)")
        print("   same request:")
        print(f"     API wall (openai SDK)          {fmt_s(ov['api_median_s'])}")
        print(f"     the server's engine time for it {fmt_s(ov['server_engine_median_s'])}  (its Pipeline call)")
        print(f"     added by the API                {fmt_s(ov['api_added_median_s'])}  "
              f"(overhead {ov['same_request_overhead'] * 100:+.1f}%, median of per-call ratios)")
        print("   separate engine process (ABBA, a cross-check that measures the machine as much as the API):")
        print(f"     direct Pipeline wall            {fmt_s(ov['direct_median_s'])}")
        print(f"     ratio API / direct              {ov['ratio']:.3f}  (overhead {ov['overhead'] * 100:+.1f}%)")
        print(f"     CPU seconds per image           API server {fmt_s(ov['api_cpu_median_s'])}, direct "
              f"{fmt_s(ov['direct_cpu_median_s'])} (overhead {ov['cpu_overhead'] * 100:+.1f}%)")
    if st:
        print()
        print(f"2. streaming, {c['stream_repeats']} requests per setting (medians)")
        print(f"   {'partial_images':>14}  {'first partial':>13}  {'final':>9}  {'first/final':>11}  bad sequences"
              "  refused")
        for s in st.values():
            bad = len(s["unexpected_event_sequences"])
            print(f"   {s['partial_images']:>14}  {fmt_s(s['first_partial_median_s']):>13}  "
                  f"{fmt_s(s['final_median_s']):>9}  {s['ratio_median']:>11.3f}  {bad:>13}  {s['refused']}")
    if ld:
        print()
        print(f"3. load, {ld['clients']} clients for {ld['duration_s']:.0f} s (in-flight requests awaited: "
              f"wall {ld['wall_s']:.1f} s)")
        print(f"   answered {ld['completed']} (of them safety refusals: {ld['refused']})   "
              f"throughput {ld['throughput_images_per_s']:.3f} images/s")
        print(f"   latency p50 {fmt_s(ld['p50_s'])}   p99 {fmt_s(ld['p99_s'])}   max {fmt_s(ld['max_s'])}")
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(ld["errors_by_type"].items())) or "none"
        print(f"   429 (queue full) {ld['rejected_429']}   errors other than 429: {ld['errors_other_than_429']} "
              f"({errs})")
        print(f"   server's admitted requests: mean {ld['admitted_mean']:.1f}, max {ld['admitted_max']}")
        print(f"   p99 bound 2 x single {ld['single_request_s']:.3f} s x queue depth {ld['queue_depth']} = "
              f"{ld['p99_bound_s']:.2f} s -> {'within' if ld['p99_within_bound'] else 'OVER'}")
        sto = ld["store"]
        print(f"   workers {ld['workers']} (killed mid-run: {ld['workers_killed']}); jobs by status "
              f"{sto['remote_jobs_by_status']}, taken over {sto['jobs_taken_over']}, left unfinished "
              f"{sto['jobs_left_unfinished']}")
        print(f"   history: {sto['images_stored']} images stored for {sto['images_answered']} answered, "
              f"{sto['images_without_bytes']} without bytes -> {'intact' if sto['intact'] else 'NOT INTACT'}")
    print()
    rows = res["targets"]
    w0 = max(len(r["figure"]) for r in rows)
    w1 = max(len(r["measured"]) for r in rows)
    print(f"{'figure':<{w0}}  {'measured':<{w1}}  {'must reach':<13}  {'aim':<16}  status")
    print(f"{'-' * w0}  {'-' * w1}  {'-' * 13}  {'-' * 16}  -------")
    for r in rows:
        print(f"{r['figure']:<{w0}}  {r['measured']:<{w1}}  {r['must']:<13}  {r['aim']:<16}  {r['status']}")


def targets(ov: dict[str, Any], st: dict[str, Any], ld: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    if ld:
        rows += [
            {"figure": f"Load: {ld['clients']} clients, {ld['duration_s']:.0f} s: errors other than 429",
             "measured": str(ld["errors_other_than_429"]), "must": "0", "aim": "0",
             "status": "pass" if ld["errors_other_than_429"] == 0 else "FAIL"},
            {"figure": "Load: nothing lost or half-written (jobs ended, images = answers, bytes present)",
             "measured": "intact" if ld["store"]["intact"] else "NOT intact", "must": "intact", "aim": "intact",
             "status": "pass" if ld["store"]["intact"] else "FAIL"},
            {"figure": "Load: p99 <= 2 x single x queue depth",
             "measured": f"{ld['p99_s']:.2f} s vs {ld['p99_bound_s']:.2f} s", "must": "-",
             "aim": "p99 <= bound", "status": "aim met" if ld["p99_within_bound"] else "aim missed"},
        ]
    if ov:
        rows += [
            {"figure": "Overhead of the API over the engine (same request)",
             "measured": f"{ov['same_request_overhead'] * 100:+.1f}%", "must": "<= 15%", "aim": "<= 5%",
             "status": verdict(ov["same_request_overhead"], 0.15, 0.05)},
            {"figure": "  cross-check: API vs a separate engine process, wall",
             "measured": f"{ov['overhead'] * 100:+.1f}%", "must": "(<= 15%)", "aim": "(<= 5%)",
             "status": verdict(ov["overhead"], 0.15, 0.05)},
            {"figure": "  cross-check: the same in CPU seconds",
             "measured": f"{ov['cpu_overhead'] * 100:+.1f}%", "must": "(<= 15%)", "aim": "(<= 5%)",
             "status": verdict(ov["cpu_overhead"], 0.15, 0.05)},
        ]
    for s in st.values():
        rows.append({"figure": f"First partial / final (partial_images={s['partial_images']})",
                     "measured": f"{s['ratio_median']:.3f}", "must": "<= 0.6", "aim": "<= 0.4",
                     "status": verdict(s["ratio_median"], 0.6, 0.4)})
    return rows


# -- main ---------------------------------------------------------------------------------------------------


PARTS = ("overhead", "streaming", "load")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped model)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients of the load test (default 16)")
    ap.add_argument("--duration", type=float, default=60, help="seconds the load test posts requests (default 60)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads, server and engine (default: torch's)")
    ap.add_argument("--quality", default="low", choices=("low", "medium", "high", "auto"), help="default low")
    ap.add_argument("--repeats", type=int, default=10, help="calls of each path for the overhead (default 10)")
    ap.add_argument("--stream-repeats", type=int, default=5, help="streamed requests per partial_images (default 5)")
    ap.add_argument("--max-concurrency", type=int, default=1, help="passed to limner serve (default 1, its default)")
    ap.add_argument("--max-queue", type=int, default=16, help="passed to limner serve (default 16, its default)")
    ap.add_argument("--request-timeout", type=float, default=600, help="seconds one request may take (default 600)")
    ap.add_argument("--start-timeout", type=float, default=300, help="seconds to wait for the server (default 300)")
    ap.add_argument("--json", default=None, metavar="OUT", help="also write every figure to this JSON file")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated parts to run, of {','.join(PARTS)} (default: all)")
    ap.add_argument("--database-url", default=None,
                    help="postgresql://... for the server's history and queue (default: SQLite in a temp dir)")
    ap.add_argument("--workers", type=int, default=0,
                    help="run generation on this many `limner worker` processes sharing --database-url (default 0: "
                    "in the server)")
    ap.add_argument("--kill-worker-at", type=float, default=None, metavar="S",
                    help="SIGKILL one worker S seconds into the load test (mid-job) and start a replacement")
    ap.add_argument("--lease-s", type=float, default=15,
                    help="the workers' lease: a killed worker's job is taken over after this (default 15)")
    ap.add_argument("--engine-worker", action="store_true", help=argparse.SUPPRESS)  # internal: the direct baseline
    args = ap.parse_args()
    for name in ("clients", "repeats", "stream_repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration <= 0:
        ap.error("--duration must be positive")
    if args.workers and not args.database_url:
        ap.error("--workers share the queue through PostgreSQL: give --database-url")
    if args.kill_worker_at is not None and not args.workers:
        ap.error("--kill-worker-at needs --workers")
    if args.workers:  # the server admits as many jobs at once as there are workers to run them
        args.max_concurrency = max(args.max_concurrency, args.workers)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not args.parts or not set(args.parts) <= set(PARTS):
        ap.error(f"--parts takes a comma-separated subset of {','.join(PARTS)}, got {args.parts}")
    if args.database_url and "overhead" in args.parts:  # it reads the engine's time from the SQLite history
        ap.error("the overhead part needs the default SQLite history: with --database-url, use --parts load "
                 "(or load,streaming)")
    return args


def main() -> int:
    args = parse_args()
    if args.engine_worker:
        return engine_worker(args)
    if args.checkpoint is None:
        from limner.engine.generator import default_checkpoint

        args.checkpoint = str(default_checkpoint())
        if not Path(args.checkpoint).is_file():
            print(f"bench/serve: the shipped model {args.checkpoint} does not exist; pass --checkpoint PATH",
                  file=sys.stderr)
            return 2
    elif not Path(args.checkpoint).is_file():
        print(f"bench/serve: checkpoint {args.checkpoint} does not exist", file=sys.stderr)
        return 2
    args.checkpoint = str(Path(args.checkpoint).resolve())

    # SIGTERM/SIGHUP unwind like Ctrl-C, so the `finally` below stops the server and the worker
    def on_signal(signum: int, _frame: Any) -> None:
        print(f"bench/serve: stopped by signal {signum}; stopping the server", file=sys.stderr)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    server: Server | None = None
    worker: EngineWorker | None = None
    workers: Workers | None = None
    # other work on the machine (a training run, say) shows here; the same-request overhead is immune to it
    loadavg_start = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    with tempfile.TemporaryDirectory(prefix="limner-bench-serve-") as tmp:
        tmpdir = Path(tmp)
        try:
            need_worker = "overhead" in args.parts
            print(f"starting limner serve{' and the engine worker' if need_worker else ''} "
                  f"(checkpoint {args.checkpoint}) ...", flush=True)
            data = tmpdir / "data"
            server = Server(args, data, tmpdir / "server.log")
            worker = EngineWorker(args, tmpdir / "engine.log") if need_worker else None
            server.wait_ready(args.start_timeout)
            if args.workers:
                workers = Workers(args, tmpdir)
                workers.wait_ready(args.start_timeout)
            if worker is not None:
                worker.wait_ready()
            print(f"server ready at {server.url}", flush=True)
            client = make_client(server.url, args.request_timeout)
            ov: dict[str, Any] = {}
            st: dict[str, Any] = {}
            ld: dict[str, Any] = {}
            if worker is not None:
                print(f"overhead: {args.repeats} API calls and {args.repeats} direct calls, interleaved ...",
                      flush=True)
                ov = measure_overhead(client, server, worker, data / "limner.sqlite3", args)
                worker.stop()  # the engine process leaves the CPU to the server from here on
                worker = None
            if "streaming" in args.parts:
                print(f"streaming: partial_images 1..3, {args.stream_repeats} requests each ...", flush=True)
                st = measure_streaming(client, args)
            if "load" in args.parts:
                if ov:
                    single = ov["api_median_s"]
                else:  # the single-request latency the p99 bound needs, without the overhead part
                    api_generate(client, args.quality, seed=0)
                    single = median([api_generate(client, args.quality, seed=1000 + i) for i in range(3)])
                print(f"load: {args.clients} clients for {args.duration:.0f} s ...", flush=True)
                since = time.time()
                ld = measure_load(server.url, args, single, workers)
                ld["store"] = check_store(args.database_url or data / "limner.sqlite3",
                                          ld["completed"] - ld["refused"], since)
            client.close()
            if server.proc.poll() is not None:
                raise RuntimeError(f"limner serve died during the bench:\n{tail(server.log)}")
        except Exception as e:
            print(f"bench/serve: failed: {type(e).__name__}: {e}", file=sys.stderr)
            if server is not None:
                print(f"--- server log (tail) ---\n{tail(server.log, 2000)}", file=sys.stderr)
            return 1
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the clean-up short
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            if worker is not None:
                worker.stop()
            if workers is not None:
                workers.stop()
            if server is not None:
                server.stop()

    res: dict[str, Any] = {
        "config": {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "checkpoint": args.checkpoint,
                   "threads": args.threads, "quality": args.quality, "size": SIZE, "prompt": PROMPT,
                   "clients": args.clients, "duration_s": args.duration, "repeats": args.repeats,
                   "stream_repeats": args.stream_repeats, "max_concurrency": args.max_concurrency,
                   "max_queue": args.max_queue, "cpu_count": os.cpu_count(),
                   "database": "postgresql" if args.database_url else "sqlite", "workers": args.workers,
                   "kill_worker_at_s": args.kill_worker_at, "lease_s": args.lease_s,
                   "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                   "python": platform.python_version(), "machine": platform.machine(), "parts": args.parts,
                   "loadavg_start": loadavg_start},
        "overhead": ov, "streaming": st, "load": ld,
    }
    res["targets"] = targets(ov, st, ld)
    report(res)
    if args.json:
        Path(args.json).write_text(json.dumps(finite(res), indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
