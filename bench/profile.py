"""Where a page's time goes: pyinstrument over many requests of one path, in-process.

    python -m bench.profile /                     # the main page, on a fresh seeded copy
    python -m bench.profile / --member --requests 2000 --html out.html

The app runs with the benchmark's settings through Quart's test client, so the
report shows the app's own work (hooks, queries, template) without the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
from pathlib import Path

from pyinstrument import Profiler

from .seed import PASSWORD, READER, seed


async def _profile(path: str, requests: int, member: bool) -> Profiler:
    from bench.app import app  # reads the GUESTBOOK_* variables set below

    profiler = Profiler(async_mode="enabled")
    async with app.test_app():
        client = app.test_client()
        if member:
            page = await (await client.get("/auth/login")).get_data(as_text=True)
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            await client.post(
                "/auth/login", form={"username": READER, "password": PASSWORD, "csrf_token": token}
            )
        for _ in range(50):  # warm the caches before measuring
            await client.get(path)
        profiler.start()
        for _ in range(requests):
            response = await client.get(path)
            assert response.status_code == 200, response.status_code
        profiler.stop()
    return profiler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--member", action="store_true", help="log in as the reader first")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="guestbook-profile-"))
    seeded = seed(workdir / "guestbook.sqlite3", args.users, args.messages, page_size=20)
    os.environ.update(
        GUESTBOOK_ENV="production",
        GUESTBOOK_ALLOW_SQLITE="1",
        GUESTBOOK_SECRET_KEY=secrets.token_hex(32),
        GUESTBOOK_DATABASE_URL=f"sqlite+aiosqlite:///{seeded.path}",
        GUESTBOOK_INSTANCE_PATH=str(workdir / "instance"),
        GUESTBOOK_MAIL_BACKEND="null",
    )
    profiler = asyncio.run(_profile(args.path, args.requests, args.member))
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
