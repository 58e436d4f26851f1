"""Instructions per request, counted by valgrind's callgrind: the same count for the same
code on a busy machine or a quiet one, where seconds move with the neighbours' load.

    python -m bench.instructions                     # /bench/wait (not waiting) and /
    python -m bench.instructions / --against main    # also our app as of another revision
    python -m bench.instructions / --member          # the main page, logged in
    python -m bench.instructions / --database postgres --at-once 32
    python -m bench.instructions / --side "json logs:GUESTBOOK_LOG_FORMAT=json"
                                                     # also our app with other settings
    python -m bench.instructions / /hello --member --at-once 32 --server
                                                     # through hypercorn, its share too

Requests go straight to the ASGI app, in-process and one at a time (no server, no
client), after a warm-up: what is counted is the app's own path. The 50 ms page is
asked without its wait, on our app and on the bare Quart app, whose count is the
floor: the difference is what our path costs a page that does no work of its own.
Each side runs twice, with two request counts; the difference over the difference in
requests leaves out everything but the requests (start, imports, warm-up).

`--member` asks with the cookies the benchmark's logged-in scenario sends (the reader's
session and login cookies and `popup_skip=yes`), got from the real login form once,
outside valgrind (an argon2 hash there would take minutes). `/hello` is counted on the
bare app: the route the benchmark's "x hello" divides by. `--at-once 32` sends the
requests in waves of 32, as wrk's 32 connections keep them in flight: they then share
one versions question (`lib.singleflight`), which one request at a time asks alone.

`--server` counts through hypercorn instead: its `serve` in the counted process (uvloop,
plain HTTP/1.1, no access log), asked by a client in this process over `--at-once`
keep-alive connections. The count then holds the server's share of a request too, so
"/" over "/hello" is what the benchmark's "x hello" would be if instructions were time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config

from . import pg
from .seed import Seeded, seed
from .servers import ROOT, free_port
from .sides import PAGE_SIZE, app_env

WARM_UP = 200
COUNTS = (100, 400)
COOKIE_ENV = "BENCH_INSTRUCTIONS_COOKIE"
AT_ONCE_ENV = "BENCH_INSTRUCTIONS_AT_ONCE"
PORT_ENV = "BENCH_INSTRUCTIONS_PORT"  # set: the child serves there (`--server`)


def _scope(path: str, cookie: str = "") -> dict:
    headers = [(b"host", b"localhost"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
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
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 443),
        "extensions": {},
    }


async def _requests(app, path: str, count: int) -> None:  # noqa: ANN001 (an ASGI app)
    cookie = os.environ.get(COOKIE_ENV, "")
    at_once = int(os.environ.get(AT_ONCE_ENV, "1"))

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

        await app(_scope(path, cookie), receive, send)
        return sent[0]["status"]

    async with app.test_app():
        left = WARM_UP + count
        while left:
            wave = min(left, at_once)
            left -= wave
            for status in await asyncio.gather(*(one() for _ in range(wave))):
                if status != 200:
                    raise SystemExit(f"{path}: {status}")


def _child(side: str, path: str, count: int) -> None:
    if side == "login":  # not counted: the member's cookies, printed for the parent
        from .profile import member_cookie

        print(uvloop.run(member_cookie()))
        return
    if side == "bare":
        from .baseline import hello as module
    else:
        from . import app as module  # reads the GUESTBOOK_* variables the parent set
    module.WAIT_SECONDS = 0  # the 50 ms page, without its wait
    if PORT_ENV in os.environ:  # `--server`: the parent asks, through hypercorn
        uvloop.run(_serve(module.app, int(os.environ[PORT_ENV])))
        return
    uvloop.run(_requests(module.app, path, count))  # the servers' loop (`-k uvloop`)


async def _serve(app, port: int) -> None:  # noqa: ANN001 (an ASGI app)
    """hypercorn's own serving, until SIGTERM: then the process ends as a process does
    (callgrind writes its count)."""
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


async def _ask(port: int, path: str, total: int, connections: int, cookie: str) -> None:
    """`total` GETs of `path` over `connections` keep-alive connections, each waiting
    for its answer before asking again (as wrk does); a status but 200 stops the count."""
    head = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n"
    asked = (head + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n").encode()

    async def over_one(times: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(times):
            writer.write(asked)
            answer = await reader.readuntil(b"\r\n\r\n")
            if not answer.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"{path}: {answer[:40]!r}")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", answer)
            await reader.readexactly(int(length.group(1)) if length else 0)
        writer.close()

    shares = [total // connections + (n < total % connections) for n in range(connections)]
    await asyncio.gather(*(over_one(times) for times in shares if times))


def environment(workdir: Path, database: str | None = None) -> dict[str, str]:
    """The variables that serve `database` (a URL), or a seeded SQLite copy in
    `workdir`, as the benchmark does."""
    if database is None:
        database = f"sqlite+aiosqlite:///{seeded(workdir).path}"
    return {
        **os.environ,
        **app_env(database, workdir, secrets.token_hex(32)),
        "GUESTBOOK_ALLOWED_HOSTS": "localhost",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": str(ROOT),
    }


def seeded(workdir: Path) -> Seeded:
    return seed(workdir / "guestbook.sqlite3", 100, 1000, PAGE_SIZE)


def _member_cookie(env: dict[str, str]) -> str:
    """The Cookie header of the benchmark's logged-in scenario, from the real login
    form, in a child of its own (not under valgrind)."""
    command = [sys.executable, "-m", "bench.instructions", "--child", "login", "/", "0"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"login failed\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1] + "; popup_skip=yes"


def _count(side: str, path: str, count: int, env: dict[str, str]) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--child", side, path, str(count),
    ]  # fmt: skip
    if PORT_ENV in env:
        returncode, stderr = _count_served(command, path, count, env)
    else:
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        returncode, stderr = done.returncode, done.stderr
    found = re.search(r"Collected : (\d+)", stderr)
    if returncode or not found:
        raise SystemExit(f"{side} {path}: valgrind failed\n{stderr[-2000:]}")
    return int(found.group(1))


def wait_for_port(child: subprocess.Popen, port: int, seconds: float) -> None:
    """Until `child` listens on `port`; SystemExit if it exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if child.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server on port {port} did not start")
        time.sleep(0.2)


def _count_served(
    command: list[str], path: str, count: int, env: dict[str, str]
) -> tuple[int, str]:
    """The child serving under valgrind, asked `WARM_UP + count` times from here. Its
    output goes to a file: a pipe nobody reads while it serves would fill and stop it."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as output:
        child = subprocess.Popen(  # noqa: S603 (our own command)
            command, env={**env, PORT_ENV: str(port)}, cwd=ROOT, stderr=output
        )
        try:
            wait_for_port(child, port, 300)  # valgrind starts Python slowly
            connections, cookie = int(env[AT_ONCE_ENV]), env.get(COOKIE_ENV, "")
            asyncio.run(_ask(port, path, WARM_UP + count, connections, cookie))
        finally:
            child.terminate()
        returncode = child.wait()
        output.seek(0)
        return returncode, output.read()


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
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        help="also our app as of this git revision (may be given again, for more)",
    )
    parser.add_argument("--member", action="store_true", help="logged in, as the bench's reader")
    parser.add_argument(
        "--at-once",
        type=int,
        default=1,
        help="requests in flight together, in waves (the benchmark's wrk keeps 32): they "
        "share one versions question, as under load",
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: a copy on the bench's server (GUESTBOOK_BENCH_PG_URL); only this "
        "process's instructions are counted, not the server's",
    )
    parser.add_argument(
        "--side", action="append", default=[], metavar="LABEL:VAR=VALUE[,VAR=VALUE]",
        help="also our app with these environment variables (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--server",
        action="store_true",
        help="through hypercorn, asked over --at-once keep-alive connections",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        side, path, count = args.child
        return _child(side, path, int(count))

    workdir = Path(tempfile.mkdtemp(prefix="guestbook-instructions-"))
    if args.database == "postgres":  # a database of its own on the bench's server
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        with pg.databases(seeded(workdir).path, f"i{stamp}", ["ours"]) as urls:
            database = urls["ours"].replace("postgresql://", "postgresql+asyncpg://")
            return _count_all(args, workdir, environment(workdir, database))
    return _count_all(args, workdir, environment(workdir))


def _count_all(args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> None:
    env[AT_ONCE_ENV] = str(args.at_once)
    if args.server:
        env[PORT_ENV] = "0"  # each count gets a free port of its own (`_count_served`)
    if args.member:
        env[COOKIE_ENV] = _member_cookie(env)
    sides = {"ours": env}
    for revision in args.against:
        source = _source_of(revision, workdir / revision)
        sides[revision] = {**env, "PYTHONPATH": os.pathsep.join([str(source), str(ROOT)])}
    for side in args.side:
        label, _, assignments = side.partition(":")
        sides[label] = {**env, **dict(pair.split("=", 1) for pair in assignments.split(","))}
    width = max(12, *map(len, sides))
    print(f"instructions per request (callgrind; {COUNTS[1] - COUNTS[0]} requests counted)")
    for path in args.paths:
        if path == "/hello":  # the bare app's route, without cookies
            counted = {"bare Quart": _per_request("bare", path, {**env, COOKIE_ENV: ""})}
        else:
            counted = {name: _per_request("ours", path, side) for name, side in sides.items()}
        if path == "/bench/wait":
            counted["bare Quart"] = _per_request("bare", path, env)
        floor = counted.get("bare Quart")
        for name, instructions in counted.items():
            share = f"  {instructions / floor:.2f} x bare Quart" if floor else ""
            print(f"  {path:<12} {name:<{width}} {instructions / 1e6:7.3f} M{share}")


if __name__ == "__main__":
    main()
