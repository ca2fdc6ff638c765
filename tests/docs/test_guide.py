"""The user guide (docs/guide/) and the README run as written: every bash and python block, page by page.

Each page runs in a fresh directory, its blocks in order, so a later block uses the files an earlier one
wrote. Shell blocks run under `bash -euo pipefail` with the virtual environment's bin/ first on PATH;
python blocks are exec'd in one namespace per page, in this process. To stay fast the test sets
`LIMNER_CHECKPOINT` to the tiny random checkpoint of tests/conftest.py and `LIMNER_HOME` to a temporary
directory: the commands are the ones a user types, and only the pictures differ.

HTML comments right before a block steer it (docs/guide/README.md documents them for writers):
`<!-- not-run: REASON -->` skips it, `<!-- background -->` starts it as a long-running process (a server
or a worker; a server is waited for on its /health), `<!-- file: NAME -->` writes the block as file NAME.
The only rewrites: port 8000 becomes a free port, and the local PostgreSQL URL gets a schema of its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.pg import PostgresUnavailable, throwaway_schema

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide"
# Reading order: a page may use what an earlier block of the same page made, never another page's files.
GUIDE_PAGES = ("README.md", "quickstart.md", "cli.md", "python.md", "http.md", "safety-policy.md", "provenance.md",
               "training.md", "deploy.md")
PAGES = (ROOT / "README.md", *(GUIDE / p for p in GUIDE_PAGES))
RUN_LANGS = frozenset({"bash", "sh", "shell", "python"})
# Blocks that are not commands: output shown to the reader, files (with `<!-- file: -->`), configuration.
SHOWN_LANGS = frozenset({"text", "yaml", "json", "jsonl", "ini", "dockerfile", "systemd", "csv"})
MAX_NOT_RUN = 6  # "not-run" is for what cannot run here (installing, multi-hour or multi-machine runs)
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"  # the local PostgreSQL the deploy page names
BLOCK_TIMEOUT_S = 600
SERVER_START_S = float(os.environ.get("LIMNER_TEST_START_TIMEOUT", "300"))

FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
DIRECTIVE = re.compile(r"<!--\s*(not-run|background|file)\s*(?::\s*(.*?))?\s*-->\s*\n(?:[ \t]*\n)*\Z", re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    directive: str | None  # not-run | background | file | None
    arg: str  # the reason of not-run, the file name of file

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, each with the directive comment right before it (blank lines allowed)."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()]
        d = DIRECTIVE.search(before[-400:])
        out.append(Block(page, before.count("\n") + 1, m.group(1).lower(), m.group(2),
                         d.group(1) if d else None, (d.group(2) or "").strip() if d else ""))
    return out


def all_blocks() -> list[Block]:
    return [b for p in PAGES for b in blocks(p)]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_schema_url() -> Generator[str | None, None, None]:
    """A fresh schema in the local test database (dropped afterwards), or None when PostgreSQL is not running."""
    try:
        with throwaway_schema("limner_docs") as url:
            yield url
    except PostgresUnavailable:  # no driver or no server: the pages that need it are skipped
        yield None


class PageRun:
    """Runs one page's blocks in `cwd` with `env`; starts and finally stops its background processes."""

    def __init__(self, cwd: Path, env: dict[str, str], port: int, pg_url: str | None) -> None:
        self.cwd, self.env, self.port, self.pg_url = cwd, env, port, pg_url
        self.background: list[tuple[Block, subprocess.Popen[bytes], Path]] = []
        self.ns: dict[str, object] = {"__name__": "__guide__"}

    def rewrite(self, code: str) -> str:
        code = re.sub(r"\b(127\.0\.0\.1|localhost):8000\b", f"127.0.0.1:{self.port}", code)
        code = re.sub(r"--port 8000\b", f"--port {self.port}", code)
        if self.pg_url is not None:
            code = code.replace(PG_URL, self.pg_url)
        return code

    def run(self, b: Block) -> None:
        if b.directive == "not-run":
            return
        if b.directive == "file":
            (self.cwd / b.arg).write_text(b.code, encoding="utf-8")
            return
        if b.lang not in RUN_LANGS:
            return
        code = self.rewrite(b.code)
        if b.directive == "background":
            self.start(b, code)
        elif b.lang == "python":
            self.python(b, code)
        else:
            self.shell(b, code)

    def shell(self, b: Block, code: str) -> None:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=self.cwd, env=self.env, capture_output=True,
                           text=True, timeout=BLOCK_TIMEOUT_S)
        if r.returncode != 0:
            pytest.fail(f"{b.where}: exit code {r.returncode}\n--- block\n{code}\n--- stdout\n{r.stdout[-3000:]}"
                        f"\n--- stderr\n{r.stderr[-3000:]}{self.logs()}")

    def python(self, b: Block, code: str) -> None:
        old = os.getcwd()
        os.chdir(self.cwd)  # the block's relative paths are the page's directory, as for a user
        try:
            exec(compile(code, b.where, "exec"), self.ns)  # noqa: S102 - the guide's own code, as written
        except Exception as e:
            raise AssertionError(f"{b.where}: {type(e).__name__}: {e}{self.logs()}") from e
        finally:
            os.chdir(old)

    def start(self, b: Block, code: str) -> None:
        log = self.cwd / f"background-{b.line}.log"
        with log.open("wb") as fh:  # its own process group, so stopping it stops what bash started
            proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", code], cwd=self.cwd, env=self.env, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.background.append((b, proc, log))
        m = re.search(r"--port (\d+)", code)
        if m is None:  # a worker: it has no port; requests wait in the queue until it claims them
            return
        url = f"http://127.0.0.1:{m.group(1)}/health"
        deadline = time.time() + SERVER_START_S
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{b.where}: exited with {proc.returncode}\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"{b.where}: no answer on {url} after {SERVER_START_S:.0f} s\n{log.read_text()[-3000:]}")

    def logs(self) -> str:
        return "".join(f"\n--- background {b.where}\n{log.read_text(errors='replace')[-2000:]}"
                       for b, _, log in self.background)

    def stop(self) -> None:
        for _, proc, _ in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_runs_as_written(page: Path, tiny_checkpoint: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    page_blocks = blocks(page)
    needs_pg = any(PG_URL in b.code for b in page_blocks if b.directive != "not-run")
    pg = pg_schema_url()
    pg_url = next(pg)
    try:
        if needs_pg and pg_url is None:
            pytest.skip(f"PostgreSQL at {PG_URL} is not reachable")
        home = tmp_path / "limner-home"
        env = {**os.environ, "LIMNER_HOME": str(home), "LIMNER_CHECKPOINT": str(tiny_checkpoint),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        for var in ("LIMNER_DATA_DIR", "LIMNER_DATABASE_URL", "LIMNER_PLANNER_URL"):
            env.pop(var, None)  # the reader's environment has none of these unless the page sets them
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("LIMNER_HOME", str(home))  # for the python blocks, which run in this process
        monkeypatch.setenv("LIMNER_CHECKPOINT", str(tiny_checkpoint))
        work = tmp_path / "work"
        work.mkdir()
        run = PageRun(work, env, free_port(), pg_url)
        try:
            for b in page_blocks:
                run.run(b)
        finally:
            run.stop()
    finally:
        pg.close()


def test_not_run_markers_are_few_and_say_why() -> None:
    skipped = [b for b in all_blocks() if b.directive == "not-run"]
    assert len(skipped) <= MAX_NOT_RUN, [b.where for b in skipped]
    for b in skipped:
        assert len(b.arg.split()) >= 3, f"{b.where}: a not-run marker needs a reason, got {b.arg!r}"


def test_every_block_is_run_or_shown() -> None:
    """A block in a language the test does not know would silently never run: name every language."""
    for b in all_blocks():
        assert b.lang in RUN_LANGS | SHOWN_LANGS, f"{b.where}: block language {b.lang!r} is neither run nor shown"
        if b.directive == "file":
            assert b.arg and "/" not in b.arg, f"{b.where}: file marker needs a plain file name"
        if b.directive == "background":
            assert b.lang in RUN_LANGS, f"{b.where}: only commands can run in the background"


def test_the_guide_is_complete_and_linked() -> None:
    """Every page is in the test's reading order and in the guide's index; the README links the guide."""
    assert sorted(p.name for p in GUIDE.glob("*.md")) == sorted(GUIDE_PAGES)
    index = (GUIDE / "README.md").read_text()
    for name in GUIDE_PAGES[1:]:
        assert f"]({name})" in index, f"docs/guide/README.md does not link {name}"
    assert "](docs/guide/README.md)" in (ROOT / "README.md").read_text()
    runnable = [b for b in all_blocks() if b.lang in RUN_LANGS and b.directive != "not-run"]
    assert len(runnable) >= 25  # the guide is commands to run, not prose about them


SUBCOMMANDS = {"generate": (), "chat": (), "train": (), "export": (), "verify": (), "serve": (), "worker": (),
               "eval": ("generation", "conversation", "instructions", "safety"), "safety": ("check", "decisions"),
               "optout": ("add", "remove", "list"), "keys": ("create", "list", "revoke")}


def test_guide_flags_exist() -> None:
    """Every `--flag` the guide gives a limner command is in that command's --help, run or not-run blocks alike."""
    helps: dict[tuple[str, ...], str] = {}

    def help_of(words: tuple[str, ...], where: str) -> str:
        if words not in helps:
            r = subprocess.run([sys.executable, "-m", "limner.cli.main", *words, "--help"], capture_output=True,
                               text=True, timeout=120)
            assert r.returncode == 0, f"{where}: `limner {' '.join(words)} --help` failed: {r.stderr}"
            helps[words] = r.stdout
        return helps[words]

    checked = 0
    for b in all_blocks():
        if b.lang not in RUN_LANGS:
            continue
        for line in b.code.replace("\\\n", " ").splitlines():
            m = re.search(r"(?:^|[\s;|&(])limner ([a-z]+)\b(.*)$", line)
            if m is None or m.group(1) not in SUBCOMMANDS:
                continue
            rest = m.group(2).split("#")[0]
            sub = next((w for w in rest.split() if w in SUBCOMMANDS[m.group(1)]), None)
            texts = help_of((m.group(1),), b.where) + (help_of((m.group(1), sub), b.where) if sub else "")
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
                assert flag in texts, f"{b.where}: `limner {m.group(1)} {sub or ''}` has no {flag}"
                checked += 1
    assert checked >= 40  # the check reads the guide's commands, not nothing
