"""Our app as the benchmark serves it: the production app, plus one page that awaits a
50 ms call, to see how many slow requests one worker keeps in flight. The page lives
here, not in the app: production has no use for it.

    hypercorn -k uvloop -w 1 -b 127.0.0.1:8000 bench.app:app
"""

import asyncio

from guestbook import create_app

WAIT_SECONDS = 0.05

app = create_app()


@app.get("/bench/wait")
async def wait_page() -> str:
    await asyncio.sleep(WAIT_SECONDS)  # stands for a call to another service
    return "waited 50 ms\n"
