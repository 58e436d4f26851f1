"""The metrics listener: `guestbook serve` starts it in hypercorn's main process, on
`GUESTBOOK_METRICS_BIND` only, before the workers are spawned.

The workers inherit `PROMETHEUS_MULTIPROC_DIR` (this module sets it when it is not
set) and write their figures there; the listener's registry reads every worker's
files at each scrape. The directory is emptied first, as prometheus-client requires:
figures of an earlier run would otherwise be added to this one's. A worker that
ends marks its files dead (`worker_ended`), so the live gauges drop its share.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def parse_bind(bind: str) -> tuple[str, int]:
    """`127.0.0.1:9100` or `[::1]:9100` as (host, port); ValueError otherwise."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(bind)
    return host.removeprefix("[").removesuffix("]"), int(port)


def prepare_directory() -> Path:
    """The workers' directory: `PROMETHEUS_MULTIPROC_DIR`, emptied of earlier figures,
    or a new temporary one, named in the environment the workers inherit."""
    given = os.environ.get(VARIABLE)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="guestbook-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)  # ours: gone with us
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[VARIABLE] = str(directory)
    return directory


def serve(bind: str, directory: Path) -> tuple[WSGIServer, Thread]:
    """Answer scrapes at `bind` (any path) from a thread of this process."""
    host, port = parse_bind(bind)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return start_http_server(port, addr=host, registry=registry)


def worker_ended() -> None:
    """This worker's live gauges no longer count (its other figures stay summed)."""
    directory = os.environ.get(VARIABLE)
    if directory:
        mark_process_dead(os.getpid(), directory)
