"""Live pages: the `/live` WebSocket (`views`), the fan-out of committed changes to open
sockets (`fanout`, `subscriber`, with bursts of edits `coalescing`), and hypercorn's
worker that closes them first on a graceful shutdown and bounds what a socket can make
it hold (`worker`).

May import `db`, `web`, `config`, `models` and `lib`; no other feature package.
"""
