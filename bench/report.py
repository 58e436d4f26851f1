"""Medians, ratios, the targets, and the printed table."""

from __future__ import annotations

import statistics
from collections import defaultdict

from .scenarios import BY_NAME, WAIT_SECONDS

RSS_LIMIT_MB = 80
HASH_MB = 65536 * 1024 / 1e6  # argon2's 64 MiB per hash (the app's default), in MB
SIDES = ("ours", "flask", "simplest")


def summarize(samples: list[dict]) -> dict[str, dict[str, dict]]:
    """scenario -> side -> medians of req/s and latency, totals of errors and lost rows,
    and the highest peak RSS seen."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for sample in samples:
        groups[sample["scenario"], sample["side"]].append(sample)
    summary: dict[str, dict[str, dict]] = defaultdict(dict)
    for (scenario, side), group in groups.items():
        entry = {
            "runs": len(group),
            "rps": round(statistics.median(s["rps"] for s in group), 1),
            "p50_ms": round(statistics.median(s["p50_ms"] for s in group), 2),
            "p99_ms": round(statistics.median(s["p99_ms"] for s in group), 2),
            "errors": sum(s["errors"] for s in group),
            "rss_mb": max(s["rss_mb"] for s in group),
            "cpu_ms": round(statistics.median(s["cpu_ms"] for s in group), 3),
        }
        if group[0]["rows_added"] is not None:
            # Every answered post (2xx/3xx) must have left its row; requests still in
            # flight when the load stops may add rows nobody counted, never fewer.
            entry["rows_added"] = sum(s["rows_added"] for s in group)
            entry["lost_rows"] = sum(
                max(0, s["requests"] - s["errors"] - s["rows_added"]) for s in group
            )
        summary[scenario][side] = entry
    return dict(summary)


def _ratio(
    summary: dict, scenario: str, side: str, versus: str, versus_scenario: str = ""
) -> float | None:
    try:
        a = summary[scenario][side]["rps"]
        b = summary[versus_scenario or scenario][versus]["rps"]
    except KeyError:
        return None
    return round(a / b, 2) if b else None


def ratios(summary: dict) -> dict[str, dict[str, float | None]]:
    out = {}
    for scenario in summary:
        out[scenario] = {
            "vs_flask": _ratio(summary, scenario, "ours", "flask"),
            "vs_simplest": _ratio(summary, scenario, "ours", "simplest"),
            "vs_hello": _ratio(summary, scenario, "ours", "ours", "hello")
            if scenario in BY_NAME and BY_NAME[scenario].page
            else None,
        }
        if "before" in summary[scenario]:
            out[scenario]["vs_before"] = _ratio(summary, scenario, "ours", "before")
        if scenario == "wait" and "ours" in summary[scenario]:
            ceiling = BY_NAME["wait"].connections / WAIT_SECONDS
            out[scenario]["vs_ceiling"] = round(summary[scenario]["ours"]["rps"] / ceiling, 2)
            out[scenario]["vs_bare"] = _ratio(summary, "wait", "ours", "ours", "bare_wait")
    return out


def targets(
    summary: dict,
    scale: dict | None,
    sizes: list[int],
    workers: int,
    hash_mb: float = HASH_MB,
    hashes_at_once: int = 1,
) -> list[dict[str, object]]:
    """The targets, each with the measured value and whether it was met."""
    r = ratios(summary)
    found: list[dict[str, object]] = []

    def add(name: str, value: float | None, goal: float, at_least: bool = True) -> None:
        if value is not None:
            met = value >= goal if at_least else value <= goal
            found.append({"target": name, "value": value, "goal": goal, "met": met})

    index, member = r.get("index", {}), r.get("index_member", {})
    add("main page, no cookies: x Flask >= 2.0", index.get("vs_flask"), 2.0)
    add("main page, no cookies: x simplest Flask >= 1.0", index.get("vs_simplest"), 1.0)
    add("main page, no cookies: x hello >= 0.5", index.get("vs_hello"), 0.5)
    add("main page, logged in: x Flask >= 1.2", member.get("vs_flask"), 1.2)
    add("main page, logged in: x hello >= 0.6", member.get("vs_hello"), 0.6)
    for page in ("profile", "page500"):
        add(f"{page}: x Flask >= 1.5 (production shape)", r.get(page, {}).get("vs_flask"), 1.5)
    add("POST: x Flask >= 1.2", r.get("post", {}).get("vs_flask"), 1.2)
    # With --against the revision before a change: a change to every page (the language
    # layer) may cost the main page at most 5%.
    add("main page, no cookies: x --against >= 0.95", index.get("vs_before"), 0.95)
    add("main page, logged in: x --against >= 0.95", member.get("vs_before"), 0.95)
    post = summary.get("post", {}).get("ours")
    if post:
        add("POST: p99 ms at c=16 <= 50", post["p99_ms"], 50, at_least=False)
        add("POST: errors + lost rows = 0", post["errors"] + post["lost_rows"], 0, at_least=False)
    # The 50 ms page's share of the bare Quart app is reported, no longer a target: what
    # it lacks is the path every page takes (RESULTS.md, "Where the targets stand").
    # The JSON API beside the pages it mirrors, in the same run: its list against the
    # reader's main page, its POST against the form's.
    api_list = _ratio(summary, "api_list", "ours", "ours", "index")
    add("GET /api/v1/messages: x main page, no cookies >= 1.0", api_list, 1.0)
    add(
        "POST /api/v1/messages: x the form's POST >= 1.0",
        _ratio(summary, "api_post", "ours", "ours", "post"),
        1.0,
    )
    api_post = summary.get("api_post", {}).get("ours")
    if api_post:
        lost = api_post["errors"] + api_post["lost_rows"]
        add("API POST: errors + lost rows = 0", lost, 0, at_least=False)
    if scale and len(sizes) == 2:
        small, large = (str(n) for n in sizes)
        for scenario in ("index", "page500"):
            try:
                slowdown = scale[scenario][small]["rps"] / scale[scenario][large]["rps"]
            except (KeyError, ZeroDivisionError):
                continue
            add(f"{scenario}: slowdown {large} vs {small} <= 1.25", round(slowdown, 2), 1.25, False)
    # Pages' workers: not the login's (its hashes are below) nor the API's, which has
    # workers of its own here (`Scenario.api`); their peaks stay in the table.
    pages = [
        e["ours"]["rss_mb"]
        for k, e in summary.items()
        if k != "login" and not (k in BY_NAME and BY_NAME[k].api) and "ours" in e
    ]
    if pages:
        add(f"peak RSS MB per worker, pages ({workers} w) <= 80", max(pages), RSS_LIMIT_MB, False)
    if pages and "ours" in summary.get("login", {}):
        # A worker runs at most one hash per core at once (passwords.py), each holding
        # argon2's memory: the login peak is the page peak plus that, no more.
        limit = round(max(pages) + hash_mb * hashes_at_once, 1)
        add(
            f"peak RSS MB per worker, login <= pages + {hashes_at_once} x {hash_mb:g} MB hashes",
            summary["login"]["ours"]["rss_mb"],
            limit,
            False,
        )
    return found


def render(result: dict) -> str:
    m, c = result["machine"], result["config"]
    lines = [
        f"Guestbook benchmark, {result['date']}: {m['nproc']} x {m['cpu']}, Python {m['python']}",
        f"{c.get('database', 'sqlite')}; {c['workers']} worker(s) per server, hypercorn -k "
        f"{c['worker_class']} vs gunicorn "
        f"{_flask_workers(c.get('flask_threads', 1))}; "
        f"{c['client']} -t1; {c['users']} users, {c['messages']} messages; "
        f"medians of {c['runs']} A/B-interleaved runs x {c['duration']:g} s",
        "",
    ]
    summary = result["summary"]
    r = ratios(summary)
    head = (
        f"{'scenario':<22}{'c':>3} |{'ours req/s':>11}{'p50':>7}{'p99':>7}{'err':>5}{'MB':>5}"
        f"{'cpu':>7} |{'flask req/s':>12}{'p50':>7}{'p99':>7}{'err':>5}{'MB':>5}{'cpu':>7} |"
        f"{'simplest':>9}{'p99':>6} |{'x flask':>8}{'x simpl':>8}{'x hello':>8}{'cpu x':>6}"
    )
    lines += [head, "-" * len(head)]
    for scenario, sides in summary.items():
        label, conns = BY_NAME[scenario].label, BY_NAME[scenario].connections
        cells = [_cells(sides.get(side)) for side in ("ours", "flask")]
        ours, flask, simplest = (sides.get(side) for side in SIDES)
        cpu_x = flask["cpu_ms"] / ours["cpu_ms"] if ours and flask and ours["cpu_ms"] else None
        simple = f"{simplest['rps']:>9.1f}{simplest['p99_ms']:>6.0f}" if simplest else f"{'-':>15}"
        lines.append(
            f"{label[:22]:<22}{conns:>3} |{cells[0]} | {cells[1]} |{simple} |"
            f"{_fmt(r[scenario]['vs_flask']):>8}{_fmt(r[scenario]['vs_simplest']):>8}"
            f"{_fmt(r[scenario].get('vs_hello')):>8}{_fmt(cpu_x):>6}"
        )
    lines.append(
        "p50/p99 in ms; MB: peak RSS per worker; cpu: worker CPU ms per request; "
        "cpu x: Flask's CPU per request over ours; simplest: the lecture's simplest Flask page"
    )
    for side, e in summary.get("post", {}).items():
        lines.append(f"POST rows added ({side}): {e['rows_added']}, lost: {e['lost_rows']}")
    if "vs_ceiling" in r.get("wait", {}):
        wait = r["wait"]
        bare = f", {wait['vs_bare']:.0%} of the bare Quart app's" if wait["vs_bare"] else ""
        lines.append(f"50 ms page: {wait['vs_ceiling']:.0%} of the ceiling (64 / 50 ms){bare}")
    against = [(s, sides) for s, sides in summary.items() if "before" in sides and "ours" in sides]
    if against:
        lines += ["", f"against {c['against']} (our app then, side by side): now ÷ then"]
        for scenario, sides in against:
            now, then = sides["ours"], sides["before"]
            cpu = then["cpu_ms"] / now["cpu_ms"] if now["cpu_ms"] else None
            lines.append(
                f"  {BY_NAME[scenario].label:<22} req/s {_fmt(r[scenario]['vs_before'])}"
                f"  (CPU per request then ÷ now {_fmt(cpu)})"
            )
    if result.get("scale"):
        lines += ["", "scale (our app only): req/s and p99 by message count"]
        for scenario, sides in result["scale"].items():
            lines.append(
                f"  {BY_NAME[scenario].label:<22}"
                + "   ".join(
                    f"{size}: {e['rps']:.1f} req/s, p99 {e['p99_ms']:.1f} ms"
                    for size, e in sides.items()
                )
            )
    lines += ["", "targets:"]
    for t in result["targets"]:
        lines.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']}")
    return "\n".join(lines)


def _flask_workers(threads: int) -> str:
    return "sync" if threads == 1 else f"gthread x{threads}"


def _cells(e: dict | None) -> str:
    if e is None:
        return f"{'-':>11}{'':>31}"
    return (
        f"{e['rps']:>11.1f}{e['p50_ms']:>7.0f}{e['p99_ms']:>7.0f}{e['errors']:>5}"
        f"{e['rss_mb']:>5.0f}{e['cpu_ms']:>7.2f}"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# --- RESULTS.md and the README's table, written from one run ----------------------------

RESULTS_MARKERS = ("<!-- bench:results -->", "<!-- /bench:results -->")
README_MARKERS = ("<!-- bench:table -->", "<!-- /bench:table -->")
# `--through nginx` and `--mixed` write their own sections, the same in both files.
NGINX_MARKERS = ("<!-- bench:nginx -->", "<!-- /bench:nginx -->")
MIXED_MARKERS = ("<!-- bench:mixed -->", "<!-- /bench:mixed -->")
DATABASE_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _title(result: dict) -> str:
    c = result["config"]
    return (
        f"{DATABASE_LABELS[c['database']]}, {c['workers']} worker(s) per side "
        f"(Flask: gunicorn {_flask_workers(c['flask_threads'])})"
    )


def results_markdown(results: list[dict]) -> str:
    first = results[0]
    m = first["machine"]
    versions = ", ".join(f"{name} {v}" for name, v in m["versions"].items() if v)
    lines = [
        f"- **Command:** `{first['command']}`",
        f"- **Date:** {first['date']}; **commit** `{first['commit']}`",
        f"- **Machine:** {m['nproc']} x {m['cpu']}, {m['platform']}, Python {m['python']}; "
        f"load average at start {', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}",
        f"- **Versions:** {versions}",
    ]
    for result in results:
        c = result["config"]
        lines += [
            "",
            f"### {_title(result)}",
            "",
            f"{c['client']}; {c['users']} users, {c['messages']} messages; medians of "
            f"{c['runs']} A/B-interleaved rounds of {c['duration']:g} s; took "
            f"{result['seconds']:.0f} s.",
            "",
            "| scenario | c | ours req/s | p50 | p99 | MB | cpu | Flask req/s | p99 | MB | cpu "
            "| simplest req/s | x Flask | x simplest | x hello |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        r = ratios(result["summary"])
        for scenario, sides in result["summary"].items():
            ours, flask, simplest = (sides.get(side) for side in SIDES)
            cells = [BY_NAME[scenario].label, str(BY_NAME[scenario].connections)]
            cells += _md(ours, "rps", "p50_ms", "p99_ms", "rss_mb", "cpu_ms")
            cells += _md(flask, "rps", "p99_ms", "rss_mb", "cpu_ms")
            cells += _md(simplest, "rps")
            cells += [_fmt(r[scenario][k]) for k in ("vs_flask", "vs_simplest", "vs_hello")]
            lines.append("| " + " | ".join(cells) + " |")
        for side, e in result["summary"].get("post", {}).items():
            lines.append(f"\nPOST rows added ({side}): {e['rows_added']}, lost: {e['lost_rows']}.")
        if result.get("scale"):
            for scenario, sides in result["scale"].items():
                figures = "; ".join(
                    f"{size} messages: {e['rps']:.0f} req/s, p99 {e['p99_ms']:.0f} ms"
                    for size, e in sides.items()
                )
                lines.append(f"\nScale, {BY_NAME[scenario].label}: {figures}.")
        lines += ["", "| target | measured | |", "|---|--:|---|"]
        for t in result["targets"]:
            lines.append(f"| {t['target']} | {t['value']} | {'met' if t['met'] else 'missed'} |")
    return "\n".join(lines)


def _md(entry: dict | None, *keys: str) -> list[str]:
    if entry is None:
        return ["–"] * len(keys)
    return [f"{entry[k]:.0f}" if k != "cpu_ms" else f"{entry[k]:.2f}" for k in keys]


README_ROWS = [
    ("main page, no cookies ÷ feature-equal Flask", "index", "vs_flask", "≥ 2.0"),
    ("main page, no cookies ÷ simplest Flask", "index", "vs_simplest", "≥ 1.0"),
    ("main page, no cookies ÷ hello route", "index", "vs_hello", "≥ 0.5"),
    ("main page, logged in ÷ Flask", "index_member", "vs_flask", "≥ 1.2"),
    ("main page, logged in ÷ hello route", "index_member", "vs_hello", "≥ 0.6"),
    ("a profile page ÷ Flask", "profile", "vs_flask", "≥ 1.5 (PostgreSQL)"),
    ("page 500 through the cursor ÷ Flask", "page500", "vs_flask", "≥ 1.5 (PostgreSQL)"),
    ("POST a message ÷ Flask", "post", "vs_flask", "≥ 1.2, p99 ≤ 50 ms"),
    ("page awaiting 50 ms ÷ bare Quart", "wait", "vs_bare", "– (reported)"),
]


def readme_table(results: list[dict]) -> str:
    head = "| ours ÷ … | " + " | ".join(_title(r) for r in results) + " | target |"
    lines = [head, "|---|" + "--:|" * len(results) + "---|"]
    for label, scenario, key, goal in README_ROWS:
        cells = []
        for result in results:
            value = ratios(result["summary"]).get(scenario, {}).get(key)
            post = result["summary"].get("post", {}).get("ours")
            extra = f" (p99 {post['p99_ms']:.0f} ms)" if scenario == "post" and post else ""
            cells.append(_fmt(value) + extra)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    first = results[0]
    lines.append(
        f"\nMeasured {first['date']} on commit `{first['commit']}`, "
        f"{first['machine']['nproc']} vCPUs, by `{first['command']}`."
    )
    return "\n".join(lines)


def _replace_between(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    if start not in text or end not in text:
        raise ValueError(f"markers {start} ... {end} are missing")
    head, rest = text.split(start, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_results(results: list[dict], root) -> list:  # noqa: ANN001
    """bench/RESULTS.md's figures and the README's table, between their markers."""
    written = []
    for path, markers, body in (
        (root / "bench" / "RESULTS.md", RESULTS_MARKERS, results_markdown(results)),
        (root / "README.md", README_MARKERS, readme_table(results)),
    ):
        path.write_text(_replace_between(path.read_text(), markers, body))
        written.append(path)
    return written


def write_section(markers: tuple[str, str], body: str, root) -> list:  # noqa: ANN001
    """A scenario's own figures (`--through nginx`'s, `--mixed`'s), between its markers
    in RESULTS.md and the README."""
    written = []
    for path in (root / "bench" / "RESULTS.md", root / "README.md"):
        path.write_text(_replace_between(path.read_text(), markers, body))
        written.append(path)
    return written
