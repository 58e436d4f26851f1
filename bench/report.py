"""Medians, ratios, the issue's targets, and the printed table."""

from __future__ import annotations

import statistics
from collections import defaultdict

from .scenarios import BY_NAME, WAIT_SECONDS

RSS_LIMIT_MB = 80


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
    summary: dict, scale: dict | None, sizes: list[int], workers: int
) -> list[dict[str, object]]:
    """The issue's targets, each with the measured value and whether it was met."""
    r = ratios(summary)
    found: list[dict[str, object]] = []

    def add(name: str, value: float | None, goal: float, at_least: bool = True) -> None:
        if value is not None:
            met = value >= goal if at_least else value <= goal
            found.append({"target": name, "value": value, "goal": goal, "met": met})

    add("main page, anonymous: x Flask >= 1.2", r.get("index", {}).get("vs_flask"), 1.2)
    # With --against the revision before a change: a change to every page (the language
    # layer) may cost the main page at most 5%.
    add("main page, anonymous: x --against >= 0.95", r.get("index", {}).get("vs_before"), 0.95)
    add(
        "main page, logged in: x --against >= 0.95",
        r.get("index_member", {}).get("vs_before"),
        0.95,
    )
    add("main page, logged in: x Flask >= 1.2", r.get("index_member", {}).get("vs_flask"), 1.2)
    add("main page, anonymous: x hello >= 0.35", r.get("index", {}).get("vs_hello"), 0.35)
    add("POST: x Flask >= 1.0", r.get("post", {}).get("vs_flask"), 1.0)
    post = summary.get("post", {}).get("ours")
    if post:
        add("POST: p99 ms at c=16 <= 50", post["p99_ms"], 50, at_least=False)
        add("POST: errors + lost rows = 0", post["errors"] + post["lost_rows"], 0, at_least=False)
    add(
        "50 ms page: share of ceiling (64 / 50 ms) >= 0.9", r.get("wait", {}).get("vs_ceiling"), 0.9
    )
    if scale and len(sizes) == 2:
        small, large = (str(n) for n in sizes)
        for scenario in ("index", "page500"):
            try:
                slowdown = scale[scenario][small]["rps"] / scale[scenario][large]["rps"]
            except (KeyError, ZeroDivisionError):
                continue
            add(f"{scenario}: slowdown {large} vs {small} <= 1.25", round(slowdown, 2), 1.25, False)
    pages = [e["ours"]["rss_mb"] for k, e in summary.items() if k != "login" and "ours" in e]
    if pages:
        add(f"peak RSS MB per worker, pages ({workers} w) <= 80", max(pages), RSS_LIMIT_MB, False)
    if "ours" in summary.get("login", {}):
        add("peak RSS MB per worker, login <= 80", summary["login"]["ours"]["rss_mb"], 80, False)
    return found


def render(result: dict) -> str:
    m, c = result["machine"], result["config"]
    lines = [
        f"Guestbook benchmark, {result['date']}: {m['nproc']} x {m['cpu']}, Python {m['python']}",
        f"{c['workers']} worker(s) per server, hypercorn -k {c['worker_class']} vs gunicorn sync; "
        f"{c['client']} -t1; {c['users']} users, {c['messages']} messages; "
        f"medians of {c['runs']} A/B-interleaved runs x {c['duration']:g} s",
        "",
    ]
    summary = result["summary"]
    r = ratios(summary)
    head = (
        f"{'scenario':<22}{'c':>3} |{'ours req/s':>11}{'p50':>7}{'p99':>7}{'err':>5}{'MB':>5}"
        f"{'cpu':>7} |{'flask req/s':>12}{'p50':>7}{'p99':>7}{'err':>5}{'MB':>5}{'cpu':>7} |"
        f"{'x flask':>8}{'x hello':>8}{'cpu x':>6}"
    )
    lines += [head, "-" * len(head)]
    for scenario, sides in summary.items():
        label, conns = BY_NAME[scenario].label, BY_NAME[scenario].connections
        cells = [_cells(sides.get(side)) for side in ("ours", "flask")]
        ours, flask = sides.get("ours"), sides.get("flask")
        cpu_x = flask["cpu_ms"] / ours["cpu_ms"] if ours and flask and ours["cpu_ms"] else None
        lines.append(
            f"{label[:22]:<22}{conns:>3} |{cells[0]} | {cells[1]} |"
            f"{_fmt(r[scenario]['vs_flask']):>8}{_fmt(r[scenario].get('vs_hello')):>8}"
            f"{_fmt(cpu_x):>6}"
        )
    lines.append(
        "p50/p99 in ms; MB: peak RSS per worker; cpu: worker CPU ms per request; "
        "cpu x: Flask's CPU per request over ours"
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


def _cells(e: dict | None) -> str:
    if e is None:
        return f"{'-':>11}{'':>31}"
    return (
        f"{e['rps']:>11.1f}{e['p50_ms']:>7.0f}{e['p99_ms']:>7.0f}{e['errors']:>5}"
        f"{e['rss_mb']:>5.0f}{e['cpu_ms']:>7.2f}"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
