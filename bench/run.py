"""`python -m bench`: seed, start the servers, drive them A/B interleaved, report.

One run measures every scenario on our app and on the Flask original one after the
other, alternating which goes first; the figures are medians over the runs. Ratios
measured side by side in one run are what count: the machine is shared, so absolute
figures move with whatever else runs, but both sides see the same weather.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import live, load, mixed, mixed_report, options, report, servers, through_nginx
from .scenarios import BY_NAME, MEMBERS_ONLY, Scenario, visitors
from .seed import Seeded, seed
from .sides import (
    PAGE_SIZE,
    Side,
    app_env,
    before_side,
    copies,
    count_messages,
    flask_side,
    ours,
    ours_side,
    simplest_side,
)

ROOT = Path(__file__).resolve().parents[1]
SCALE_SCENARIOS = ("index", "page500")
SIDES = ("ours", "flask", "simplest")


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


def main(argv: list[str] | None = None) -> list[dict]:
    args = options.parse_args(argv)
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if args.mixed:
        result = run_mixed(options.for_database(args, "postgres"), command)
        if args.write_results:
            body = mixed_report.markdown(result)
            for path in report.write_section(report.MIXED_MARKERS, body, ROOT):
                print(f"wrote {path}")
        return [result]
    if args.through == "nginx":
        result = run_through_nginx(options.for_database(args, databases[0]), command)
        if args.write_results:
            body = through_nginx.markdown(result)
            for path in report.write_section(report.NGINX_MARKERS, body, ROOT):
                print(f"wrote {path}")
        return [result]
    results = [run(options.for_database(args, database), command) for database in databases]
    if args.write_results:
        for path in report.write_results(results, ROOT):
            print(f"wrote {path}")
    return results


def run(args: argparse.Namespace, command: str) -> dict:
    stamp, workdir, info = _begin(args, args.database, command)
    started = time.monotonic()
    print(f"seeding {args.users} users, {args.messages} messages; client {args.client}")
    seeded = seed(workdir / "seed.sqlite3", args.users, args.messages, PAGE_SIZE)

    names = [*SIDES, "before"] if args.against else list(SIDES)
    with copies(seeded, workdir, stamp, args, names) as databases:
        sides = [
            ours_side(databases["ours"], seeded, workdir, args),
            flask_side(databases["flask"], seeded, workdir, args),
            simplest_side(databases["simplest"], seeded, workdir, args),
        ]
        if args.against:
            sides.append(before_side(databases["before"], seeded, workdir, args))
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
    _finish(result, args, stamp, args.database, report.render(result))
    shutil.copyfile(args.out / "latest.json", args.out / f"latest-{args.database}.json")
    return result


def _begin(args: argparse.Namespace, kind: str, command: str) -> tuple[str, Path, dict]:
    """A run's stamp, its work directory, and what it records of itself."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    workdir = args.out / f"run-{stamp}-{kind}"
    workdir.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    del config["scenario_list"]
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "commit": _commit(),
        "machine": machine(),
        "config": config,
    }
    return stamp, workdir, info


def _finish(result: dict, args: argparse.Namespace, stamp: str, kind: str, text: str) -> None:
    print()
    print(text)
    path = args.out / f"bench-{stamp}-{kind}.json"
    path.write_text(json.dumps(result, indent=2))
    shutil.copyfile(path, args.out / "latest.json")
    print(f"\nJSON: {path}\nlogs: {args.out / f'run-{stamp}-{kind}'}")


def run_through_nginx(args: argparse.Namespace, command: str) -> dict:
    """`--through nginx`: the four sides of bench/through_nginx.py, in one run."""
    stamp, workdir, info = _begin(args, "nginx", command)
    started = time.monotonic()
    print(f"seeding {args.users} users, {args.messages} messages; client {args.client}")
    seeded = seed(workdir / "seed.sqlite3", args.users, args.messages, PAGE_SIZE)
    with copies(seeded, workdir, stamp, args, list(SIDES)) as databases:
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
    _finish(result, args, stamp, "nginx", through_nginx.render(result))
    return result


def run_mixed(args: argparse.Namespace, command: str) -> dict:
    """`--mixed`: bench/mixed.py's load on ours, then on the Flask baseline, on
    PostgreSQL copies of the seeded data (dropped after)."""
    stamp, workdir, info = _begin(args, "mixed", command)
    started = time.monotonic()
    print(f"seeding {args.users} users, {args.messages} messages; client {args.client}")
    seeded = seed(workdir / "seed.sqlite3", args.users, args.messages, PAGE_SIZE)
    with copies(seeded, workdir, stamp, args, list(mixed.SIDES)) as databases:
        apps = {
            "ours": ours("ours", databases["ours"], seeded, workdir, args).app,
            "flask": flask_side(databases["flask"], seeded, workdir, args).app,
        }
        sides = mixed.run(apps, databases, workdir, seeded, args)
    info["config"]["redis_used"] = args.redis_used
    result = {
        **info,
        "seconds": round(time.monotonic() - started, 1),
        "sides": sides,
        "targets": mixed_report.targets(sides),
    }
    _finish(result, args, stamp, "mixed", mixed_report.render(result))
    return result


def _commit(root: Path = ROOT) -> str:
    """The commit measured, marked when the code differs from it: RESULTS.md aside,
    which `make bench` rewrites between its runs."""

    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=root, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git(
        "status", "--porcelain", "--untracked-files=no",
        "src", "bench", ":(exclude)bench/RESULTS.md",
    )  # fmt: skip
    return git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if dirty else "")


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
