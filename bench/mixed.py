"""`python -m bench --mixed`: a mixed load held, measured through nginx (issue 28 part 3).

On PostgreSQL (the run's own databases, dropped after), our app under hypercorn with
two workers behind the sample nginx site, its cache on, for `--duration` seconds (60
by default), all at once:

- readers: the main page with no cookies, as a browser asks (its Accept-Language), c=64;
- members: the main page logged in, c=16, the requests in turn as 16 members;
- writers: POST /messages with the session's CSRF token, c=8, as 8 other members, at
  random moments, `--mixed-rate` posts a second in all (10); a post counts as written
  only when it is answered with a redirect to the main page;
- `--mixed-sockets` open /live sockets (1,000), shared out by the kernel between the
  two workers (their share is counted).

Readers and members are wrk (the Python client without it); writers and sockets are
this process (bench/mixed_clients.py). Reported per class: req/s, p50, p99, errors;
the fan-out from each post's acknowledgement to its frame on the last socket (p50,
p99 over the posts); lost posts (acknowledged, not in the database after); sockets
refused, dropped or told to reload, frames missing; nginx's cache statuses (its
access log); the CPU each part took. Then the same readers, members and writers
against the Flask baseline behind the same nginx, with no sockets (it has none).

The post limit (30 per 600 s per account) is raised for both apps by the bench's
settings (GUESTBOOK_POST_LIMIT, as in every bench scenario): 10 posts a second from 8
accounts would pass it within a minute. Ours still counts every post against it, in
Redis when one answers (`--redis`), as a deployment of several workers does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from . import live, load, pg, servers, through_nginx
from .mixed_clients import Window, window
from .mixed_report import figures
from .scenarios import Browser, Visitor
from .seed import Seeded

CLASSES = ("readers", "members", "writers")
SIDES = ("ours", "flask")
# A proxied socket is two of nginx's connections; the rest is the load's and keepalive.
NGINX_CONNECTIONS = 8192
REQUEST = through_nginx.REQUEST  # the reader's: a browser's Accept-Language, no cookies
LOG_FORMAT = (
    "log_format mixed '$guestbook_member $request_method $uri $status "
    "$upstream_cache_status $request_time';\n"
)


def connections(args: argparse.Namespace) -> dict[str, int]:
    counts = [int(n) for n in args.mixed_clients.split(",")]
    if len(counts) != len(CLASSES) or min(counts) < 0:
        raise SystemExit("--mixed-clients takes three counts (0: none): readers,members,writers")
    return dict(zip(CLASSES, counts, strict=True))


def accounts(seeded: Seeded, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The members' and the writers' accounts: distinct seeded members."""
    c = connections(args)
    wanted = c["members"] + c["writers"]
    if seeded.users - 2 < wanted:
        raise SystemExit(f"--mixed needs {wanted} members: --users {wanted + 2} or more")
    names = [f"user{i:05d}" for i in range(1, wanted + 1)]
    return names[: c["members"]], names[c["members"] :]


def site(ports: dict[str, int], workdir: Path, upstreams: dict[str, int]) -> str:
    """The sample site in front of ours, with its cache; the same server in front of
    the Flask baseline with the cache off: its pages would not be kept anyway (it
    sends no Cache-Control a shared cache may keep), but its URLs share our pages'
    keys, and it must not be answered with our copies. Each logs every request's cache
    status and time."""
    head, server = through_nginx.sample_parts(upstreams["ours"], workdir)
    blocks = [head, LOG_FORMAT]
    for side in SIDES:
        name = "guestbook" if side == "ours" else side
        if side != "ours":
            blocks.append(through_nginx.upstream(side, upstreams[side]))
        block = through_nginx.front(server, ports[side], name, cache=side == "ours")
        log = f"access_log {workdir / f'access-{side}.log'} mixed buffer=256k flush=1s;"
        blocks.append(block.replace("access_log off;", log))
    return "".join(blocks)


@contextlib.contextmanager
def shared_limits(url: str, prefix: str) -> Iterator[dict[str, str]]:
    """Ours' settings for Redis at `url` (rate limits shared by its workers, as
    deployed) under `prefix`, whose keys are deleted after; none when it does not answer."""
    if not url:
        yield {}
        return
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"  Redis at {url} does not answer ({exc}): rate limits per worker")
        yield {}
        return
    try:
        yield {"GUESTBOOK_REDIS_URL": url, "GUESTBOOK_REDIS_PREFIX": prefix}
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


def log_in(url: str, names: list[str]) -> list[Visitor]:
    """Each member logged in through the site (two hashes at a time: two cores)."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda name: Browser(url).log_in(name), names))


def check_members(url: str, members: list[Visitor], names: list[str]) -> None:
    """Each member's cookie shows that member's page (else the load would measure
    anonymous pages)."""
    for visitor, name in zip(members, names, strict=True):
        page = Browser(url)
        page.cookies = dict(part.split("=", 1) for part in visitor.cookie.split("; "))
        response = page.request("GET", "/")
        if response.status_code != 200 or f">{name}</a>" not in response.text:
            raise RuntimeError(f"{name}'s cookie does not show a member's page")


def member_request(members: list[Visitor]) -> load.Request:
    cookies = tuple({"Cookie": f"{m.cookie}; popup_skip=yes"} for m in members)
    return load.Request("GET", "/", REQUEST.headers, variants=cookies)


def _machine_busy() -> float:
    """Seconds of CPU the machine has spent busy (every process), from /proc/stat."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / servers.TICKS_PER_SECOND


def snapshot(app: servers.Server, nginx: through_nginx.Nginx) -> dict[str, float]:
    """CPU seconds so far: the app's workers, nginx's worker, PostgreSQL (every
    server process on the machine), wrk (its finished runs), this process (the
    writers and sockets), and the machine (everything, other work on it included)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": time.monotonic(),
        "app": app.cpu_seconds(),
        "nginx": nginx.cpu_seconds(),
        "postgres": servers._cpu_ticks(_postgres_pids()) / servers.TICKS_PER_SECOND,  # noqa: SLF001
        "wrk": children.ru_utime + children.ru_stime,
        "client": me.ru_utime + me.ru_stime,
        "machine": _machine_busy(),
    }


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                pids.append(int(entry.name))
    return pids


def spread(app: servers.Server, baseline: dict[int, int]) -> list[int]:
    """The sockets each worker took: its open socket descriptors now over `baseline`."""
    time.sleep(2)  # the last handshakes' stragglers
    now = _socket_fds(app)
    return [now.get(pid, 0) - baseline.get(pid, 0) for pid in sorted(now)]


def _socket_fds(app: servers.Server) -> dict[int, int]:
    """Each worker's open socket descriptors, by pid (multiprocessing's resource
    tracker, the master's other child, left out)."""
    counts = {}
    for pid in app.worker_pids():
        with contextlib.suppress(OSError):
            if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
        counts[pid] = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    counts[pid] += os.readlink(fd).startswith("socket:")
    return counts


def cache_statuses(log: Path, offset: int) -> dict[str, Counter]:
    """From the side's access log after `offset`: each class's answers by nginx's
    cache status ("-": none, the request went to the app); the sockets are left out."""
    found: dict[str, Counter] = {name: Counter() for name in CLASSES}
    with log.open("rb") as lines:
        lines.seek(offset)
        for line in lines.read().decode().splitlines():
            member, method, uri, _status, cache, _time = line.split(" ")
            if uri == "/live":
                continue
            name = "writers" if method == "POST" else "members" if member == "1" else "readers"
            found[name][cache] += 1
    return found


def _load(client: str, url: str, request: load.Request, connections: int, seconds: float):
    """`load.run`, or nothing measured for a class of no connections."""
    if not connections:
        return load.Result(0, seconds, 0.0, 0.0, 0)
    return load.run(client, url, request, connections, seconds)


def measure(
    side: str,
    url: str,
    app: servers.Server,
    nginx: through_nginx.Nginx,
    database: str,
    workdir: Path,
    seeded: Seeded,
    args: argparse.Namespace,
) -> dict:
    """One side's window; its figures (bench/mixed_report.py)."""
    c = connections(args)
    member_names, writer_names = accounts(seeded, args)
    print(f"  {side}: logging in {len(member_names)} members and {len(writer_names)} writers")
    members = log_in(url, member_names)
    writers = log_in(url, writer_names)
    check_members(url, members, member_names)
    members_asked = member_request(members) if members else REQUEST
    if args.warmup:
        for request in (REQUEST, members_asked):
            load.run(args.client, url, request, 4, args.warmup)
    sockets = args.mixed_sockets if side == "ours" else 0
    # nginx writes its log buffer at least once a second; with sockets, its idle
    # connections to the app close first (keepalive_timeout 4s), so that each worker's
    # count of open sockets before the sockets (`spread`) holds no connection that ends.
    time.sleep(4.5 if sockets else 1.5)
    log = workdir / f"access-{side}.log"
    offset = log.stat().st_size if log.exists() else 0
    prefix = f"Mixed {workdir.name} {side}, "
    baseline = _socket_fds(app)
    print(f"  {side}: {sockets} sockets, then {args.duration:g} s of load")
    measured: Window = live.event_loop_runner()(
        window(
            url,
            sockets,
            writers,
            args.mixed_rate,
            args.duration,
            prefix,
            [
                partial(_load, args.client, url, REQUEST, c["readers"], args.duration),
                partial(_load, args.client, url, members_asked, c["members"], args.duration),
            ],
            partial(snapshot, app, nginx),
            partial(spread, app, baseline) if sockets else lambda: None,
        )
    )
    written = pg.messages_starting(database.replace("+asyncpg", ""), prefix)
    time.sleep(1.5)  # nginx writes its log buffer at least once a second
    return figures(measured, written, sockets, c, args, cache_statuses(log, offset))


def run(
    apps: dict[str, servers.Server],
    databases: dict[str, str],
    workdir: Path,
    seeded: Seeded,
    args: argparse.Namespace,
) -> dict[str, dict]:
    """Both sides behind one nginx, ours first: their figures, by side."""
    live.raise_file_limit()  # before the servers and nginx start: they inherit it
    apps["ours"].env.update(live.LIVE_ENV)
    apps["ours"].env["GUESTBOOK_PROXY_HOPS"] = "1"  # as the sample site is deployed
    ports = {side: servers.free_port() for side in SIDES}
    urls = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
    with shared_limits(args.redis, f"gb_bench_{workdir.name}:") as redis_env:
        apps["ours"].env.update(redis_env)
        args.redis_used = bool(redis_env)
        sample = partial(site, ports, workdir)
        with through_nginx.serving(apps, workdir, sample, NGINX_CONNECTIONS) as nginx:
            for url in urls.values():
                through_nginx.wait_for(url + "/")
            return {
                side: measure(
                    side, urls[side], apps[side], nginx, databases[side], workdir, seeded, args
                )
                for side in SIDES
            }
