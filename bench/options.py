"""`python -m bench`'s flags, and the defaults each database fills in."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import load
from .scenarios import BY_NAME

OUT = Path(__file__).resolve().parent / "out"
DESCRIPTION = "seed, start the servers, drive them A/B interleaved, report."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
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
    parser.add_argument(
        "--duration", type=float, help="seconds per measurement (4; with --mixed, 60 per side)"
    )
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
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="instead: readers, members, writers and open /live sockets at once, on "
        "PostgreSQL behind the sample nginx site, ours then the Flask baseline (bench/mixed.py)",
    )
    parser.add_argument("--mixed-sockets", type=int, default=1000, help="/live sockets (ours)")
    parser.add_argument(
        "--mixed-clients", default="64,16,8", help="connections: readers,members,writers"
    )
    parser.add_argument(
        "--mixed-rate", type=float, default=10, help="posts per second asked of all writers"
    )
    parser.add_argument(
        "--redis",
        default=os.environ.get("GUESTBOOK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="with --mixed: ours' shared rate limits, under a prefix of the run ('' for none)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON and logs go")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 60 if args.mixed else 4
    if args.client == "auto":
        args.client = "wrk" if load.wrk_path() else "python"
    args.scenario_list = [BY_NAME[name] for name in args.scenarios.split(",")]
    args.scale_sizes = [int(n) for n in args.scale.split(",") if n.strip()]
    args.live_counts = [int(n) for n in args.live.split(",") if n.strip()]
    return args


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
