"""Test-only ASGI app for the SIGTERM test (test_deploy.py): the real app from the
environment, plus a slow route, plus hooks that print what shutdown left behind.

    hypercorn -c hypercorn.toml tests/slow_asgi.py:app

The prints go to the server's output, where the test reads them:
"slow request started", "started: app tasks [...]" and, after the app's own shutdown
hooks, "stopped: app tasks still running [...], engine disposed True|False".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from guestbook import create_app, db

SLOW_SECONDS = 2.0

app = create_app()
_tasks_before_start: set[asyncio.Task] = set()
_watched: dict = {}


@app.get("/slow")
async def slow() -> str:
    print("slow request started", flush=True)
    await asyncio.sleep(SLOW_SECONDS)
    return "slow request finished"


async def _note_tasks_before_start() -> None:
    _tasks_before_start.update(asyncio.all_tasks())


# First of all the before_serving hooks, so the app's own start comes after it.
app.before_serving_funcs.insert(0, _note_tasks_before_start)


@app.while_serving
async def _note_what_the_app_started() -> AsyncIterator[None]:
    # Registered last, so it runs after the app's start: the engine is made and the
    # app's background tasks (the mail sender) are running.
    _watched["tasks"] = asyncio.all_tasks() - _tasks_before_start
    engine = db.engine(app)
    _watched["engine"], _watched["pool"] = engine, engine.sync_engine.pool
    print(f"started: app tasks {sorted(t.get_name() for t in _watched['tasks'])}", flush=True)
    yield


@app.after_serving
async def _report_what_shutdown_left() -> None:
    # Registered last, so it runs after the app's own shutdown hooks. dispose()
    # closes the engine's pool and gives it a new, empty one.
    running = sorted(t.get_name() for t in _watched["tasks"] if not t.done())
    disposed = _watched["engine"].sync_engine.pool is not _watched["pool"]
    print(f"stopped: app tasks still running {running}, engine disposed {disposed}", flush=True)
