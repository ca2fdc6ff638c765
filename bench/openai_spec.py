"""limner against OpenAI's own OpenAPI spec: schemathesis on the Images paths, every check that matters.

Runs schemathesis (`--mode positive`: only requests the spec calls valid) with the checks
`positive_data_acceptance` (a valid request is not refused), `response_schema_conformance` (JSON answers and
every SSE event match OpenAI's schemas), `content_type_conformance` and `not_a_server_error`, against the
vendored cut of OpenAI's spec (tests/server/data/openai-openapi.json; scripts/vendor_openai_spec.py).

Each failure schemathesis reports is classified. Refusals of a request the schema allows but OpenAI's own
text rules out, or that carries a key the spec does not name, are *accepted* and listed (ACCEPTED); anything
else (a 5xx, an answer off the schema, a refusal of a documented value) is a *violation* and fails the run.

    .venv/bin/python bench/openai_spec.py [--examples 600] [--checkpoint PATH | --url URL] [--out DIR]

Without --url it starts `limner serve` on a free loopback port with a tiny random checkpoint (the protocol
does not depend on the weights, and the shipped model would make 2,000 requests take an hour on a CPU), or
with --checkpoint. Writes DIR/report.json and DIR/report.md (default reports/openai-spec) and exits 1 on any
violation or when fewer than --min-cases cases ran.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "server" / "data" / "openai-openapi.json"
CHECKS = "positive_data_acceptance,response_schema_conformance,content_type_conformance,not_a_server_error"


@dataclass
class Failure:
    """One failing case as schemathesis printed it: the operation, its check codes, the status and body."""

    operation: str
    codes: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    status: int | None = None
    body: str = ""

    def error(self) -> dict[str, Any]:
        """The OpenAI error object of the body, or {} when it is not one."""
        try:
            err = json.loads(self.body).get("error")
        except (ValueError, AttributeError):
            return self._error_from_text()
        return err if isinstance(err, dict) else {}

    def _error_from_text(self) -> dict[str, Any]:
        """The error's code (and param) from a body that is not whole JSON, as when schemathesis shortens a long
        body; the message is what precedes the cut."""
        fields = dict(re.findall(r'"(code|param)"\s*:\s*"([^"\\]*)"', self.body))
        m = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)', self.body)
        message = m[1] if m else ""
        # the message comes first, so a long unknown key cuts the body before "code"; its words name it
        if "code" not in fields and re.match(r"Unknown (file )?parameter: '", message):
            fields["code"] = "unknown_parameter"
        return {**fields, "message": message} if "code" in fields else {}


def _accepted_reason(f: Failure) -> str | None:
    """Why a refusal is accepted (the spec's own text or an undocumented key rules the request out), or None."""
    if f.codes != ["ST202"] or f.status != 400:  # only refusals can be accepted; schema violations never
        return None
    err = f.error()
    code, param, msg = err.get("code"), str(err.get("param") or ""), str(err.get("message") or "")
    if code == "unknown_parameter":
        return "a key the spec does not name (requests forbid unknown keys, as OpenAI's do)"
    if code == "invalid_image_url" and "could not be fetched" in msg:
        return "an image URL that cannot be fetched from here (the spec's example host; no network, or not public)"
    if code == "invalid_image":
        return "an upload that is not an image (the spec: 'must be a valid PNG file'; schemathesis sends random bytes)"
    # about 1 in 100 of schemathesis' random uploads has a header Pillow reads as a TGA image (TGA has no magic
    # number), some declaring billions of pixels: still not the PNG, JPEG or WebP the spec asks for
    if code == "invalid_image_format":
        return "random bytes that parse as another image format (TGA); the spec asks for PNG (or JPEG, WebP)"
    if code == "image_too_large" and param.startswith(("image", "mask")):
        return "random bytes whose image header declares more pixels than the limit (the spec: 'less than 4MB')"
    if param == "background" and "jpeg" in msg:
        return "background 'transparent' with output_format 'jpeg' (the spec: 'set the output format to png or webp')"
    return None


def parse(stdout: str) -> tuple[int, list[Failure]]:
    """(cases generated, failures) from schemathesis' text output."""
    counts = re.search(r"(\d+) generated", stdout)
    failures: list[Failure] = []
    op, cur = "", None
    # split on newlines only: str.splitlines() also breaks at U+0085, U+2028 and other separators, which
    # schemathesis' random keys carry into a refusal's body ("Unknown parameter: '...\x85...'"), cutting the
    # body short so that its error could not be read
    lines = stdout.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^_{3,} (\w+ \S+) _{3,}$", line)
        if m:
            op = m[1]
        elif re.match(r"^\d+\. Test Case ID: ", line):
            cur = Failure(op)
            failures.append(cur)
        elif cur is not None and (m := re.match(r"^- (ST\d+) (.*)$", line)):
            cur.codes.append(m[1])
            cur.titles.append(m[2])
        elif cur is not None and (m := re.match(r"^\[(\d+)\] ", line)):
            cur.status = int(m[1])
            body = next((ln.strip() for ln in lines[i + 1:i + 4] if ln.strip()), "").rstrip("\r")
            cur.body = body.strip("`")
    return (int(counts[1]) if counts else 0), failures


def run_schemathesis(url: str, examples: int, workdir: Path, path_regex: str = "^/images/",
                     timeout_s: int = 3600) -> str:
    """schemathesis' stdout for a run against `url` (the server's /v1 base)."""
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if exe is None:
        raise RuntimeError("schemathesis is not installed (pip install schemathesis)")
    cmd = [exe, "run", str(SPEC), "--url", url, "--include-path-regex", path_regex, "--mode", "positive",
           "--checks", CHECKS, "-n", str(examples), "--request-timeout", "120", "--no-color", "-w", "2",
           "--continue-on-failure", "--generation-database", "none"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=workdir)
    return r.stdout + r.stderr


def summarise(generated: int, failures: list[Failure]) -> dict[str, Any]:
    """The report: cases, accepted refusals by reason, and the violations in full."""
    accepted: Counter[str] = Counter()
    violations = []
    for f in failures:
        reason = _accepted_reason(f)
        if reason is None:
            violations.append(asdict(f))
        else:
            accepted[reason] += 1
    return {"cases": generated, "failures_reported": len(failures), "accepted": dict(accepted),
            "violations": violations}


def tiny_checkpoint(path: Path) -> Path:
    """A random tiny checkpoint, as the tests use."""
    import torch

    from limner.model.config import get_config
    from limner.model.native import NativeModel
    from limner.model.text_tokenizer import TextTokenizer

    torch.manual_seed(0)
    NativeModel.build(get_config("tiny"), TextTokenizer.build_default(n_samples=500)).save(path)
    return path


def start_server(checkpoint: Path, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`limner serve` on a free loopback port; (process, base URL) once /health answers."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LIMNER_HOME": str(data / "home")}
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "limner.cli.main", "serve", "--port", str(port), "--checkpoint",
                             str(checkpoint), "--data-dir", str(data / "server"), "--threads", "1", "--max-queue",
                             "256", "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"limner serve exited: {(data / 'serve.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("limner serve did not start in 300 s")


def markdown(report: dict[str, Any]) -> str:
    """The report as the markdown committed under reports/openai-spec."""
    out = ["# limner against OpenAI's OpenAPI spec (Images paths)", "",
           f"Command: `{report['command']}`", "",
           f"Spec: `{report['spec_source']}`; checks: {CHECKS.replace(',', ', ')}; mode positive.", "",
           f"- cases generated: **{report['cases']}**",
           f"- violations (server errors, answers off the schema, refused documented values): "
           f"**{len(report['violations'])}**",
           f"- accepted refusals (distinct failures schemathesis reported): {sum(report['accepted'].values())}", ""]
    if report["accepted"]:
        out += ["| accepted refusal | distinct cases |", "| --- | --- |"]
        out += [f"| {reason} | {n} |" for reason, n in report["accepted"].items()]
        out.append("")
    for v in report["violations"]:
        out.append(f"- VIOLATION {v['operation']} {v['codes']} {v['status']}: `{v['body'][:300]}`")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when there are no violations and enough cases ran."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=600, help="schemathesis examples per operation (default 600)")
    ap.add_argument("--min-cases", type=int, default=2000, help="fail when fewer cases ran (default 2000)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint (default: a tiny random one)")
    ap.add_argument("--url", default=None, help="a running server's base URL instead of starting one")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "openai-spec")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc = None
        url = args.url
        if url is None:
            ckpt = args.checkpoint or tiny_checkpoint(work / "tiny.safetensors")
            proc, url = start_server(ckpt, work)
        try:
            t0 = time.time()
            stdout = run_schemathesis(f"{url}/v1", args.examples, work)
            seconds = time.time() - t0
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    generated, failures = parse(stdout)
    spec = json.loads(SPEC.read_text())
    report = {"command": "python bench/openai_spec.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "spec_source": spec["info"].get("x-limner-source"), "seconds": round(seconds, 1),
              **summarise(generated, failures)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))
    if generated == 0:
        print(stdout[-3000:])
    return 0 if not report["violations"] and generated >= args.min_cases else 1


if __name__ == "__main__":
    sys.exit(main())
