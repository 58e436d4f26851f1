"""Real servers for tests: the app under hypercorn in a subprocess on a free loopback port.

    from servers import LiveServer, migrate      # tests/ is on sys.path under pytest

    env = {"GUESTBOOK_DATABASE_URL": url, ...}
    migrate(env)                                 # `guestbook db upgrade`
    with LiveServer(tmp_path, env) as server:    # started, and /healthz answers
        httpx.get(server.url + "/")
    # left: SIGTERM (as systemd sends it), waited for; server.returncode, server.log()

By default the process is `guestbook serve -c hypercorn.toml --workers 1`: the sample
production config, one worker. `argv=` runs another command (it gets `--bind` added).
The server sees only the GUESTBOOK_* variables given in `env` (none are inherited;
GUESTBOOK_INSTANCE_PATH defaults to `workdir/instance`). Its stdout and stderr (access
log, app log, prints) go to `server.log_path`. To start several at once, `start()` each,
then `wait_ready()` each, or `with serving(a, b):`; `stop()` is safe to call twice.
`migrate(env)` sees the same kind of environment, from the current directory: give it the
server's GUESTBOOK_DATABASE_URL (or GUESTBOOK_INSTANCE_PATH). `wait_until` polls any other
process of yours (nginx, redis-server) until it answers. `next_event(socket)` reads a
`/live` socket (websockets' client) past its heartbeats.

support.py has a `serving` and a `next_event` of its own, for the app in process (Quart's
test app and test client): the reason these live in a module of their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from support import ROOT, next_live_event

HYPERCORN_TOML = ROOT / "hypercorn.toml"
GUESTBOOK = Path(sys.executable).with_name("guestbook")  # the venv's console script


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SHARED = "GUESTBOOK_COMPILED_TEMPLATES_PATH"  # the run's one folder (conftest)


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its GUESTBOOK_* variables (but the run's
    compiled templates folder), plus `env`."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith("GUESTBOOK_") or k == SHARED
    }
    return {**inherited, "PYTHONUNBUFFERED": "1", **env}


def wait_until(
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes],
    timeout: float = 60,
    errors: tuple[type[Exception], ...] = (httpx.TransportError,),
) -> None:
    """Poll `ready()` until it is true (raising one of `errors` counts as not yet);
    RuntimeError if `process` exits or `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(*errors):
            if ready():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args} not ready after {timeout} s")


def migrate(env: Mapping[str, str]) -> None:
    """`guestbook db upgrade` with `env`; raises with its output if it fails."""
    result = subprocess.run(
        [GUESTBOOK, "db", "upgrade"], env=child_env(env), capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"guestbook db upgrade failed:\n{result.stdout}{result.stderr}")


class LiveServer:
    """One server process on its own free port (`port`, `url`); see the module's docstring."""

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        argv: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / f"server-{self.port}.log"
        command = argv or [GUESTBOOK, "serve", "-c", HYPERCORN_TOML, "--workers", "1"]
        self.argv = [str(part) for part in command] + ["--bind", f"127.0.0.1:{self.port}"]
        self.env = child_env({"GUESTBOOK_INSTANCE_PATH": str(workdir / "instance"), **env})
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() can clean up workers
        )

    def wait_ready(self, timeout: float = 60) -> None:
        """Return once /healthz answers 200; raise with the log if the process exits
        or `timeout` seconds pass first."""
        assert self.process is not None, "not started"
        try:
            wait_until(
                lambda: httpx.get(self.url + "/healthz", timeout=2).status_code == 200,
                self.process,
                timeout,
            )
        except RuntimeError as err:
            self.stop()
            raise RuntimeError(f"{err}:\n{self.log()}") from None

    def wait(self, timeout: float) -> int:
        """The exit code, once the process has exited (raises TimeoutExpired)."""
        assert self.process is not None, "not started"
        return self.process.wait(timeout)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM to the main process, as systemd's KillMode=mixed sends it; SIGKILL
        to the whole process group if it has not exited after `timeout` seconds."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):  # stragglers, or a hung server
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self._log:
            self._log.close()
        return self.process.returncode

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> LiveServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def serving(*servers: LiveServer) -> Iterator[tuple[LiveServer, ...]]:
    """Start every server at once, wait until all are ready; stop them all after."""
    with contextlib.ExitStack() as stack:
        for server in servers:
            server.start()
            stack.callback(server.stop)
        for server in servers:
            server.wait_ready()
        yield servers


async def next_event(socket: Any, timeout: float = 10) -> dict:
    """The next frame of a `/live` socket that is not a heartbeat: a heartbeat is due
    at a random moment, so any frame may be preceded by one."""
    return await next_live_event(socket, socket.recv, timeout)
