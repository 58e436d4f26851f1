"""`python -m bench`: seed, start the servers, drive them A/B interleaved, report.

One run measures every scenario on our app and on the Flask original one after the
other, alternating which goes first; the figures are medians over the runs. Ratios
measured side by side in one run are what count: the machine is shared, so absolute
figures move with whatever else runs, but both sides see the same weather.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from guestbook.models import drop_content_version_ddl

from . import live, load, report, servers
from .scenarios import BY_NAME, MEMBERS_ONLY, Scenario, Visitors, visitors
from .seed import Seeded, count_messages, seed

OUT = Path(__file__).resolve().parent / "out"
PAGE_SIZE = 20
SCALE_SCENARIOS = ("index", "page500")


@dataclass
class Side:
    """One app under test with its own copy of the data."""

    name: str
    app: servers.Server
    hello: servers.Server | None
    db: Path
    seeded: Seeded
    baseline: bool = False  # the Flask original
    visitors: Visitors | None = None

    def server(self, scenario: Scenario) -> servers.Server | None:
        if self.baseline and not scenario.flask:
            return None
        return self.hello if scenario.bare else self.app

    def all_servers(self) -> list[servers.Server]:
        return [s for s in (self.app, self.hello) if s is not None]


@dataclass
class Sample:
    run: int
    scenario: str
    side: str
    result: load.Result
    rss_mb: float
    # Worker CPU per request: unlike req/s, barely moved by other load on the machine.
    cpu_ms: float
    rows_added: int | None = None

    def as_dict(self) -> dict:
        return {
            "run": self.run,
            "scenario": self.scenario,
            "side": self.side,
            **self.result.as_dict(),
            "rss_mb": self.rss_mb,
            "cpu_ms": round(self.cpu_ms, 3),
            "rows_added": self.rows_added,
        }


def app_env(db: Path, workdir: Path, secret: str) -> dict[str, str]:
    return {
        "GUESTBOOK_ENV": "production",
        "GUESTBOOK_ALLOW_SQLITE": "1",
        "GUESTBOOK_SECRET_KEY": secret,
        "GUESTBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "GUESTBOOK_INSTANCE_PATH": str(workdir / "instance"),
        "GUESTBOOK_MAIL_BACKEND": "null",
        "GUESTBOOK_PAGE_SIZE": str(PAGE_SIZE),
        # The login scenario logs in thousands of times from one address, and the POST
        # scenario posts thousands of messages as one member (the limit is still checked).
        "GUESTBOOK_LOGIN_LIMIT": str(10**9),
        "GUESTBOOK_POST_LIMIT": str(10**9),
    }


def ours(name: str, db: Path, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    env = app_env(db, workdir, secrets.token_hex(32))
    app = servers.Server(
        f"{name} (hypercorn)",
        servers.hypercorn("bench.app:app", args.workers, args.worker_class),
        env,
        "/healthz",
        args.workers,
        workdir / f"{name}.log",
    )
    return Side(name, app, None, db, seeded)


def measure(sides: list[Side], scenarios: list[Scenario], args: argparse.Namespace) -> list[Sample]:
    samples = []
    for run in range(args.runs):
        for scenario in scenarios:
            # A/B interleaved: who goes first alternates from run to run.
            order = sides if run % 2 == 0 else sides[::-1]
            for side in order:
                server = side.server(scenario)
                if server is None:
                    continue
                sample = measure_one(run, scenario, side, server, args.duration, args.client)
                samples.append(sample)
                print(
                    f"  run {run + 1}/{args.runs} {scenario.name:<13} {side.name:<6} "
                    f"{sample.result.rps:8.1f} req/s  p99 {sample.result.p99_ms:7.1f} ms  "
                    f"cpu {sample.cpu_ms:5.2f} ms/req  errors {sample.result.errors}",
                    flush=True,
                )
    return samples


def measure_one(
    run: int, scenario: Scenario, side: Side, server: servers.Server, seconds: float, client: str
) -> Sample:
    request = scenario.request(side.visitors, side.seeded)
    before = count_messages(side.db) if scenario.name == "post" else None
    server.wait_idle()
    server.reset_peak_rss()
    cpu = server.cpu_seconds()
    result = load.run(client, server.url, request, scenario.connections, seconds)
    cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(result.requests, 1)
    rows = None if before is None else count_messages(side.db) - before
    return Sample(run, scenario.name, side.name, result, server.peak_rss_mb(), cpu_ms, rows)


def warm_up(sides: list[Side], scenarios: list[Scenario], client: str, seconds: float) -> None:
    for side in sides:
        for scenario in scenarios:
            if scenario.name in ("login", "post"):
                continue  # no need to warm by writing
            server = side.server(scenario)
            if server is not None:
                request = scenario.request(side.visitors, side.seeded)
                load.run(client, server.url, request, 4, seconds)


def machine() -> dict[str, object]:
    import importlib.metadata as md

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    packages = ["quart", "hypercorn", "sqlalchemy", "aiosqlite", "jinja2", "uvloop", "flask"]
    packages += ["flask-sqlalchemy", "gunicorn"]
    versions = {}
    for name in packages:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "versions": versions,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0].split(": ", 1)[1]
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=1, help="workers per server (all alike)")
    parser.add_argument("--worker-class", default="uvloop", choices=["uvloop", "asyncio"])
    parser.add_argument("--runs", type=int, default=3, help="A/B rounds; figures are medians")
    parser.add_argument("--duration", type=float, default=4, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1, help="seconds per page, before")
    parser.add_argument(
        "--scenarios",
        default=",".join(BY_NAME),
        help="comma-separated, from: " + ", ".join(BY_NAME),
    )
    parser.add_argument(
        "--scale",
        default="10000,1000000",
        help="message counts for the scale check of our main page and page 500 ('' to skip)",
    )
    parser.add_argument(
        "--client", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    parser.add_argument(
        "--live", default="1000,10000", help="open sockets for the live scenario ('' to skip)"
    )
    parser.add_argument("--live-events", type=int, default=10, help="posts per live count")
    parser.add_argument("--live-idle", type=float, default=26, help="idle seconds measured")
    parser.add_argument(
        "--against",
        default="",
        help="also serve our app as of this git revision (e.g. main), side by side, "
        "to measure what the changes since cost",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON and logs go")
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if load.wrk_path() else "python"
    args.scenario_list = [BY_NAME[name] for name in args.scenarios.split(",")]
    args.scale_sizes = [int(n) for n in args.scale.split(",") if n.strip()]
    args.live_counts = [int(n) for n in args.live.split(",") if n.strip()]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    workdir = args.out / f"run-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k != "scenario_list"
        },
    }
    print(f"seeding {args.users} users, {args.messages} messages; client {args.client}")
    seeded = seed(workdir / "seed.sqlite3", args.users, args.messages, PAGE_SIZE)

    sides = [_ours_side(seeded, workdir, args), _flask_side(seeded, workdir, args)]
    if args.against:
        sides.append(_before_side(seeded, workdir, args))
    samples = _with_servers(sides, args, args.scenario_list)
    summary = report.summarize([s.as_dict() for s in samples])

    scale_summary = None
    if len(args.scale_sizes) == 2:
        scale_sides = []
        for size in args.scale_sizes:
            print(f"seeding {size} messages for the scale check")
            data = seed(workdir / f"scale-{size}.sqlite3", args.users, size, PAGE_SIZE)
            scale_sides.append(ours(f"{size}", data.path, data, workdir, args))
        scale_scenarios = [BY_NAME[name] for name in SCALE_SCENARIOS]
        scale_samples = _with_servers(scale_sides, args, scale_scenarios)
        scale_summary = report.summarize([s.as_dict() for s in scale_samples])
        samples += scale_samples

    live_samples = _live(seeded, workdir, args) if args.live_counts else []

    result = {
        **info,
        "seconds": round(time.monotonic() - started, 1),
        "summary": summary,
        "scale": scale_summary,
        "targets": report.targets(summary, scale_summary, args.scale_sizes, args.workers)
        + live.targets(live_samples),
        "samples": [s.as_dict() for s in samples],
        "live": live_samples,
    }
    print()
    print(report.render(result))
    path = args.out / f"bench-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    shutil.copyfile(path, args.out / "latest.json")
    print(f"\nJSON: {path}\nlogs: {workdir}")
    return result


def _ours_side(seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    db = workdir / "ours.sqlite3"
    shutil.copyfile(seeded.path, db)
    side = ours("ours", db, seeded, workdir, args)
    side.hello = servers.Server(
        "hello (hypercorn)",
        servers.hypercorn("bench.baseline.hello:app", args.workers, args.worker_class),
        {},
        "/hello",
        args.workers,
        workdir / "hello.log",
    )
    return side


def _before_side(seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    """Our app as of `--against`: its `src/` from git, first on the workers' path."""
    source = workdir / "before"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", args.against, "src"],
        cwd=servers.ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    db = workdir / "before.sqlite3"
    shutil.copyfile(seeded.path, db)
    side = ours("before", db, seeded, workdir, args)
    side.app.env["PYTHONPATH"] = os.pathsep.join([str(source / "src"), str(servers.ROOT)])
    return side


def _flask_side(seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    db = workdir / "flask.sqlite3"
    shutil.copyfile(seeded.path, db)
    # The content-version triggers serve our cache; the original has none to pay for.
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        for statement in drop_content_version_ddl("sqlite"):
            con.execute(statement)
    app = servers.Server(
        "flask (gunicorn sync)",
        servers.gunicorn("bench.baseline.flask_app:app", args.workers),
        app_env(db, workdir, secrets.token_hex(32)),
        "/hello",
        args.workers,
        workdir / "flask.log",
    )
    return Side("flask", app, app, db, seeded, baseline=True)


def _live(seeded: Seeded, workdir: Path, args: argparse.Namespace) -> list[dict]:
    """The live scenario: our app and the bare broadcast app, one worker each."""
    print(f"live: {args.live} sockets, {args.live_events} posts, {args.live_idle:.0f} s idle")
    live.raise_file_limit()  # before the servers start: they inherit it
    db = workdir / "live.sqlite3"
    shutil.copyfile(seeded.path, db)
    env = {**app_env(db, workdir, secrets.token_hex(32)), **live.LIVE_ENV}
    launch = servers.hypercorn("bench.app:app", 1, args.worker_class)
    ours_server = servers.Server("ours live", launch, env, "/healthz", 1, workdir / "live.log")
    bare = servers.Server(
        "bare broadcast (hypercorn)",
        servers.hypercorn("bench.baseline.broadcast:app", 1, args.worker_class),
        {},
        "/hello",
        1,
        workdir / "broadcast.log",
    )
    try:
        for server in (ours_server, bare):
            server.launch()
        for server in (ours_server, bare):
            server.wait_ready()
        return live.run(ours_server, bare, args.live_counts, args.live_events, args.live_idle)
    finally:
        for server in (ours_server, bare):
            server.stop()


def _with_servers(
    sides: list[Side], args: argparse.Namespace, scenarios: list[Scenario]
) -> list[Sample]:
    started = list({id(s): s for side in sides for s in side.all_servers()}.values())
    try:
        for server in started:
            server.launch()
        for server in started:
            server.wait_ready()
        members = any(scenario.name in MEMBERS_ONLY for scenario in scenarios)
        for side in sides:
            side.visitors = visitors(side.app.url, members)
        if args.warmup:
            warm_up(sides, scenarios, args.client, args.warmup)
        return measure(sides, scenarios, args)
    finally:
        for server in started:
            server.stop()
