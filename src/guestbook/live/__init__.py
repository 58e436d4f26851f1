"""Live pages: the `/live` WebSocket (`views`), the fan-out of committed changes to open
sockets (`fanout`, `subscriber`), and hypercorn's worker that closes them first on a
graceful shutdown (`worker`).

May import `db`, `web`, `config`, `models` and `lib`; no other feature package.
"""
