"""The mixed scenario's figures (from a `mixed_clients.Window`), its targets, the
printed table and the section RESULTS.md and the README show."""

from __future__ import annotations

import argparse
from collections import Counter

from .live import percentile
from .mixed_clients import Window

TARGETS_MS = {"readers": 100, "members": 250, "fanout": 500}  # p99, ours
LABELS = {
    "readers": "readers: main page, no cookies",
    "members": "members: main page, logged in",
    "writers": "writers: POST /messages",
}
SIDE_LABELS = {"ours": "ours", "flask": "Flask"}
CPU_PARTS = ("app", "nginx", "postgres", "wrk", "client", "machine")


def figures(
    w: Window,
    written: dict[str, int],
    sockets: int,
    connections: dict[str, int],
    args: argparse.Namespace,
    statuses: dict[str, Counter],
) -> dict:
    """One side's figures: per class, the fan-out (None without sockets), the posts,
    and the CPU each part took (% of one core over the window)."""
    seconds = w.after["wall"] - w.before["wall"]
    readers, members = w.results
    posts = w.posts
    acked = [post for post in posts if post.acknowledged]
    found = sum(post.body in written for post in acked)
    times = sorted(post.ms for post in posts if post.status is not None)
    classes = {
        "readers": readers.as_dict(),
        "members": members.as_dict(),
        "writers": {
            "requests": len(posts),
            "seconds": round(seconds, 2),
            "p50_ms": percentile(times, 0.5) or 0.0,
            "p99_ms": percentile(times, 0.99) or 0.0,
            "errors": len(posts) - len(acked),
            "rps": round(len(posts) / seconds, 1),
        },
    }
    for name, entry in classes.items():
        entry["connections"] = connections[name]
        entry["cache"] = dict(statuses[name])
    return {
        "classes": classes,
        "posts": {
            "acknowledged": len(acked),
            "found": found,
            "lost": len(acked) - found,
            # Committed but not acknowledged (its answer was an error or never came):
            # not lost, and not counted as written.
            "found_unacknowledged": sum(post.body in written for post in posts) - found,
            "answers": dict(Counter(str(post.status) for post in posts)),
            "rate_asked": args.mixed_rate,
        },
        "fanout": _fanout(w, written, acked) if sockets else None,
        "cpu_pct": {
            part: round((w.after[part] - w.before[part]) / seconds * 100, 1) for part in CPU_PARTS
        },
    }


def _fanout(w: Window, written: dict[str, int], acked: list) -> dict:
    """Per acknowledged post, from its acknowledgement to its frame on the last socket
    (0 when every frame came before the answer did); also over every socket's frame,
    and from the POST's request."""
    opened = len(w.listeners)
    last, from_request, every = [], [], []
    missing = 0
    for post in acked:
        got = w.frames.arrivals.get(written.get(post.body, -1), [])
        missing += max(0, opened - len(got))
        every += [max(0.0, (at - post.answered) * 1000) for at in got]
        if got and len(got) >= opened:
            last.append(max(0.0, (max(got) - post.answered) * 1000))
            from_request.append((max(got) - post.sent) * 1000)
    last.sort()
    return {
        "sockets": opened + w.refused,
        "opened": opened,
        "per_worker": w.opened,
        "refused": w.refused,
        "dropped": w.frames.dropped,
        "reloads": w.frames.reloads,
        # Sends per socket per post: below 1 when posts close together share a frame.
        "frames_per_post": round(w.frames.received / max(opened, 1) / max(len(written), 1), 2),
        "posts_heard_by_all": len(last),
        "frames_missing": missing,
        # Every socket heard every committed post's event, each once.
        "sockets_heard_every_post": sum(s.created == len(written) for s in w.listeners),
        "p50_ms": percentile(last, 0.5),
        "p99_ms": percentile(last, 0.99),
        "max_ms": round(last[-1], 1) if last else None,
        "p99_every_socket_ms": percentile(sorted(every), 0.99),
        "p99_from_request_ms": percentile(sorted(from_request), 0.99),
        "frames_wait_s": w.frames_wait_s,
    }


def errors(side: dict) -> int:
    """Every failure of one side: non-2xx/3xx answers and socket errors of each class,
    writes not acknowledged, sockets refused, dropped or told to reload, frames missing."""
    total = sum(entry["errors"] for entry in side["classes"].values())
    fanout = side["fanout"]
    if fanout:
        total += sum(fanout[k] for k in ("refused", "dropped", "reloads", "frames_missing"))
    return total


def targets(sides: dict[str, dict]) -> list[dict]:
    ours = sides["ours"]
    found = []

    def add(name: str, value: float | None, goal: float) -> None:
        met = value is not None and value <= goal
        found.append({"target": f"mixed: {name}", "value": value, "goal": goal, "met": met})

    for name in ("readers", "members"):
        goal = TARGETS_MS[name]
        add(f"{name} p99 ms <= {goal}", ours["classes"][name]["p99_ms"], goal)
    fanout = ours["fanout"]
    add(
        f"fan-out p99 ms, acknowledged -> last socket <= {TARGETS_MS['fanout']}",
        fanout["p99_ms"] if fanout else None,
        TARGETS_MS["fanout"],
    )
    add("errors = 0", errors(ours), 0)
    add("lost posts = 0", ours["posts"]["lost"], 0)
    return found


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def render(result: dict) -> str:
    sides, c = result["sides"], result["config"]
    lines = [
        f"mixed load through nginx ({c['workers']} workers, {c['client']}, {c['duration']:g} s "
        f"per side, {c['mixed_sockets']} sockets, {c['mixed_rate']:g} posts/s asked)",
        f"{'class':<32}{'side':<7}{'c':>4}{'req/s':>9}{'p50':>8}{'p99':>8}{'err':>6}  cache",
    ]
    for name, label in LABELS.items():
        for side, entry in sides.items():
            e = entry["classes"][name]
            cache = ", ".join(f"{k} {v}" for k, v in sorted(e["cache"].items()))
            lines.append(
                f"{label:<32}{side:<7}{e['connections']:>4}{e['rps']:>9.1f}{e['p50_ms']:>8.1f}"
                f"{e['p99_ms']:>8.1f}{e['errors']:>6}  {cache}"
            )
    for side, entry in sides.items():
        p, cpu = entry["posts"], entry["cpu_pct"]
        lines.append(
            f"{side}: posts acknowledged {p['acknowledged']}, found {p['found']}, lost {p['lost']} "
            f"(answers {p['answers']}); CPU % of a core: "
            + ", ".join(f"{part} {cpu[part]}" for part in CPU_PARTS)
        )
        f = entry["fanout"]
        if f:
            lines.append(
                f"{side}: fan-out to {f['opened']} sockets (per worker {f['per_worker']}): "
                f"p50 {_ms(f['p50_ms'])} ms, p99 {_ms(f['p99_ms'])} ms, max {_ms(f['max_ms'])} "
                f"ms; every socket's frame p99 {_ms(f['p99_every_socket_ms'])} ms; frames per "
                f"socket per post {f['frames_per_post']}; refused "
                f"{f['refused']}, dropped {f['dropped']}, reloads {f['reloads']}, frames "
                f"missing {f['frames_missing']}"
            )
    lines += ["", "targets:"]
    for t in result["targets"]:
        lines.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']}")
    return "\n".join(lines)


def markdown(result: dict) -> str:
    """RESULTS.md's section for this run, and the README's."""
    sides, c = result["sides"], result["config"]
    ours, flask = sides["ours"], sides["flask"]
    fanout = ours["fanout"]
    load_avg = ", ".join(f"{x:.1f}" for x in result["machine"]["load_average_at_start"])
    limits = "in Redis" if c.get("redis_used") else "per worker (no Redis answered)"
    lines = [
        f"- **Command:** `{result['command']}`",
        f"- **Date:** {result['date']}; **commit** `{result['commit']}`; "
        f"{result['machine']['nproc']} vCPUs, load average at start {load_avg}",
        f"- PostgreSQL; ours: hypercorn, {c['workers']} workers, behind the sample nginx site "
        f"with its cache (one nginx worker); Flask: gunicorn gthread x{c['flask_threads']}, "
        f"{c['workers']} workers, behind the same nginx, cache off. {c['duration']:g} s per "
        f"side, ours first; {c['client']} for readers and members; writers at random moments, "
        f"{c['mixed_rate']:g} posts/s asked in all, from distinct accounts, the post limit "
        f"raised by the bench's settings (still counted, {limits}); "
        f"{fanout['opened'] if fanout else 0} /live sockets on ours "
        f"(per worker: {', '.join(map(str, fanout['per_worker'] or [])) if fanout else '–'}).",
        "",
        "| class | c | ours req/s | p50 ms | p99 ms | errors | Flask req/s | p50 ms | p99 ms "
        "| errors | target (ours) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for name, label in LABELS.items():
        a, b = ours["classes"][name], flask["classes"][name]
        goal = f"p99 ≤ {TARGETS_MS[name]} ms" if name in TARGETS_MS else "every post a 302"
        lines.append(
            f"| {label} | {a['connections']} | {a['rps']:.0f} | {a['p50_ms']:.1f} | "
            f"{a['p99_ms']:.1f} | {a['errors']} | {b['rps']:.0f} | {b['p50_ms']:.1f} | "
            f"{b['p99_ms']:.1f} | {b['errors']} | {goal} |"
        )
    if fanout:
        failed = sum(fanout[k] for k in ("refused", "dropped", "reloads", "frames_missing"))
        lines.append(
            f"| fan-out: acknowledged → last of {fanout['opened']} sockets | – | – | "
            f"{_ms(fanout['p50_ms'])} | {_ms(fanout['p99_ms'])} | {failed}"
            f" | – | – | – | – | p99 ≤ {TARGETS_MS['fanout']} ms |"
        )
    lines.append("")
    for side, entry in sides.items():
        p, cpu = entry["posts"], entry["cpu_pct"]
        cache = entry["classes"]["readers"]["cache"]
        kept = sum(v for k, v in cache.items() if k in ("HIT", "STALE", "UPDATING", "REVALIDATED"))
        lines.append(
            f"- {SIDE_LABELS[side]}: {p['acknowledged']} posts acknowledged, {p['found']} found "
            f"in the database, **{p['lost']} lost**; readers answered from nginx's cache: "
            f"{kept} of {sum(cache.values())} ({_statuses(cache)}); CPU over the window, % of "
            f"one core: app {cpu['app']:.0f}, nginx {cpu['nginx']:.0f}, PostgreSQL "
            f"{cpu['postgres']:.0f}, wrk {cpu['wrk']:.0f}, writers and sockets "
            f"{cpu['client']:.0f}; the whole machine {cpu['machine']:.0f} of "
            f"{100 * (result['machine']['nproc'] or 1)}."
        )
    if fanout:
        lines.append(
            f"- Fan-out (ours): {fanout['posts_heard_by_all']} posts heard by every socket; "
            f"max {_ms(fanout['max_ms'])} ms; every socket's frame p99 "
            f"{_ms(fanout['p99_every_socket_ms'])} ms; from the POST's request, p99 "
            f"{_ms(fanout['p99_from_request_ms'])} ms; frames per socket per post "
            f"{fanout['frames_per_post']}; sockets refused {fanout['refused']}, "
            f"dropped {fanout['dropped']}, told to reload {fanout['reloads']}; frames missing "
            f"{fanout['frames_missing']}."
        )
    lines += ["", "| target | measured | |", "|---|--:|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['value']} | {'met' if t['met'] else 'missed'} |")
    return "\n".join(lines)


def _statuses(cache: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(cache.items(), key=lambda kv: -kv[1]))
