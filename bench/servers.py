"""Starting the servers under test on free loopback ports, and their workers' memory.

Each server is a process group of its own (a master and W workers), stopped with
SIGTERM to the group. Peak RSS comes from /proc: the kernel's high-water mark
(VmHWM) of each worker, reset before each measurement where the kernel allows it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
IDLE_TICKS = 2  # CPU ticks (usually 10 ms each) per 250 ms: an idle worker


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port free now, and not one already given to a server of this run:
    servers start side by side, and one not yet bound leaves its port looking free."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def hypercorn(app: str, workers: int, worker_class: str) -> list[str]:
    return [sys.executable, "-m", "hypercorn", "-k", worker_class, "-w", str(workers), app]


def granian(app: str, workers: int) -> list[str]:
    """For reference beside hypercorn (`--through nginx`): Granian's ASGI on uvloop."""
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop"] + [
        "--workers",
        str(workers),
        app,
    ]


def uvicorn(app: str, workers: int) -> list[str]:
    """For reference beside hypercorn: uvicorn with uvloop and httptools, no access log
    (hypercorn's and granian's are off too)."""
    return [sys.executable, "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools"] + [
        "--no-access-log",
        "--workers",
        str(workers),
        app,
    ]


# How each server is told its address; `{port}` is filled in at launch.
BIND_HYPERCORN = ("-b", "127.0.0.1:{port}")  # gunicorn's is the same
BIND_HOST_PORT = ("--host", "127.0.0.1", "--port", "{port}")  # granian, uvicorn


def gunicorn(app: str, workers: int, threads: int = 1) -> list[str]:
    """Sync workers, or with `threads` > 1 gthread workers."""
    threaded = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else []
    return [sys.executable, "-m", "gunicorn", "-w", str(workers), *threaded, app]


@dataclass
class Server:
    """One server under test; `argv` is completed with the bind address at start."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ready_path: str
    workers: int  # worker processes to wait for (uvicorn with one worker has none: 0)
    log: Path
    port: int = 0
    bind: tuple[str, ...] = BIND_HYPERCORN
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start the process; `wait_ready` waits for it to answer."""
        self.port = free_port()
        # A side may put another revision's sources first on PYTHONPATH (`--against`).
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.argv, *(part.format(port=self.port) for part in self.bind)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log}")
            if len(self.worker_pids()) >= self.workers and self._answers(timeout=2):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s; see {self.log}")

    def _answers(self, timeout: float) -> bool:
        try:
            return httpx.get(self.url + self.ready_path, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def worker_pids(self) -> list[int]:
        """The master's children (hypercorn and gunicorn both fork or spawn workers)."""
        assert self.proc is not None
        return _children(self.proc.pid)

    def wait_idle(self, timeout: float = 60) -> None:
        """Until requests queued by the last measurement are done, so they do not run
        into the next: a sync worker's backlog (its answer to one more request waits
        for them) and hashes in a thread pool (the workers stop using CPU)."""
        self._answers(timeout=timeout)
        pids = self.worker_pids()
        deadline = time.monotonic() + timeout
        used = _cpu_ticks(pids)
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = _cpu_ticks(pids)
            if now - used <= IDLE_TICKS:
                return
            used = now

    def cpu_seconds(self) -> float:
        """CPU time used so far by the workers (threads included)."""
        return _cpu_ticks(self.worker_pids()) / TICKS_PER_SECOND

    def reset_peak_rss(self) -> None:
        for pid in self.worker_pids():
            # "5" resets VmHWM to the current RSS (Linux >= 4.0); else it stays the
            # peak since start, which only overstates.
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_rss_mb(self) -> float:
        """The largest VmHWM among the workers, in MB (10^6 bytes)."""
        peaks = [_status_kb(pid, "VmHWM") for pid in self.worker_pids()]
        return round(max(peaks, default=0) * 1024 / 1e6, 1)


def _children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; the parent pid follows the closing paren.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            pids.append(int(entry.name))
    return sorted(pids)


def _cpu_ticks(pids: list[int]) -> int:
    """User + system CPU time of `pids`, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
