"""A bare Quart app: what hypercorn and Quart cost with no app work at all. The hello
route is the ceiling of a page; the 50 ms wait is the ceiling of the slow page.

    hypercorn -k uvloop -w 1 -b 127.0.0.1:8000 bench.baseline.hello:app
"""

import asyncio

from quart import Quart

WAIT_SECONDS = 0.05

app = Quart(__name__)


@app.get("/hello")
async def hello() -> str:
    return "Hello, World!"


@app.get("/bench/wait")
async def wait_page() -> str:
    await asyncio.sleep(WAIT_SECONDS)
    return "waited 50 ms\n"
