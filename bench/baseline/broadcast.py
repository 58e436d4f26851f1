"""A bare Quart broadcast app: the ceiling of /live. Each socket waits on its own
queue; POST /post puts one frame in every queue. No database, no limits, no resume.

    hypercorn -k uvloop -w 1 -b 127.0.0.1:8000 bench.baseline.broadcast:app
"""

import asyncio
import json

from quart import Quart, websocket

app = Quart(__name__)
queues: set[asyncio.Queue] = set()
sent = 0


@app.websocket("/live")
async def live() -> None:
    queue: asyncio.Queue = asyncio.Queue()
    queues.add(queue)
    try:
        await websocket.accept()
        while True:
            await websocket.send(await queue.get())
    finally:
        queues.discard(queue)


@app.post("/post")
async def post() -> str:
    global sent
    sent += 1
    frame = json.dumps({"type": "created", "id": sent, "seq": sent}, separators=(",", ":"))
    for queue in queues:
        queue.put_nowait(frame)
    return "posted\n"


@app.get("/hello")
async def hello() -> str:
    return "Hello, World!"
