"""Instructions per request, counted by valgrind's callgrind: the same count for the same
code on a busy machine or a quiet one, where seconds move with the neighbours' load.

    python -m bench.instructions                     # /bench/wait (not waiting) and /
    python -m bench.instructions / --against main    # also our app as of another revision
    python -m bench.instructions / --side "json logs:GUESTBOOK_LOG_FORMAT=json"
                                                     # also our app with other settings

Requests go straight to the ASGI app, in-process and one at a time (no server, no
client), after a warm-up: what is counted is the app's own path. The 50 ms page is
asked without its wait, on our app and on the bare Quart app, whose count is the
floor: the difference is what our path costs a page that does no work of its own.
Each side runs twice, with two request counts; the difference over the difference in
requests leaves out everything but the requests (start, imports, warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import secrets
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvloop

from .seed import seed
from .servers import ROOT
from .sides import PAGE_SIZE, app_env

WARM_UP = 200
COUNTS = (100, 400)


def _scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 443),
        "extensions": {},
    }


async def _requests(app, path: str, count: int) -> None:  # noqa: ANN001 (an ASGI app)
    async def one() -> int:
        sent: list[dict] = []
        done = asyncio.Event()
        asked = False

        async def receive() -> dict:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # as a server does: the client stays until the answer is sent
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await app(_scope(path), receive, send)
        return sent[0]["status"]

    async with app.test_app():
        for _ in range(WARM_UP + count):
            if (status := await one()) != 200:
                raise SystemExit(f"{path}: {status}")


def _child(side: str, path: str, count: int) -> None:
    if side == "bare":
        from .baseline import hello as module
    else:
        from . import app as module  # reads the GUESTBOOK_* variables the parent set
    module.WAIT_SECONDS = 0  # the 50 ms page, without its wait
    uvloop.run(_requests(module.app, path, count))  # the servers' loop (`-k uvloop`)


def environment(workdir: Path) -> dict[str, str]:
    """A seeded copy in `workdir`, and the variables that serve it as the benchmark does."""
    seeded = seed(workdir / "guestbook.sqlite3", 100, 1000, PAGE_SIZE)
    return {
        **os.environ,
        **app_env(f"sqlite+aiosqlite:///{seeded.path}", workdir, secrets.token_hex(32)),
        "GUESTBOOK_ALLOWED_HOSTS": "localhost",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": str(ROOT),
    }


def _count(side: str, path: str, count: int, env: dict[str, str]) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--child", side, path, str(count),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise SystemExit(f"{side} {path}: valgrind failed\n{done.stderr[-2000:]}")
    return int(found.group(1))


def _per_request(side: str, path: str, env: dict[str, str]) -> float:
    with ThreadPoolExecutor(len(COUNTS)) as pool:  # one valgrind per core
        few, many = pool.map(lambda n: _count(side, path, n, env), COUNTS)
    return (many - few) / (COUNTS[1] - COUNTS[0])


def _source_of(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src"], cwd=ROOT, check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("paths", nargs="*", default=["/bench/wait", "/"])
    parser.add_argument("--against", help="also our app as of this git revision")
    parser.add_argument(
        "--side", action="append", default=[], metavar="LABEL:VAR=VALUE[,VAR=VALUE]",
        help="also our app with these environment variables (repeatable)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        side, path, count = args.child
        return _child(side, path, int(count))

    workdir = Path(tempfile.mkdtemp(prefix="guestbook-instructions-"))
    env = environment(workdir)
    sides = {"ours": env}
    if args.against:
        source = _source_of(args.against, workdir / "before")
        sides[args.against] = {**env, "PYTHONPATH": os.pathsep.join([str(source), str(ROOT)])}
    for side in args.side:
        label, _, assignments = side.partition(":")
        sides[label] = {**env, **dict(pair.split("=", 1) for pair in assignments.split(","))}
    width = max(12, *map(len, sides))
    print(f"instructions per request (callgrind; {COUNTS[1] - COUNTS[0]} requests counted)")
    for path in args.paths:
        counted = {name: _per_request("ours", path, side_env) for name, side_env in sides.items()}
        if path == "/bench/wait":
            counted["bare Quart"] = _per_request("bare", path, env)
        floor = counted.get("bare Quart")
        for name, instructions in counted.items():
            share = f"  {instructions / floor:.2f} x bare Quart" if floor else ""
            print(f"  {path:<12} {name:<{width}} {instructions / 1e6:7.3f} M{share}")


if __name__ == "__main__":
    main()
