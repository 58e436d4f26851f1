"""`python -m bench --through nginx`: every side behind the same nginx, in one run.

The sample site (deploy/nginx-guestbook.conf), made plain HTTP on loopback ports, with
one nginx worker, serves six sides of the same URL, `/`, asked for as a browser asks
(a browser's Accept-Language, no cookies):

- `cached`: our reader's main page through the sample's cache, as deployed;
- `static`: the same bytes as a file from the same nginx: the ceiling of this machine;
- `uncached`: our app through the same site with `proxy_cache off`;
- `granian`, `uvicorn`: the same, our app under those servers instead of hypercorn, for
  reference (hypercorn stays the documented deployment);
- `simplest`: the lecture's simplest Flask page (bench/baseline/flask_simplest.py)
  under gunicorn, behind the same nginx, as a Flask user would deploy it.

Rounds alternate the order of the sides; the figures are medians, and the ratios of
the cached page to each other side are what to read (the machine is shared).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import load, servers

SITE = servers.ROOT / "deploy" / "nginx-guestbook.conf"
SIDES = ("cached", "static", "uncached", "granian", "uvicorn", "simplest")
# The sides served by a server behind the site with the cache off.
PROXIED = ("uncached", "granian", "uvicorn", "simplest")
CONNECTIONS = 64
# What Chromium sends for a Korean reader who also reads English.
ACCEPT_LANGUAGE = "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"
REQUEST = load.Request("GET", "/", {"Accept-Language": ACCEPT_LANGUAGE})
LABELS = {
    "cached": "our main page, from the sample's cache",
    "static": "the same bytes as a static file",
    "uncached": "our main page, cache off (hypercorn)",
    "granian": "our main page, cache off, under granian",
    "uvicorn": "our main page, cache off, under uvicorn",
    "simplest": "the simplest Flask page (gunicorn)",
}
TARGETS = {"static": 0.8, "simplest": 10.0}  # the cached page's req/s over these sides'


@dataclass
class Nginx:
    """nginx with one worker, from a config written into `workdir`."""

    workdir: Path
    proc: subprocess.Popen | None = None

    def start(self, config: str) -> None:
        binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
        if binary is None:
            raise RuntimeError("--through nginx needs nginx (apt-get install nginx-light)")
        (self.workdir / "nginx.conf").write_text(config)
        self.proc = subprocess.Popen(  # noqa: S603 (our own arguments)
            [binary, "-p", self.workdir, "-c", self.workdir / "nginx.conf"]
            + ["-e", self.workdir / "nginx-error.log", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def cpu_seconds(self) -> float:
        """CPU time its worker has used so far: unlike req/s, barely moved by other load
        on the machine, so the cached page and the static file compare on it too."""
        assert self.proc is not None
        pids = servers._children(self.proc.pid)  # noqa: SLF001 (the bench's own helpers)
        return servers._cpu_ticks(pids) / servers.TICKS_PER_SECOND  # noqa: SLF001

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish and exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def sample_parts(upstream_port: int, workdir: Path) -> tuple[str, str]:
    """The sample site made plain HTTP for the bench: its head (the maps, the cache in
    `workdir`, the `guestbook` upstream at `upstream_port`) and its HTTPS server block,
    without its certificates, access log off, still on the sample's port (`front` puts
    it on another). The redirect server is left out."""
    text = SITE.read_text()
    first = text.index("server {")
    text = text[:first] + text[text.index("server {", first + 1) :]  # no redirect server
    text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    text = text.replace("/var/cache/nginx/guestbook", str(workdir / "cache"))
    text = re.sub(r"\n\s*ssl_certificate\S* [^;]+;", "", text)
    text = re.sub(r"access_log \S+ guestbook;", "access_log off;", text)
    split = text.index("server {")
    return text[:split], text[split:]


def front(server: str, port: int, upstream: str = "guestbook", cache: bool = True) -> str:
    """The sample's server block (`sample_parts`) as plain HTTP on `port`, in front of
    `upstream`, with its cache or with `proxy_cache off`."""
    block = server.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
    if not cache:
        block = block.replace("proxy_cache guestbook;", "proxy_cache off;")
    return block.replace("proxy_pass http://guestbook;", f"proxy_pass http://{upstream};")


def upstream(name: str, port: int) -> str:
    """An upstream like the sample's `guestbook`, for another server."""
    return (
        f"upstream {name} {{\n    server 127.0.0.1:{port};\n"
        "    keepalive 16;\n    keepalive_timeout 4s;\n}\n"
    )


def site_for(ports: dict[str, int], upstreams: dict[str, int], workdir: Path) -> str:
    """The sample site for the bench: its HTTPS server as plain HTTP on `ports["cached"]`
    in front of hypercorn (`upstreams["uncached"]`); a copy of that server with the cache
    off per proxied side, each in front of its own upstream; the static file's server.
    Access logs off for all."""
    head, server = sample_parts(upstreams["uncached"], workdir)
    blocks = [head, front(server, ports["cached"])]
    for side in PROXIED:
        name = "guestbook"  # the sample's own, hypercorn
        if side != "uncached":
            name = side
            blocks.append(upstream(side, upstreams[side]))
        blocks.append(front(server, ports[side], name, cache=False))
    blocks.append(
        f"server {{\n    listen 127.0.0.1:{ports['static']};\n    access_log off;\n"
        f"    location / {{ root {workdir / 'static'}; }}\n}}\n"
    )
    return "".join(blocks)


def nginx_conf(site: str, workdir: Path, connections: int = 1024) -> str:
    """nginx's main file around `site`: one worker of `connections` connections (a
    proxied one counts twice), its files in `workdir`."""
    temp_paths = "\n".join(
        f"{kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Run as root, nginx's workers would be `nobody`, who cannot read a private workdir.
    return (
        f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"
        f"worker_processes 1;\npid {workdir / 'nginx.pid'};\n"
        f"events {{ worker_connections {connections}; }}\n"
        f"http {{\n{temp_paths}\n{site}\n}}\n"
    )


def wait_for(url: str, seconds: float = 30) -> httpx.Response:
    """The first 200 from `url`, asked as the load asks (nginx may still be starting)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = httpx.get(url, headers=REQUEST.headers, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{url} did not answer 200 within {seconds:.0f} s (see the run's nginx-error.log)"
            )
        time.sleep(0.2)


@contextlib.contextmanager
def serving(
    apps: dict[str, servers.Server],
    workdir: Path,
    site: Callable[[dict[str, int]], str],
    connections: int = 1024,
) -> Iterator[Nginx]:
    """`apps` started and answering, then nginx in front of them with the site `site`
    writes for their ports (by side); all stopped after."""
    nginx = Nginx(workdir)
    try:
        for server in apps.values():
            server.launch()
        for server in apps.values():
            server.wait_ready()
        upstreams = {side: server.port for side, server in apps.items()}
        nginx.start(nginx_conf(site(upstreams), workdir, connections))
        yield nginx
    finally:
        nginx.stop()
        for server in apps.values():
            server.stop()


@contextlib.contextmanager
def running(
    apps: dict[str, servers.Server], workdir: Path
) -> Iterator[tuple[dict[str, str], Nginx]]:
    """The proxied sides' servers and nginx started: the base URL of each side, and nginx."""
    ports = {side: servers.free_port() for side in SIDES}
    with serving(apps, workdir, lambda upstreams: site_for(ports, upstreams, workdir)) as nginx:
        urls = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
        # The static file: the bytes our cached page answers with, as nginx serves them.
        (workdir / "static").mkdir(exist_ok=True)
        page = wait_for(urls["cached"] + "/")
        (workdir / "static" / "index.html").write_bytes(page.content)
        for url in urls.values():
            wait_for(url + "/")
        yield urls, nginx


def measure(urls: dict[str, str], nginx: Nginx, args: argparse.Namespace) -> list[dict]:
    samples = []
    for run in range(args.runs):
        order = SIDES if run % 2 == 0 else SIDES[::-1]
        for side in order:
            cpu = nginx.cpu_seconds()
            result = load.run(args.client, urls[side], REQUEST, CONNECTIONS, args.duration)
            cpu_us = (nginx.cpu_seconds() - cpu) * 1e6 / max(result.requests, 1)
            samples.append({"run": run, "side": side, **result.as_dict(), "nginx_cpu_us": cpu_us})
            print(
                f"  run {run + 1}/{args.runs} {side:<9} {result.rps:9.1f} req/s  "
                f"p99 {result.p99_ms:7.1f} ms  nginx {cpu_us:5.1f} µs/req  "
                f"errors {result.errors}",
                flush=True,
            )
    return samples


def summarize(samples: list[dict]) -> dict[str, dict]:
    summary = {}
    for side in SIDES:
        group = [s for s in samples if s["side"] == side]
        summary[side] = {
            "runs": len(group),
            "requests": sum(s["requests"] for s in group),
            "rps": round(statistics.median(s["rps"] for s in group), 1),
            "p50_ms": round(statistics.median(s["p50_ms"] for s in group), 2),
            "p99_ms": round(statistics.median(s["p99_ms"] for s in group), 2),
            "errors": sum(s["errors"] for s in group),
            "nginx_cpu_us": round(statistics.median(s["nginx_cpu_us"] for s in group), 1),
        }
    return summary


def cpu_ratio(summary: dict[str, dict]) -> float | None:
    """The static file's nginx CPU per request over the cached page's: the req/s ratio
    as it would be with the CPU to itself (both are nginx alone)."""
    cached = summary["cached"]["nginx_cpu_us"]
    return round(summary["static"]["nginx_cpu_us"] / cached, 2) if cached else None


def ratios(summary: dict[str, dict]) -> dict[str, float | None]:
    """The cached page's req/s over each other side's."""
    cached = summary["cached"]["rps"]
    return {
        side: round(cached / summary[side]["rps"], 2) if summary[side]["rps"] else None
        for side in SIDES
        if side != "cached"
    }


def targets(summary: dict[str, dict]) -> list[dict[str, object]]:
    found = []
    for side, goal in TARGETS.items():
        value = ratios(summary)[side]
        found.append(
            {
                "target": f"through nginx: cached main page x {side} >= {goal:g}",
                "value": value,
                "goal": goal,
                "met": value is not None and value >= goal,
            }
        )
    return found


def apps(
    workdir: Path,
    database_for: dict[str, str],
    env_for: Callable[[str, Path, str], dict[str, str]],
    args: argparse.Namespace,
) -> dict[str, servers.Server]:
    """The server of each proxied side, `args.workers` workers each: our app under
    hypercorn, granian and uvicorn (on one copy of the data: they only read), and the
    simplest Flask page under gunicorn on its own."""
    env = env_for(database_for["ours"], workdir, secrets.token_hex(32))
    launch = {
        "uncached": (servers.hypercorn("bench.app:app", args.workers, args.worker_class),),
        "granian": (servers.granian("bench.app:app", args.workers), servers.BIND_HOST_PORT),
        "uvicorn": (servers.uvicorn("bench.app:app", args.workers), servers.BIND_HOST_PORT),
    }
    found = {
        side: servers.Server(
            f"ours ({side})",
            argv,
            env,
            "/healthz",
            # uvicorn serves one worker in its own process, with no children to wait for.
            0 if side == "uvicorn" and args.workers == 1 else args.workers,
            workdir / f"{side}.log",
            bind=bind[0] if bind else servers.BIND_HYPERCORN,
        )
        for side, (argv, *bind) in launch.items()
    }
    found["simplest"] = servers.Server(
        "simplest (gunicorn)",
        servers.gunicorn("bench.baseline.flask_simplest:app", args.workers),
        env_for(database_for["simplest"], workdir, secrets.token_hex(32)),
        "/hello",
        args.workers,
        workdir / "simplest.log",
    )
    return found


def render(result: dict) -> str:
    summary, r = result["summary"], ratios(result["summary"])
    lines = [
        f"through nginx (1 worker; {result['config']['client']}, c={CONNECTIONS}, "
        f"Accept-Language: {ACCEPT_LANGUAGE}); medians of {result['config']['runs']} rounds",
        f"{'side':<10}{'req/s':>10}{'p50':>8}{'p99':>8}{'err':>6}{'nginx µs':>10}{'cached x':>10}",
    ]
    for side in SIDES:
        e = summary[side]
        ratio = "-" if side == "cached" else f"{r[side]:.2f}"
        lines.append(
            f"{side:<10}{e['rps']:>10.1f}{e['p50_ms']:>8.1f}{e['p99_ms']:>8.1f}"
            f"{e['errors']:>6}{e['nginx_cpu_us']:>10.1f}{ratio:>10}"
        )
    lines.append(f"static ÷ cached, nginx CPU per request: {cpu_ratio(summary)}")
    lines += ["", "targets:"]
    for t in result["targets"]:
        lines.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']}")
    return "\n".join(lines)


def warm_up(urls: dict[str, str], args: argparse.Namespace) -> None:
    for url in urls.values():
        load.run(args.client, url, REQUEST, 4, args.warmup)


def markdown(result: dict) -> str:
    """RESULTS.md's section for this run, and the README's table."""
    summary, r = result["summary"], ratios(result["summary"])
    c = result["config"]
    lines = [
        f"- **Command:** `{result['command']}`",
        f"- **Date:** {result['date']}; **commit** `{result['commit']}`; load average at "
        f"start {', '.join(f'{x:.1f}' for x in result['machine']['load_average_at_start'])}",
        f"- {c['client']}, c={CONNECTIONS}, `Accept-Language: {ACCEPT_LANGUAGE}`, no cookies; "
        f"one nginx worker; medians of {c['runs']} rounds of {c['duration']:g} s, the order "
        "of the sides alternating.",
        "",
        "| side | req/s | p50 ms | p99 ms | errors | nginx µs/req | cached ÷ side | target |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for side in SIDES:
        e = summary[side]
        ratio = "–" if side == "cached" else f"{r[side]:.2f}"
        goal = f"≥ {TARGETS[side]:g}" if side in TARGETS else ""
        lines.append(
            f"| {LABELS[side]} | {e['rps']:.0f} | {e['p50_ms']:.1f} | {e['p99_ms']:.1f} "
            f"| {e['errors']} | {e['nginx_cpu_us']:.1f} | {ratio} | {goal} |"
        )
    lines += [
        "",
        f"nginx's CPU per request, the static file's over the cached page's: "
        f"{cpu_ratio(summary)} (what req/s would show with the machine to itself).",
    ]
    return "\n".join(lines)
