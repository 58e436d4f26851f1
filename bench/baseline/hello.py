"""A bare Quart hello route: what hypercorn and Quart cost with no app work at all.

hypercorn -k uvloop -w 1 -b 127.0.0.1:8000 bench.baseline.hello:app
"""

from quart import Quart

app = Quart(__name__)


@app.get("/hello")
async def hello() -> str:
    return "Hello, World!"
