"""The benchmark runs end to end (`python -m bench`): a second of load per measurement
on tiny data, and a table and JSON with sane fields, on SQLite and on PostgreSQL. No
timing is asserted: speed is what the benchmark reports, not what the suite checks."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from support import ROOT, _unavailable

SCENARIOS = [
    "hello", "index", "index_member", "profile", "fragment", "post", "api_list", "api_post",
    "wait", "bare_wait",
]  # fmt: skip
# Which sides measure what: the simplest Flask page has only the main page and hello;
# the bare Quart app's 50 ms page, the live pages' fragment and the JSON API are ours alone.
SIMPLEST = {"hello", "index"}
OURS_ONLY = {"bare_wait", "fragment", "api_list", "api_post"}


def bench(out: Path, args: list[str], shown: str) -> dict:
    """`python -m bench` with `args`, its output in `out`: the run's JSON, once it ran
    and printed `shown` and its targets."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert shown in done.stdout
    assert "targets:" in done.stdout
    return json.loads((out / "latest.json").read_text())


def run_bench(out: Path, *extra: str) -> dict:
    # A small list of scenarios keeps it short; every kind is there: reads with and
    # without cookies, a write with its row count, the slow pages, the hello ceiling.
    args = ["--users", "5", "--messages", "60", "--runs", "1", "--duration", "1"]
    args += ["--warmup", "0", "--scenarios", ",".join(SCENARIOS), "--live", "", *extra]
    return bench(out, args, "main page, no cookies")


def check_summary(result: dict) -> None:
    assert result["machine"]["nproc"] >= 1
    assert result["config"]["client"] in ("wrk", "python")
    summary = result["summary"]
    assert sorted(summary) == sorted(SCENARIOS)
    for scenario, sides in summary.items():
        expected = ["ours"] if scenario in OURS_ONLY else ["flask", "ours"]
        expected += ["simplest"] if scenario in SIMPLEST else []
        assert sorted(sides) == sorted(expected), scenario
        for side, entry in sides.items():
            where = f"{scenario} on {side}: {entry}"
            assert entry["rps"] > 0, where
            assert entry["errors"] == 0, where
            assert 0 <= entry["p50_ms"] <= entry["p99_ms"], where
            assert 10 < entry["rss_mb"] < 2000, where
            assert entry["cpu_ms"] >= 0, where
    for side in ("ours", "flask"):
        assert summary["post"][side]["rows_added"] > 0
        assert summary["post"][side]["lost_rows"] == 0
    assert summary["api_post"]["ours"]["rows_added"] > 0  # signed in with a write token
    assert summary["api_post"]["ours"]["lost_rows"] == 0
    targets = {t["target"]: t for t in result["targets"]}
    for name in (
        "main page, no cookies: x Flask >= 2.0",
        "main page, no cookies: x simplest Flask >= 1.0",
        "main page, logged in: x hello >= 0.6",
        "POST: x Flask >= 1.2",
    ):
        assert name in targets, name
    # The 50 ms page is measured beside the bare app (its share is reported), no longer
    # a target.
    assert not [name for name in targets if name.startswith("50 ms page")]
    assert all(isinstance(t["met"], bool) for t in targets.values())


@pytest.mark.sqlite_only
def test_the_benchmark_runs_and_reports(tmp_path: Path) -> None:
    live = ["--live", "20", "--live-events", "2", "--live-idle", "0.5"]
    result = run_bench(tmp_path / "out", "--scale", "30,90", *live)
    check_summary(result)
    assert result["config"]["database"] == "sqlite"
    assert sorted(result["scale"]) == ["index", "page500"]
    assert all(sorted(sides) == ["30", "90"] for sides in result["scale"].values())
    sides_per_scenario = sum(1 + (s not in OURS_ONLY) + (s in SIMPLEST) for s in SCENARIOS)
    assert len(result["samples"]) == sides_per_scenario + 2 * 2
    live = {row["side"]: row for row in result["live"]}
    assert sorted(live) == ["bare", "ours"]
    for side, row in live.items():
        assert (row["sockets"], row["opened"], row["missing"]) == (20, 20, 0), side
        assert 0 <= row["p50_ms"] <= row["p99_ms"], side
        assert row["p99_from_request_ms"] > 0, side  # the clock starts before the POST
    assert "20 sockets: p99 <= 250 ms" in {t["target"] for t in result["targets"]}


@pytest.mark.postgres_only
def test_the_benchmark_runs_on_postgres(tmp_path: Path) -> None:
    """The production shape: PostgreSQL copies, two workers per side, Flask threaded."""
    result = run_bench(tmp_path / "out", "--database", "postgres")
    check_summary(result)
    assert result["config"]["database"] == "postgres"
    assert result["config"]["workers"] == 2
    assert result["config"]["flask_threads"] > 1
    assert result["scale"] is None


@pytest.mark.sqlite_only
def test_the_api_scenarios_have_workers_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page workers' peak memory is measured as a site without API clients has it: the
    API loads on its first request (`api.routes`) and would add its ~10 MB to them."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.scenarios import SCENARIOS
    from bench.sides import ours_side

    args = argparse.Namespace(workers=1, worker_class="uvloop")
    side = ours_side("sqlite+aiosqlite:///unused.sqlite3", None, tmp_path, args)
    served = {scenario.name: side.server(scenario) for scenario in SCENARIOS}
    assert {name for name, server in served.items() if server is side.api} == {
        "api_list",
        "api_post",
    }
    assert served["index"] is served["index_member"] is served["post"] is side.app
    assert side.api is not side.app and side.api.env is side.app.env  # same data, same key
    assert side.api in side.all_servers()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("side", ["ours", "bare"])
def test_the_requests_whose_instructions_are_counted_answer(
    tmp_path: Path, side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m bench.instructions` counts these under valgrind (too slow for the
    suite); here they run plain, so a change that breaks them shows before a count."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench import instructions

    env = instructions.environment(tmp_path)
    command = [sys.executable, "-m", "bench.instructions", "--child", side, "/bench/wait", "3"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.sqlite_only
def test_the_count_through_hypercorn_serves_asks_and_ends_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--server`: the counted child serves under hypercorn (here without valgrind),
    answers the parent's keep-alive client, refuses a count on a page that is not a
    200, and ends on SIGTERM as a process does, so that callgrind writes its count."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench import instructions, servers

    env, port = instructions.environment(tmp_path), servers.free_port()
    command = [sys.executable, "-m", "bench.instructions", "--child", "ours", "/", "0"]
    log = tmp_path / "child.log"  # a file, as `_count_served` does: a full pipe would stop it
    with log.open("w") as output:
        child = subprocess.Popen(
            command, cwd=ROOT, env={**env, instructions.PORT_ENV: str(port)}, stderr=output
        )
        try:
            instructions.wait_for_port(child, port, 60)
            asyncio.run(instructions._ask(port, "/", 13, 4, ""))  # 4, 3, 3 and 3 a connection
            with pytest.raises(SystemExit, match="404"):
                asyncio.run(instructions._ask(port, "/nowhere", 1, 1, ""))
        finally:
            child.terminate()
        assert child.wait(30) == 0, log.read_text()[-2000:]


@pytest.mark.sqlite_only
def test_the_counted_members_cookie_is_one_whose_page_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--member` counts the page a logged-in browser gets on its next visit: the
    login's "Logged in" already shown, so the session holds no message waiting (a page
    with one is rendered every time, never kept). The cookie is made under the bench's
    -OO, which once skipped the visit that shows it."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench import instructions

    env = instructions.environment(tmp_path)
    assert env["PYTHONOPTIMIZE"] == "2"
    cookies = dict(part.split("=", 1) for part in instructions._member_cookie(env).split("; "))
    payload = cookies["__Host-gb_session"].rsplit(".", 2)[0]
    session = URLSafeSerializer("unused").load_payload(payload.encode())
    assert session["csrf_token"]
    assert "_flashes" not in session


@pytest.mark.sqlite_only
def test_the_benchmark_through_nginx_runs_and_counts(tmp_path: Path) -> None:
    """`--through nginx`: four sides behind one nginx, each measured once per round."""
    args = ["--through", "nginx", "--users", "5", "--messages", "60", "--runs", "2"]
    args += ["--duration", "1", "--warmup", "0"]
    result = bench(tmp_path / "out", args, "through nginx")
    sides = ["cached", "static", "uncached", "granian", "uvicorn", "simplest"]
    assert sorted(result["summary"]) == sorted(sides)
    assert sorted((s["run"], s["side"]) for s in result["samples"]) == sorted(
        (run, side) for run in (0, 1) for side in sides
    )
    for side, entry in result["summary"].items():
        taken = [s for s in result["samples"] if s["side"] == side]
        assert entry["runs"] == 2, side
        assert entry["requests"] == sum(s["requests"] for s in taken) > 0, side
        assert entry["errors"] == 0, side
        assert 0 <= entry["p50_ms"] <= entry["p99_ms"], side
        assert entry["nginx_cpu_us"] >= 0, side
    assert sorted(result["ratios"]) == ["granian", "simplest", "static", "uncached", "uvicorn"]
    assert {t["target"] for t in result["targets"]} == {
        "through nginx: cached main page x static >= 0.8",
        "through nginx: cached main page x simplest >= 10",
    }


@pytest.mark.postgres_only
def test_the_mixed_scenario_runs_and_counts(tmp_path: Path) -> None:
    """`--mixed`: readers, members, writers and a few /live sockets at once through
    nginx, then the Flask baseline's readers, members and writers: every acknowledged
    post is in the database, every socket hears every post once, nothing fails.
    Counts only; no speed is asserted."""
    if not (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")):
        _unavailable("nginx is not installed (apt-get install nginx-light)")
    args = ["--mixed", "--users", "12", "--messages", "60", "--duration", "3", "--warmup", "0"]
    args += ["--mixed-sockets", "20", "--mixed-clients", "4,2,2", "--mixed-rate", "4"]
    result = bench(tmp_path / "out", args, "mixed load through nginx")
    assert result["config"]["database"] == "postgres"
    assert result["config"]["workers"] == 2
    sides = result["sides"]
    assert sorted(sides) == ["flask", "ours"]
    for name, side in sides.items():
        posts = side["posts"]
        assert posts["acknowledged"] == posts["found"] > 0, name
        assert posts["lost"] == 0, name
        for kind, entry in side["classes"].items():
            where = f"{name} {kind}: {entry}"
            assert entry["requests"] > 0, where
            assert entry["errors"] == 0, where
            assert 0 <= entry["p50_ms"] <= entry["p99_ms"], where
        assert side["classes"]["writers"]["requests"] == posts["acknowledged"], name
        # Each member's request a member's page from the app, never a kept copy (nginx
        # logs too the requests in flight when wrk stops: at most one per connection).
        members = side["classes"]["members"]
        [(status, logged)] = members["cache"].items()
        assert status == ("BYPASS" if name == "ours" else "-"), name
        assert members["requests"] <= logged <= members["requests"] + members["connections"]
    fanout = sides["ours"]["fanout"]
    assert (fanout["sockets"], fanout["opened"], fanout["refused"]) == (20, 20, 0)
    assert (fanout["dropped"], fanout["reloads"], fanout["frames_missing"]) == (0, 0, 0)
    assert fanout["posts_heard_by_all"] == sides["ours"]["posts"]["acknowledged"]
    assert fanout["sockets_heard_every_post"] == 20
    assert len(fanout["per_worker"]) == 2
    assert 0 <= fanout["p50_ms"] <= fanout["p99_ms"]
    assert sides["flask"]["fanout"] is None  # it has no sockets
    assert [t["target"] for t in result["targets"]] == [
        "mixed: readers p99 ms <= 100",
        "mixed: members p99 ms <= 250",
        "mixed: fan-out p99 ms, acknowledged -> last socket <= 500",
        "mixed: errors = 0",
        "mixed: lost posts = 0",
    ]
    assert all(isinstance(t["met"], bool) for t in result["targets"])


@pytest.mark.sqlite_only
def test_a_run_is_marked_by_changed_code_not_by_the_results_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make bench` rewrites RESULTS.md after its first run: the next runs measure the
    same commit, and say so."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.run import _commit

    def git(*words: str) -> None:
        subprocess.run(["git", *words], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "RESULTS.md").write_text("figures\n")
    (tmp_path / "bench" / "run.py").write_text("code\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    clean = _commit(tmp_path)
    (tmp_path / "bench" / "RESULTS.md").write_text("new figures\n")
    assert _commit(tmp_path) == clean
    (tmp_path / "bench" / "run.py").write_text("changed code\n")
    assert _commit(tmp_path) == f"{clean} (with uncommitted changes)"
