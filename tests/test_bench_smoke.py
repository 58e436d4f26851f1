"""The benchmark runs end to end (`python -m bench`): a second of load per measurement
on tiny data, and a table and JSON with sane fields. No timing is asserted: speed is
what the benchmark reports, not what the suite checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ["hello", "index", "profile", "post", "wait"]

# The benchmark makes its own SQLite databases and servers, whatever the test database.
pytestmark = pytest.mark.sqlite_only


def test_the_benchmark_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # A small list of scenarios keeps it short; every kind is there: a read, a write
    # with its row count, the slow page, the hello ceiling, and the scale check.
    args = ["--users", "5", "--messages", "60", "--runs", "1", "--duration", "1"]
    args += ["--warmup", "0", "--scenarios", ",".join(SCENARIOS), "--scale", "30,90"]
    args += ["--live", "20", "--live-events", "2", "--live-idle", "0.5"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "main page, anonymous" in done.stdout
    assert "targets:" in done.stdout

    result = json.loads((out / "latest.json").read_text())
    assert result["machine"]["nproc"] >= 1
    assert result["config"]["client"] in ("wrk", "python")
    summary = result["summary"]
    assert sorted(summary) == sorted(SCENARIOS)
    for scenario, sides in summary.items():
        assert sorted(sides) == ["flask", "ours"], scenario
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
    assert sorted(result["scale"]) == ["index", "page500"]
    assert all(sorted(sides) == ["30", "90"] for sides in result["scale"].values())
    targets = {t["target"]: t for t in result["targets"]}
    assert "main page, anonymous: x Flask >= 1.2" in targets
    assert all(isinstance(t["met"], bool) for t in targets.values())
    assert len(result["samples"]) == 2 * len(SCENARIOS) + 2 * 2
    live = {row["side"]: row for row in result["live"]}
    assert sorted(live) == ["bare", "ours"]
    for side, row in live.items():
        assert (row["sockets"], row["opened"], row["missing"]) == (20, 20, 0), side
        assert 0 <= row["p50_ms"] <= row["p99_ms"], side
    assert "20 sockets: p99 <= 250 ms" in targets
