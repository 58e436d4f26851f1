"""What `guestbook/db/sqlite_pool.py`'s fair pool buys, measured in-process.

    python -m bench.sqlite_parts                 # 32 requests at a time, 3 rounds

Each variant turns a part off (the fair pool: SQLAlchemy's own queue instead) and
serves the same pages through Quart's test client, `--concurrency` requests
at a time; the figures are requests per second, the slowest 1% of requests and the
process's CPU time per request (which moves least with other load on the machine),
medians of the rounds, with the variants interleaved so that they share its weather.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.pool import AsyncAdaptedQueuePool

from guestbook.db import sqlite_pool

from .seed import PASSWORD, READER, seed

VARIANTS = {
    "as shipped": [],
    "fair pool (FairPool)": [
        (sqlite_pool.FairPool, "_queue_class", AsyncAdaptedQueuePool._queue_class)
    ],
}


@contextlib.contextmanager
def without(changes: list[tuple[object, str, object]]) -> Iterator[None]:
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in changes]
    try:
        for owner, name, value in changes:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


async def _serve(paths: list[str], requests: int, concurrency: int) -> tuple[float, float, float]:
    from guestbook import create_app

    app = create_app()
    latencies: list[float] = []
    async with app.test_app():
        member = app.test_client()
        page = await (await member.get("/auth/login")).get_data(as_text=True)
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {"username": READER, "password": PASSWORD, "csrf_token": token}
        if (await member.post("/auth/login", form=form)).status_code != 302:
            raise RuntimeError("the reader's login failed")
        clients = [member, app.test_client()]  # a member, and a reader without cookies
        left = requests

        async def worker(n: int) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                sent = time.perf_counter()
                response = await clients[n % 2].get(paths[left % len(paths)])
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code} from a page")
                latencies.append(time.perf_counter() - sent)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return requests / elapsed, p99, cpu * 1000 / requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_parts", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="guestbook-sqlite-parts-"))
    seeded = seed(workdir / "guestbook.sqlite3", 1000, 50_000, page_size=20)
    os.environ.update(
        GUESTBOOK_ENV="testing",
        GUESTBOOK_SECRET_KEY=secrets.token_hex(32),
        GUESTBOOK_DATABASE_URL=f"sqlite+aiosqlite:///{seeded.path}",
        GUESTBOOK_INSTANCE_PATH=str(workdir / "instance"),
        GUESTBOOK_MAIL_BACKEND="null",
        GUESTBOOK_LOGIN_LIMIT=str(10**9),
    )
    paths = ["/", "/users/user00001", f"/?before={seeded.page_cursor}"]
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    asyncio.run(_serve(paths, args.requests // 4, args.concurrency))  # warm up, not counted
    for _round in range(args.rounds):
        for name, changes in VARIANTS.items():
            with without(changes):
                results[name].append(asyncio.run(_serve(paths, args.requests, args.concurrency)))
    shipped = statistics.median(cpu for _, _, cpu in results["as shipped"])
    print(f"{'without':<40}{'req/s':>8}{'p99 ms':>8}{'cpu ms':>8}{'cpu x shipped':>15}")
    for name, runs in results.items():
        rps, p99, cpu = (statistics.median(run[i] for run in runs) for i in range(3))
        print(f"{name:<40}{rps:>8.0f}{p99:>8.1f}{cpu:>8.3f}{cpu / shipped:>15.2f}")


if __name__ == "__main__":
    main()
