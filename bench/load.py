"""The load generators: wrk when installed, else a Python async client (httpx).

Both keep a fixed number of connections busy for a fixed time (a closed loop, so
load is bounded), replay one prepared request, and report the same fields. wrk is
the one to trust for figures: it is C and leaves the CPU to the servers; the
Python client needs a core of its own and saturates near 1,000 req/s.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

TIMEOUT_SECONDS = 10  # the slow baseline page queues 64 requests behind one worker


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    # Headers sent in turn on top of `headers`, one set per request (several members'
    # cookies, say); empty: every request the same.
    variants: tuple[dict[str, str], ...] = ()

    def headers_at(self, turn: int) -> dict[str, str]:
        if not self.variants:
            return self.headers
        return {**self.headers, **self.variants[turn % len(self.variants)]}


@dataclass(frozen=True)
class Result:
    requests: int  # responses received, errors included
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # status >= 400, and socket errors and timeouts

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "rps": round(self.rps, 1)}


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run(client: str, url: str, request: Request, connections: int, seconds: float) -> Result:
    if client == "wrk":
        return run_wrk(url, request, connections, seconds)
    return asyncio.run(run_python(url, request, connections, seconds))


# wrk reports through a Lua `done` hook as one JSON line; its status errors count
# every response that is not 2xx or 3xx.
_WRK_SCRIPT = """
wrk.method = [==[{method}]==]
wrk.body = [==[{body}]==]
{headers}
{variants}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n@@{{"requests": %d, "us": %d, "p50": %d, "p99": %d, "errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""
# With variants: each request built once at the start, then sent in turn.
_WRK_VARIANTS = """
local variants = {{ {tables} }}
local requests, turn = {{}}, 0
init = function(args)
  for i, extra in ipairs(variants) do
    local headers = {{}}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    for k, v in pairs(extra) do headers[k] = v end
    requests[i] = wrk.format(nil, nil, headers)
  end
end
request = function()
  turn = turn % #requests + 1
  return requests[turn]
end
"""


def _lua_table(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f"[ [==[{k}]==] ] = [==[{v}]==]" for k, v in headers.items()) + "}"


def run_wrk(url: str, request: Request, connections: int, seconds: float) -> Result:
    headers = "\n".join(
        f"wrk.headers[ [==[{k}]==] ] = [==[{v}]==]" for k, v in request.headers.items()
    )
    variants = ""
    if request.variants:
        variants = _WRK_VARIANTS.format(tables=", ".join(map(_lua_table, request.variants)))
    script = _WRK_SCRIPT.format(
        method=request.method, body=request.body, headers=headers, variants=variants
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        out = subprocess.run(
            [
                wrk_path() or "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={TIMEOUT_SECONDS}s",
                "-s",
                lua.name,
                url + request.path,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + TIMEOUT_SECONDS + 30,
        ).stdout
    finally:
        Path(lua.name).unlink()
    line = next(line for line in out.splitlines() if line.startswith("@@"))
    data = json.loads(line[2:])
    return Result(
        requests=data["requests"],
        seconds=data["us"] / 1e6,
        p50_ms=data["p50"] / 1000,
        p99_ms=data["p99"] / 1000,
        errors=data["errors"],
    )


async def run_python(url: str, request: Request, connections: int, seconds: float) -> Result:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=TIMEOUT_SECONDS) as client:
        start = time.perf_counter()
        deadline = start + seconds

        turn = 0

        async def connection() -> None:
            nonlocal errors, turn
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                turn += 1
                try:
                    response = await client.request(
                        request.method,
                        request.path,
                        headers=request.headers_at(turn),
                        content=request.body or None,
                    )
                    failed = response.status_code >= 400
                except httpx.HTTPError:
                    failed = True
                # Like wrk, send the same request every time: no cookie jar.
                client.cookies.clear()
                latencies.append(time.perf_counter() - sent)
                errors += failed

        await asyncio.gather(*(connection() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    if len(latencies) < 2:
        return Result(len(latencies), elapsed, 0.0, 0.0, errors)
    cuts = statistics.quantiles(latencies, n=100)
    return Result(len(latencies), elapsed, cuts[49] * 1000, cuts[98] * 1000, errors)
