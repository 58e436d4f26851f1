"""Where a page's time goes: pyinstrument over many requests of one path, in-process.

    python -m bench.profile /                     # the main page, on a fresh seeded copy
    python -m bench.profile / --member --requests 2000 --html out.html
    python -m bench.profile /messages --post       # a member posting, one at a time
    python -m bench.profile /api/v1/messages --post  # the same through the API
    python -m bench.profile / --member --share guestbook/i18n.py,babel/,gettext.py
    python -m bench.profile / --member --render    # rendered each time, not kept whole
    python -m bench.profile / --after-posts 16 --requests 200
                                                   # 16 members' pages after each post

`--share` runs cProfile instead and prints the share of the time spent in functions
whose file path contains one of the given parts (a layer's cost: the i18n layer's above).

`--after-posts N` logs in N members and another who posts; after each post every member
asks for the path, which is then new to each (what the mixed load's members do after
each of its writers' posts). It prints the milliseconds a page took after a post and
with no post between (kept whole), timed without the profiler, then profiles as many
rounds' pages after a post.

The app runs with the benchmark's settings through Quart's test client, so the
report shows the app's own work (hooks, queries, template) without the server.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import itertools
import os
import pstats
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from quart import Response

from .seed import PASSWORD, READER, WRITER, seed

ORIGIN = {"Origin": "https://localhost"}  # production checks a POST's origin


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


async def _profile(
    path: str,
    requests: int,
    member: bool,
    post: bool,
    render: bool,
    start: Callable,
    stop: Callable,
) -> None:
    from bench.app import app  # reads the GUESTBOOK_* variables set below

    async with app.test_app():
        client = app.test_client()
        # https: production cookies are Secure (and __Host-), so the login sticks.
        get = functools.partial(client.get, scheme="https")
        post_form = functools.partial(client.post, scheme="https")
        if member or post:
            await _log_in(client)
        if post:
            token, cookies, request = await _poster(client, path)
            expected = 302
            if path.startswith("/api/"):  # the API's POST, with a write token instead
                form = {"name": "profile", "scope": "write", "csrf_token": token}
                made = await post_form(
                    "/account/tokens", form=form, headers={**ORIGIN, "Cookie": cookies}
                )
                bearer = {
                    "Authorization": "Bearer "
                    + _TOKEN_RE.search(await made.get_data(as_text=True))[1]
                }
                numbers = itertools.count()

                def request() -> Awaitable[Response]:
                    body = {"body": f"A message of a usual length, number {next(numbers)}."}
                    return post_form(path, json=body, headers=bearer)

                expected = 201
        else:
            # --render: a new query string each time, so no page is served kept whole
            paths = (
                (f"{path}?n={n}" for n in itertools.count()) if render else itertools.repeat(path)
            )
            request, expected = (lambda: get(next(paths))), 200
            page = await (await request()).get_data(as_text=True)
            if (">Log out<" in page) != member:
                raise RuntimeError(f"not {'logged in' if member else 'a reader'} as asked")
        for _ in range(50):  # warm the caches before measuring
            await request()
        start()
        for _ in range(requests):
            response = await request()
            if response.status_code != expected:
                raise RuntimeError(f"{path}: {response.status_code}, not {expected}")
        stop()


async def _poster(client: Any, path: str) -> tuple[str, str, Callable[[], Awaitable[Response]]]:  # noqa: ANN401
    """For a logged-in client: its form token, its cookies, and a function that posts a
    new message to `path` with them."""
    page = await (await client.get("/", scheme="https")).get_data(as_text=True)
    token, numbers = _csrf(page), itertools.count()  # the same body twice is refused
    # The same cookies each time, as the benchmark's writer sends them (kept, the unread
    # "Posted." flashes would pile up in the session cookie).
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.cookie_jar)
    client.cookie_jar = None

    def request() -> Awaitable[Response]:
        body = f"A message of a usual length, number {next(numbers)}."
        form = {"body": body, "csrf_token": token}
        headers = {**ORIGIN, "Cookie": cookies}
        return client.post(path, form=form, headers=headers, scheme="https")

    return token, cookies, request


async def _after_posts(
    path: str, posts: int, members: int, start: Callable, stop: Callable
) -> None:
    from bench.app import app

    async with app.test_app():
        readers = []
        for name in [READER, *(f"user{n:05d}" for n in range(1, members))]:
            client = app.test_client()
            await _log_in(client, name)
            await client.get(path, scheme="https")  # "Logged in", shown once
            readers.append(client)
        writer = app.test_client()
        await _log_in(writer, WRITER)
        _, _, post = await _poster(writer, "/messages")

        async def everyone() -> float:
            began = time.perf_counter()
            for client in readers:
                response = await client.get(path, scheme="https")
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code}, not 200")
            return time.perf_counter() - began

        async def posted() -> None:
            if (await post()).status_code != 302:
                raise RuntimeError("the post was refused")

        async def rounds(profiled: bool) -> tuple[float, float]:
            """Seconds for the pages after each post, and for as many kept ones."""
            after = kept = 0.0
            for _ in range(posts):
                await posted()
                if profiled:
                    start()
                after += await everyone()
                if profiled:
                    stop()
                kept += await everyone()
            return after, kept

        for _ in range(5):  # warm the caches before measuring
            await posted()
            await everyone()
        after, kept = await rounds(profiled=False)  # timed without the profiler's cost
        pages = posts * len(readers)
        print(
            f"{len(readers)} members' {path} after each of {posts} posts: "
            f"{after / pages * 1000:.3f} ms a page; kept, no post between: "
            f"{kept / pages * 1000:.3f} ms"
        )
        await rounds(profiled=True)


_TOKEN_RE = re.compile(r'<code id="new-token">([^<]+)</code>')


async def _log_in(client: Any, name: str = READER) -> None:  # noqa: ANN401 (Quart's test client)
    """Log `name` in through the real login form; the client keeps the cookies."""
    page = await (await client.get("/auth/login", scheme="https")).get_data(as_text=True)
    form = {"username": name, "password": PASSWORD, "csrf_token": _csrf(page)}
    answer = await client.post("/auth/login", form=form, headers=ORIGIN, scheme="https")
    if answer.status_code != 302:
        raise RuntimeError(f"login failed: {answer.status_code}")


async def member_cookie() -> str:
    """The Cookie header a browser sends once the reader has logged in and seen the
    main page (bench.instructions --member), with the GUESTBOOK_* variables set.
    (No `assert` with work in it here: the bench's children run under -OO, which skips
    them; the main page unvisited left "Logged in" waiting in the session, and a page
    with a message waiting is rendered every time, never kept.)"""
    from bench.app import app

    async with app.test_app():
        client = app.test_client()
        await _log_in(client)
        seen = await client.get("/", scheme="https")
        if seen.status_code != 200:
            raise RuntimeError(f"the main page, logged in: {seen.status_code}")
        return "; ".join(f"{c.name}={c.value}" for c in client.cookie_jar)


def _print_share(profile: cProfile.Profile, parts: list[str]) -> None:
    stats = pstats.Stats(profile)
    own = {key: row[2] for key, row in stats.stats.items()}  # type: ignore[attr-defined]
    total = sum(own.values())
    layer = {key: t for key, t in own.items() if any(part in key[0] for part in parts)}
    print(f"{sum(layer.values()) / total:.1%} of {total:.2f} s in {', '.join(parts)}")
    for (file, line, name), seconds in sorted(layer.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {seconds / total:6.2%}  {name}  {file}:{line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument(
        "--requests", type=int, default=1000, help="requests; with --after-posts, posts"
    )
    parser.add_argument("--member", action="store_true", help="log in as the reader first")
    parser.add_argument("--post", action="store_true", help="POST a message to the path")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--render", action="store_true", help="pages rendered, never kept")
    parser.add_argument(
        "--after-posts", type=int, metavar="N", help="N members read the path after each post"
    )
    parser.add_argument("--share", help="cProfile; the share of time in files matching these")
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
        GUESTBOOK_POST_LIMIT=str(10**9),
        GUESTBOOK_ALLOWED_HOSTS="localhost",  # the test client's host
    )
    if args.after_posts is not None:
        if args.after_posts < 1 or args.member or args.post or args.render:
            parser.error("--after-posts takes 1 or more members, and no --member/--post/--render")
        run = functools.partial(_after_posts, args.path, args.requests, args.after_posts)
    else:
        run = functools.partial(
            _profile, args.path, args.requests, args.member, args.post, args.render
        )
    if args.share:
        profile = cProfile.Profile()
        asyncio.run(run(profile.enable, profile.disable))
        _print_share(profile, args.share.split(","))
        return
    profiler = Profiler(async_mode="enabled")
    asyncio.run(run(profiler.start, profiler.stop))
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
