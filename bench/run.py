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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from guestbook.db.triggers import drop_content_version_ddl

from . import live, load, pg, report, servers, through_nginx
from .scenarios import BY_NAME, MEMBERS_ONLY, Scenario, Visitors, visitors
from .seed import Seeded, seed
from .seed import count_messages as seed_count

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PAGE_SIZE = 20
SCALE_SCENARIOS = ("index", "page500")
SIDES = ("ours", "flask", "simplest")


@dataclass
class Side:
    """One app under test with its own copy of the data."""

    name: str
    app: servers.Server
    hello: servers.Server | None
    database: str  # its own copy of the data: a SQLAlchemy URL (async driver)
    seeded: Seeded
    visitors: Visitors | None = None

    def server(self, scenario: Scenario) -> servers.Server | None:
        if self.name == "flask" and not scenario.flask:
            return None
        if self.name == "simplest" and not scenario.simplest:
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


def app_env(database: str, workdir: Path, secret: str) -> dict[str, str]:
    return {
        "GUESTBOOK_ENV": "production",
        "GUESTBOOK_ALLOW_SQLITE": "1",
        "GUESTBOOK_SECRET_KEY": secret,
        "GUESTBOOK_DATABASE_URL": database,
        "GUESTBOOK_INSTANCE_PATH": str(workdir / "instance"),
        "GUESTBOOK_MAIL_BACKEND": "null",
        "GUESTBOOK_PAGE_SIZE": str(PAGE_SIZE),
        # The login scenario logs in thousands of times from one address, and the POST
        # scenario posts thousands of messages as one member (the limit is still checked).
        "GUESTBOOK_LOGIN_LIMIT": str(10**9),
        "GUESTBOOK_POST_LIMIT": str(10**9),
        # It posts one text again and again: the repeat rule would refuse all but the first.
        "GUESTBOOK_DUPLICATE_WINDOW_SECONDS": "0",
    }


def count_messages(database: str) -> int:
    if database.startswith("postgresql"):
        return pg.count_messages(database.replace("+asyncpg", ""))
    return seed_count(Path(database.split("///", 1)[1]))


def ours(name: str, database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    env = app_env(database, workdir, secrets.token_hex(32))
    app = servers.Server(
        f"{name} (hypercorn)",
        servers.hypercorn("bench.app:app", args.workers, args.worker_class),
        env,
        "/healthz",
        args.workers,
        workdir / f"{name}.log",
    )
    return Side(name, app, None, database, seeded)


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
    before = count_messages(side.database) if scenario.name in ("post", "api_post") else None
    server.wait_idle()
    server.reset_peak_rss()
    cpu = server.cpu_seconds()
    result = load.run(client, server.url, request, scenario.connections, seconds)
    cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(result.requests, 1)
    rows = None if before is None else count_messages(side.database) - before
    return Sample(run, scenario.name, side.name, result, server.peak_rss_mb(), cpu_ms, rows)


def warm_up(sides: list[Side], scenarios: list[Scenario], client: str, seconds: float) -> None:
    for side in sides:
        for scenario in scenarios:
            if scenario.name in ("login", "post", "api_post"):
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
    packages += ["flask-sqlalchemy", "gunicorn", "granian", "uvicorn", "httptools"]
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
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        default="sqlite",
        help="postgres: copies on the local server (GUESTBOOK_BENCH_PG_URL), 2 workers per "
        "side, Flask on psycopg with threads, no scale check; both: one, then the other",
    )
    parser.add_argument(
        "--write-results",
        action="store_true",
        help="write bench/RESULTS.md's figures and the README's table from this run",
    )
    parser.add_argument(
        "--workers", type=int, help="workers per server, all alike (1; 2 with postgres)"
    )
    parser.add_argument(
        "--flask-threads",
        type=int,
        help="gunicorn threads per Flask worker (1, sync workers; 4 with postgres)",
    )
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
    parser.add_argument(
        "--through",
        choices=["nginx"],
        help="instead: our cached main page, a static file, our app uncached and the "
        "simplest Flask page, all behind the sample nginx site (bench/through_nginx.py)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON and logs go")
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if load.wrk_path() else "python"
    args.scenario_list = [BY_NAME[name] for name in args.scenarios.split(",")]
    args.scale_sizes = [int(n) for n in args.scale.split(",") if n.strip()]
    args.live_counts = [int(n) for n in args.live.split(",") if n.strip()]
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if args.through == "nginx":
        result = run_through_nginx(for_database(args, databases[0]), command)
        if args.write_results:
            for path in report.write_nginx_results(through_nginx.markdown(result), ROOT):
                print(f"wrote {path}")
        return [result]
    results = [run(for_database(args, database), command) for database in databases]
    if args.write_results:
        for path in report.write_results(results, ROOT):
            print(f"wrote {path}")
    return results


def for_database(args: argparse.Namespace, database: str) -> argparse.Namespace:
    """`args` for one database, with that database's defaults filled in."""
    args = argparse.Namespace(**vars(args))
    postgres = database == "postgres"
    args.database = database
    if args.workers is None:
        args.workers = 2 if postgres else 1
    if args.flask_threads is None:
        args.flask_threads = 4 if postgres else 1
    if postgres:
        args.scale_sizes = []  # the scale check seeds SQLite files
    return args


def run(args: argparse.Namespace, command: str) -> dict:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    workdir = args.out / f"run-{stamp}-{args.database}"
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "commit": _commit(),
        "machine": machine(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k != "scenario_list"
        },
    }
    print(f"seeding {args.users} users, {args.messages} messages; client {args.client}")
    seeded = seed(workdir / "seed.sqlite3", args.users, args.messages, PAGE_SIZE)

    names = [*SIDES, "before"] if args.against else list(SIDES)
    with _databases(seeded, workdir, stamp, args, names) as databases:
        sides = [
            _ours_side(databases["ours"], seeded, workdir, args),
            _flask_side(databases["flask"], seeded, workdir, args),
            _simplest_side(databases["simplest"], seeded, workdir, args),
        ]
        if args.against:
            sides.append(_before_side(databases["before"], seeded, workdir, args))
        samples = _with_servers(sides, args, args.scenario_list)
    summary = report.summarize([s.as_dict() for s in samples])

    scale_summary = None
    if len(args.scale_sizes) == 2:
        scale_sides = []
        for size in args.scale_sizes:
            print(f"seeding {size} messages for the scale check")
            data = seed(workdir / f"scale-{size}.sqlite3", args.users, size, PAGE_SIZE)
            database = f"sqlite+aiosqlite:///{data.path}"
            scale_sides.append(ours(f"{size}", database, data, workdir, args))
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
        "targets": report.targets(
            summary,
            scale_summary,
            args.scale_sizes,
            args.workers,
            hashes_at_once=os.cpu_count() or 1,  # passwords.py: one hash per core at once
        )
        + live.targets(live_samples),
        "samples": [s.as_dict() for s in samples],
        "live": live_samples,
    }
    print()
    print(report.render(result))
    path = args.out / f"bench-{stamp}-{args.database}.json"
    path.write_text(json.dumps(result, indent=2))
    shutil.copyfile(path, args.out / "latest.json")
    shutil.copyfile(path, args.out / f"latest-{args.database}.json")
    print(f"\nJSON: {path}\nlogs: {workdir}")
    return result


def run_through_nginx(args: argparse.Namespace, command: str) -> dict:
    """`--through nginx`: the four sides of bench/through_nginx.py, in one run."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    workdir = args.out / f"run-{stamp}-nginx"
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "commit": _commit(),
        "machine": machine(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k != "scenario_list"
        },
    }
    print(f"seeding {args.users} users, {args.messages} messages; client {args.client}")
    seeded = seed(workdir / "seed.sqlite3", args.users, args.messages, PAGE_SIZE)
    with _databases(seeded, workdir, stamp, args, list(SIDES)) as databases:
        apps = through_nginx.apps(workdir, databases, app_env, args)
        with through_nginx.running(apps, workdir) as (urls, nginx):
            if args.warmup:
                through_nginx.warm_up(urls, args)
            samples = through_nginx.measure(urls, nginx, args)
    summary = through_nginx.summarize(samples)
    result = {
        **info,
        "seconds": round(time.monotonic() - started, 1),
        "summary": summary,
        "ratios": through_nginx.ratios(summary),
        "static_over_cached_nginx_cpu": through_nginx.cpu_ratio(summary),
        "targets": through_nginx.targets(summary),
        "samples": samples,
    }
    print()
    print(through_nginx.render(result))
    path = args.out / f"bench-{stamp}-nginx.json"
    path.write_text(json.dumps(result, indent=2))
    shutil.copyfile(path, args.out / "latest.json")
    print(f"\nJSON: {path}\nlogs: {workdir}")
    return result


def _commit() -> str:
    """The commit measured, marked when the work tree differs from it."""

    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "src", "bench")
    return git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if dirty else "")


@contextlib.contextmanager
def _databases(
    seeded: Seeded, workdir: Path, stamp: str, args: argparse.Namespace, names: list[str]
) -> Iterator[dict[str, str]]:
    """A copy of the seeded data per side: SQLite files, or PostgreSQL databases."""
    if args.database == "postgres":
        with pg.databases(seeded.path, stamp, names) as urls:
            yield {
                side: url.replace("postgresql://", "postgresql+asyncpg://")
                for side, url in urls.items()
            }
        return
    files = {}
    for side in names:
        files[side] = workdir / f"{side}.sqlite3"
        shutil.copyfile(seeded.path, files[side])
    # The content-version triggers serve our cache; the baselines have none to pay for.
    for side in ("flask", "simplest"):
        with contextlib.closing(sqlite3.connect(files[side])) as con, con:
            for statement in drop_content_version_ddl("sqlite"):
                con.execute(statement)
    yield {side: f"sqlite+aiosqlite:///{path}" for side, path in files.items()}


def _ours_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    side = ours("ours", database, seeded, workdir, args)
    side.hello = servers.Server(
        "hello (hypercorn)",
        servers.hypercorn("bench.baseline.hello:app", args.workers, args.worker_class),
        {},
        "/hello",
        args.workers,
        workdir / "hello.log",
    )
    return side


def _before_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
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
    side = ours("before", database, seeded, workdir, args)
    side.app.env["PYTHONPATH"] = os.pathsep.join([str(source / "src"), str(servers.ROOT)])
    return side


def _flask(
    name: str, module: str, database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace
) -> Side:
    """A Flask baseline under gunicorn: sync workers on SQLite (sqlite3 is in-line and
    quick), threads on PostgreSQL, where a worker would otherwise sit idle during each
    round trip (`--flask-threads`)."""
    app = servers.Server(
        f"{name} (gunicorn)",
        servers.gunicorn(module, args.workers, args.flask_threads),
        app_env(database, workdir, secrets.token_hex(32)),
        "/hello",
        args.workers,
        workdir / f"{name}.log",
    )
    return Side(name, app, app, database, seeded)


def _flask_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    return _flask("flask", "bench.baseline.flask_app:app", database, seeded, workdir, args)


def _simplest_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    module = "bench.baseline.flask_simplest:app"
    return _flask("simplest", module, database, seeded, workdir, args)


def _live(seeded: Seeded, workdir: Path, args: argparse.Namespace) -> list[dict]:
    """The live scenario: our app and the bare broadcast app, one worker each."""
    print(f"live: {args.live} sockets, {args.live_events} posts, {args.live_idle:.0f} s idle")
    live.raise_file_limit()  # before the servers start: they inherit it
    db = workdir / "live.sqlite3"
    shutil.copyfile(seeded.path, db)
    env = {**app_env(f"sqlite+aiosqlite:///{db}", workdir, secrets.token_hex(32)), **live.LIVE_ENV}
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
            # The simplest page has no forms: nobody to log in there.
            side.visitors = None if side.name == "simplest" else visitors(side.app.url, members)
        if args.warmup:
            warm_up(sides, scenarios, args.client, args.warmup)
        return measure(sides, scenarios, args)
    finally:
        for server in started:
            server.stop()
