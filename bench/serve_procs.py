"""The processes `bench/serve.py` measures: `limner serve` on loopback, and the direct-engine baseline.

The baseline is `bench/serve.py --engine-worker`: the same Pipeline the server loads, in its own process,
one timed call per line on stdin. Both processes' CPU time can be read from /proc, so that the bench can
report the API's cost in CPU seconds too, a figure that other work on the machine does not distort.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

PROMPT = "a red star above a blue ring"
SIZE = "256x256"
MARK = "@@"  # prefix of the engine worker's protocol lines on its stdout (anything else there is ignored)
SERVE_SCRIPT = Path(__file__).resolve().parent / "serve.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc; nan where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the processes under test -------------------------------------------------------------------------------


class Server:
    """`limner serve` on 127.0.0.1:PORT, its output in a log file."""

    def __init__(self, args: argparse.Namespace, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "limner.cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--checkpoint", str(args.checkpoint), "--data-dir", str(data_dir), "--threads", str(args.threads),
               "--max-concurrency", str(args.max_concurrency), "--max-queue", str(args.max_queue),
               "--log-level", "warning"]
        if args.database_url:
            cmd += ["--database-url", args.database_url]
        if args.workers:
            cmd.append("--external-workers")
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"limner serve exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"limner serve was not ready after {timeout:.0f} s:\n{tail(self.log)}")

    def stop(self) -> None:
        stop_process(self.proc)
        self._fh.close()


class EngineWorker:
    """This script in --engine-worker mode: a Pipeline in its own process, one timed call per stdin line."""

    def __init__(self, args: argparse.Namespace, log: Path) -> None:
        cmd = [sys.executable, str(SERVE_SCRIPT), "--engine-worker", "--checkpoint", str(args.checkpoint),
               "--threads", str(args.threads), "--quality", args.quality]
        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._fh, text=True,
                                     bufsize=1)

    def _reply(self) -> str:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        while True:
            line = out.readline()
            if not line:
                raise RuntimeError(f"the engine worker exited ({self.proc.poll()}):\n{tail(self.log)}")
            if line.startswith(MARK):
                return line[len(MARK):].strip()

    def wait_ready(self) -> None:
        if self._reply() != "ready":
            raise RuntimeError(f"the engine worker did not start:\n{tail(self.log)}")

    def generate(self, seed: int) -> float:
        """Seconds one direct Pipeline call took, timed inside the worker."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{seed}\n")
        self.proc.stdin.flush()
        reply = self._reply()
        if reply.startswith("error"):
            raise RuntimeError(f"direct Pipeline call failed: {reply}")
        return float(reply)

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()  # EOF ends the worker's loop
            except OSError:
                pass
        stop_process(self.proc, grace=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._fh.close()


class Workers:
    """`limner worker` processes sharing the server's PostgreSQL queue; one can be killed (SIGKILL, mid-job)
    and replaced, as a machine failing under load would be."""

    def __init__(self, args: argparse.Namespace, logdir: Path) -> None:
        self.args, self.logdir = args, logdir
        self.procs: list[tuple[subprocess.Popen[Any], Path]] = []
        self.killed = 0
        for _ in range(args.workers):
            self.start()

    def start(self) -> None:
        log = self.logdir / f"worker-{len(self.procs)}.log"
        cmd = [sys.executable, "-m", "limner.cli.main", "worker", "--database-url", self.args.database_url,
               "--checkpoint", str(self.args.checkpoint), "--threads", str(self.args.threads),
               "--lease-s", str(self.args.lease_s)]
        with log.open("wb") as fh:
            self.procs.append((subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL), log))

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc, log in self.procs:
            while "worker ready" not in tail(log, 100_000):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"limner worker did not start:\n{tail(log)}")
                time.sleep(0.3)

    def kill_one(self) -> None:
        """SIGKILL the oldest live worker (whatever it is running) and start a replacement."""
        live = [p for p, _ in self.procs if p.poll() is None]
        if live:
            live[0].kill()
            live[0].wait()
            self.killed += 1
        self.start()

    def stop(self) -> None:
        for proc, _ in self.procs:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[Any], grace: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def engine_worker(args: argparse.Namespace) -> int:
    """The direct baseline: the same Pipeline the server loads (safety stack warmed, provenance), no API."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from limner.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.checkpoint)
    if pipe.safety is not None:
        pipe.safety.warm()
    w, h = (int(v) for v in SIZE.split("x"))
    print(f"{MARK}ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            t = time.perf_counter()
            pipe(PROMPT, seed=int(line), size=(w, h), quality=args.quality)
            print(f"{MARK}{time.perf_counter() - t:.6f}", flush=True)
        except Exception as e:  # report it to the bench, keep serving
            print(f"{MARK}error {type(e).__name__}: {e}".replace("\n", " "), flush=True)
    return 0
