"""The caches (`cache.versions`, `messages.lists`, `cache.page_cache`): never a stale page.

Two app instances share one database, as two workers or hosts do: a write through
one is seen at once by the other, whose cached list was rendered before the write.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart, Response
from sqlalchemy import delete, select, update

from guestbook import create_app, db
from guestbook.cache import versions
from guestbook.messages.pagination import Cursor
from guestbook.models import ContentVersion, LoginSession, Message, User, utcnow
from guestbook.web import conditional
from support import (
    PASSWORD,
    PRODUCTION,
    AuthActions,
    CSRFClient,
    Statements,
    bodies,
    csrf_from,
    message_id,
    page_text,
    reset_schema,
    seen_by,
    serving,
)


@pytest.fixture
async def other(settings_overrides: dict[str, Any]) -> AsyncIterator[CSRFClient]:
    """A client of a second instance on the same database (the `app` fixture made the
    schema), with its own engine, connection and cache."""
    app = create_app(settings_overrides)
    async with app.test_app():
        yield app.test_client()


async def test_a_post_shows_at_once_on_the_other_instance(client, auth, other) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "first"})
    assert bodies(await seen_by(other)) == ["first"]  # rendered and cached there
    await client.post("/messages", form={"body": "second"})
    assert bodies(await seen_by(other)) == ["second", "first"]


async def test_an_edit_shows_at_once_on_the_other_instance(app, client, auth, other) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "before"})
    assert bodies(await seen_by(other)) == ["before"]
    ident = await message_id(app, "before")
    response = await client.post(f"/messages/{ident}/edit", form={"body": "after"})
    assert response.status_code == 302
    page = await seen_by(other)
    assert bodies(page) == ["after"]
    assert 'class="edited"' in page


async def test_a_delete_shows_at_once_on_the_other_instance(app, client, auth, other) -> None:
    # The repeat rule (spam.py) would refuse writing the deleted text again at once.
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(duplicate_window_seconds=0)
    await auth.signup("alice")
    for body in ("older", "newest"):
        await client.post("/messages", form={"body": body})
    assert bodies(await seen_by(other)) == ["newest", "older"]
    ident = await message_id(app, "newest")
    await client.post(f"/messages/{ident}/delete", form={})
    assert bodies(await seen_by(other)) == ["older"]
    # Write the same text again: SQLite may hand out the deleted row's id once more.
    await client.post("/messages", form={"body": "newest"})
    assert bodies(await seen_by(other)) == ["newest", "older"]


async def test_a_deleted_member_disappears_from_the_other_instance(
    app, client, auth, other
) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "by alice"})
    await auth.logout()
    await auth.signup("bob")
    await client.post("/messages", form={"body": "by bob"})
    assert bodies(await seen_by(other)) == ["by bob", "by alice"]
    # Not a route of the app: an operator removes the account, the database cascades.
    async with db.sessionmaker(app)() as session:
        await session.execute(delete(User).where(User.username == "alice"))
        await session.commit()
    assert bodies(await seen_by(other)) == ["by bob"]


async def test_the_page_after_a_write_through_the_other_instance(app, client, other) -> None:
    """The reverse direction, without the app: rows written by anyone else."""
    async with db.sessionmaker(app)() as session:
        session.add(User(username="carol", email="carol@example.com", password_hash="-"))
        await session.commit()
        carol = await session.scalar(select(User.id))
    assert bodies(await seen_by(client)) == []
    async with db.sessionmaker(app)() as session:
        session.add(Message(body="written elsewhere", writer_id=carol))
        await session.commit()
    assert bodies(await seen_by(client)) == ["written elsewhere"]
    assert bodies(await seen_by(other)) == ["written elsewhere"]


async def test_controls_and_tokens_are_the_viewers_own(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "mine"})
    ident = await message_id(app, "mine")
    mine = await seen_by(client)
    assert f'action="/messages/{ident}/delete"' in mine
    token = await client.csrf_token()
    assert f'name="csrf_token" value="{token}"' in mine

    # Alice on a second device: the same rows, another session, so another token.
    second = app.test_client()
    await second.post("/auth/login", form={"username": "alice", "password": PASSWORD})
    other_device = await seen_by(second)
    assert f'action="/messages/{ident}/delete"' in other_device
    assert token not in other_device
    assert csrf_from(other_device) == await second.csrf_token()

    # Bob and an anonymous visitor get the list without Alice's controls.
    bob = app.test_client()
    await bob.post(
        "/auth/signup",
        form={
            "username": "bob",
            "email": "bob@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    for page in (await seen_by(bob), await seen_by(app.test_client())):
        assert bodies(page) == ["mine"]
        assert f"/messages/{ident}/delete" not in page
        assert token not in page


async def test_delete_sends_the_owner_back_to_the_page_they_were_on(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "mine"})
    assert 'name="next" value="/?x=1"' in await seen_by(client, "/?x=1")
    page = await seen_by(client, "/")
    assert 'name="next" value="/"' in page
    assert "/?x=1" not in page


async def test_identical_requests_render_the_list_once(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    await auth.logout()
    visitors = [app.test_client() for _ in range(3)]
    pages = [await seen_by(visitor) for visitor in visitors]
    assert len({bodies(page)[0] for page in pages}) == 1
    assert len(app.extensions["guestbook.cache.versions"].reads) == 1  # one page query
    assert len(app.extensions["guestbook.messages.lists"].kept) == 1  # and one rendering


async def test_a_new_post_renders_only_itself_on_a_members_next_list(app, client, auth) -> None:
    """Each message's HTML is kept too: after a post, a member's list (their own, with
    their token) renders the new message and takes the others as they were, unless
    what they show changed (a like)."""
    await auth.signup("alice")
    for body in ("one", "two", "three"):
        await client.post("/messages", form={"body": body})
    first = await seen_by(client)
    items = app.extensions["guestbook.messages.lists"].items
    assert len(items) == 3
    await client.post("/messages", form={"body": "four"})
    page = await seen_by(client)
    assert bodies(page) == ["four", "three", "two", "one"]
    assert len(items) == 4  # the new one's
    for ident in [await message_id(app, body) for body in ("one", "two", "three")]:
        item = re.search(rf'<li class="message" id="m{ident}".*?</li>', first, re.S)
        assert item is not None and item.group(0) in page  # the same bytes
    # A like changes what one message shows (its count, the button): that one only.
    two = await message_id(app, "two")
    assert (await client.post(f"/messages/{two}/like", form={"next": "/"})).status_code == 302
    page = await seen_by(client)
    assert len(items) == 5
    liked = re.search(rf'<li class="message" id="m{two}".*?</li>', page, re.S)
    assert liked is not None and 'aria-pressed="true"' in liked.group(0)
    assert "1 like" in liked.group(0)
    # Another member's list is their own: every message rendered for them.
    await auth.logout()
    await AuthActions(client).signup("bob")
    await seen_by(client)
    assert len(items) == 5 + 4


async def test_a_list_asks_only_about_the_messages_someone_likes(
    app, client, auth, monkeypatch
) -> None:
    """A member's list asks which messages they like only among those whose count is
    not 0: a list of messages nobody likes asks nothing of the likes."""
    await auth.signup("alice")
    for body in ("one", "two"):
        await client.post("/messages", form={"body": body})
    await seen_by(client)  # the flash
    statements = Statements(app, monkeypatch)
    await client.post("/messages", form={"body": "three"})
    await seen_by(client)
    assert not [seen for seen in statements.seen if "likes" in seen], statements.seen
    two = await message_id(app, "two")
    assert (await client.post(f"/messages/{two}/like", form={"next": "/"})).status_code == 302
    statements.seen.clear()
    page = await seen_by(client)
    assert [seen for seen in statements.seen if "likes" in seen] == ["SELECT likes.message_id"]
    assert page.count('aria-pressed="true"') == 1
    liked = re.search(rf'<li class="message" id="m{two}".*?</li>', page, re.S)
    assert liked is not None and 'aria-pressed="true"' in liked.group(0)


async def test_a_repeat_visit_asks_the_database_one_question(app, client, auth, monkeypatch):
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    await auth.logout()
    statements = Statements(app, monkeypatch)
    for path in ("/", "/users/alice"):
        await seen_by(client, path)  # the first visit reads the page
        statements.seen.clear()
        await seen_by(client, path)
        assert statements.seen == ["SELECT content_version.version,"], path


async def test_a_rename_outside_the_app_shows_everywhere_at_once(app, client, auth, other):
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    for visitor in (client, other):
        assert "alice" in await seen_by(visitor)
        assert "hello" in await seen_by(visitor, "/users/alice")
    async with db.sessionmaker(app)() as session:
        # By hand, a rename sets the lookup key too (README: canonical keys).
        await session.execute(update(User).values(username="alicia", username_key="alicia"))
        await session.commit()
    for visitor in (client, other):
        assert re.search(r">alicia<", await seen_by(visitor))
        assert (await visitor.get("/users/alice")).status_code == 404
        assert "hello" in await seen_by(visitor, "/users/alicia")


async def test_a_profile_count_follows_the_other_instance(app, client, auth, other) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "one"})
    assert "1 message<" in await seen_by(other, "/users/alice")
    await client.post("/messages", form={"body": "two"})
    page = await seen_by(other, "/users/alice")
    assert "2 messages<" in page
    assert bodies(page) == ["two", "one"]


async def test_without_the_version_row_nothing_is_kept(app, client, auth) -> None:
    """Were the row gone, no write could tell the cache: so every visit reads afresh."""
    await auth.signup("alice")
    await client.post("/messages", form={"body": "before"})
    async with db.sessionmaker(app)() as session:
        await session.execute(delete(ContentVersion))
        await session.commit()
    assert bodies(await seen_by(client)) == ["before"]
    await client.post("/messages", form={"body": "after"})
    assert bodies(await seen_by(client)) == ["after", "before"]


async def test_a_profile_is_cached_under_its_canonical_name(client, auth) -> None:
    """The Kelvin sign is a "K" (NFKC): its page is Kate's, from the same cache entry;
    a dotless "ı" is another letter, and no member."""
    await auth.signup("kate")
    await client.post("/messages", form={"body": "hello"})
    assert "hello" in await seen_by(client, "/users/kate")
    assert "hello" in await seen_by(client, "/users/\u212aATE")
    assert (await client.get("/users/k\u0131te")).status_code == 404


async def test_a_write_drops_what_was_kept_at_older_versions(app, client, auth) -> None:
    """No dead copy stays: after a write the pages and reads kept are the new
    version's only (a worker's memory stays what one version's pages take)."""
    await auth.signup("alice")
    await client.post("/messages", form={"body": "first"})
    caches = versions._caches(app)

    async def kept_at() -> set[int]:
        assert "first" in await seen_by(client)
        assert "first" in await seen_by(client, "/users/alice")
        return {key[0] for cache in (caches.pages, caches.reads) for key in cache}

    first = await kept_at()
    await client.post("/messages", form={"body": "second"})
    second = await kept_at()
    assert len(first) == len(second) == 1
    assert first != second


async def test_a_version_that_goes_back_empties_the_cache(app, client, auth) -> None:
    """A restored backup, or the row made again, may repeat numbers with other data."""
    await auth.signup("alice")
    await client.post("/messages", form={"body": "kept"})
    async with db.sessionmaker(app)() as session:
        start = await session.scalar(select(ContentVersion.version))

    async def restore(body: str, version: int) -> None:
        async with db.sessionmaker(app)() as session:
            await session.execute(update(Message).values(body=body))
            await session.execute(update(ContentVersion).values(version=version))
            await session.commit()

    assert bodies(await seen_by(client)) == ["kept"]  # cached at `start`
    await restore("restored", start - 1)  # the number went back: forget all
    assert bodies(await seen_by(client)) == ["restored"]
    await restore("written since", start)  # and climbs to `start` again, other data
    assert bodies(await seen_by(client)) == ["written since"]


async def test_a_member_since_date_changed_by_hand_shows(app, client, auth, other) -> None:
    await auth.signup("alice")
    assert "2001" not in await seen_by(other, "/users/alice")
    async with db.sessionmaker(app)() as session:
        await session.execute(update(User).values(created_at=datetime(2001, 2, 3, tzinfo=UTC)))
        await session.commit()
    assert "2001" in await seen_by(other, "/users/alice")


# --- whole pages (page_cache) -------------------------------------------------------------

READER_PATHS = ["/", "/users/alice", "/?before={cursor}"]


async def reader_paths(app: Quart, client, auth) -> list[str]:
    """Alice wrote one page and a bit, so there is a cursor page too."""
    await auth.signup("alice")
    async with db.sessionmaker(app)() as session:
        alice = await session.scalar(select(User.id))
        session.add_all(Message(body=f"m{n}", writer_id=alice) for n in range(21))
        await session.commit()
    cursor = re.search(r'href="/\?before=([^"]+)"', await seen_by(client)).group(1)
    return [path.format(cursor=cursor) for path in READER_PATHS]


async def test_readers_get_no_cookie_and_one_shared_page(app, client, auth) -> None:
    for path in await reader_paths(app, client, auth):
        responses = [await app.test_client().get(path) for _ in range(2)]
        for response in responses:
            assert response.status_code == 200, path
            assert response.headers.get_all("Set-Cookie") == [], path
            assert response.headers["Cache-Control"] == "public, max-age=0, s-maxage=1", path
            assert response.headers.get_all("Vary") == ["Cookie, Accept-Language"], path
        first, second = [await response.get_data() for response in responses]
        assert first == second, path
        assert b'name="csrf_token"' not in first, path
        assert responses[0].headers["ETag"] == responses[1].headers["ETag"], path


async def test_readers_get_no_cookie_in_production(settings_overrides) -> None:
    async with serving({**settings_overrides, **PRODUCTION}) as production:
        await reset_schema(production)
        reader = production.test_client()
        cursor = Cursor(datetime(2026, 1, 1, tzinfo=UTC), 7).encode()
        for path, status in (("/", 200), ("/", 200), (f"/?before={cursor}", 200)):
            response = await reader.get(path)
            assert response.status_code == status, path
            assert response.headers.get_all("Set-Cookie") == [], path
        broken = await reader.get("/?before=MA")  # a broken link: an error page, no cookie
        assert broken.status_code == 400
        assert broken.headers.get_all("Set-Cookie") == []
        assert (await reader.get("/")).headers["Cache-Control"].startswith("public")


async def test_a_reader_revalidates_with_a_304_until_something_changes(client, auth, other):
    await auth.signup("alice")
    await client.post("/messages", form={"body": "first"})
    reader = other  # another worker's reader: the cache there, the write here
    page = await reader.get("/")
    etag = page.headers["ETag"]
    again = await reader.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert await again.get_data() == b""
    assert again.headers.get_all("Set-Cookie") == []
    await client.post("/messages", form={"body": "second"})
    changed = await reader.get("/", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert bodies(await page_text(changed)) == ["second", "first"]


async def test_a_repeat_reader_visit_renders_nothing(app, client, auth, monkeypatch) -> None:
    paths = await reader_paths(app, client, auth)
    rendered: list[str] = []
    from quart import template_rendered

    def record(_sender, template, context, **_extra) -> None:
        rendered.append(template.name)

    template_rendered.connect(record, app)
    statements = Statements(app, monkeypatch)
    for path in paths:
        reader = app.test_client()
        await seen_by(reader, path)
        rendered.clear()
        statements.seen.clear()
        await seen_by(app.test_client(), path)
        assert rendered == [], path
        assert statements.seen == ["SELECT content_version.version,"], path


async def test_members_pages_stay_private(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "mine"})
    reader_page = await seen_by(app.test_client())  # cached for readers first
    response = await client.get("/")
    page = await page_text(response)
    assert "private" in response.headers["Cache-Control"]
    assert "Welcome, alice!" in page and "Welcome" not in reader_page
    assert "/delete" in page and "/delete" not in reader_page
    # A member's page has its own ETag: that page carried the "Posted." flash, so the
    # next one differs (200); the one after that is the same again (304).
    etag = response.headers["ETag"]
    after_flash = await client.get("/", headers={"If-None-Match": etag})
    assert after_flash.status_code == 200
    assert "Posted." in page and "Posted." not in await page_text(after_flash)
    again = await client.get("/", headers={"If-None-Match": after_flash.headers["ETag"]})
    assert again.status_code == 304
    # The reader's copy still has no trace of the member.
    assert "Welcome" not in await seen_by(app.test_client())


@pytest.mark.parametrize("cookie", ["gb_session", "gb_login"])
async def test_any_session_or_login_cookie_is_not_a_reader(app, client, auth, cookie) -> None:
    await seen_by(app.test_client())  # a reader's copy exists
    visitor = app.test_client()
    visitor.set_cookie("localhost", cookie, "stale")
    response = await visitor.get("/")
    assert response.status_code == 200
    assert "private" in response.headers["Cache-Control"]


async def test_the_popup_cookie_gets_its_own_shared_copy(app) -> None:
    plain = await seen_by(app.test_client())
    skipping = app.test_client()
    skipping.set_cookie("localhost", "popup_skip", "yes")
    without_popup = await seen_by(skipping)
    assert 'id="popup"' in plain
    assert 'id="popup"' not in without_popup
    assert 'id="popup"' in await seen_by(app.test_client())


async def test_a_new_countdown_day_is_a_new_page(app, monkeypatch) -> None:
    from guestbook.web import countdown

    target = app.config["SETTINGS"].countdown_date
    monkeypatch.setattr(countdown, "utcnow", lambda: target - timedelta(days=3, hours=1))
    assert "<strong>D-4</strong>" in await seen_by(app.test_client())
    monkeypatch.setattr(countdown, "utcnow", lambda: target - timedelta(hours=23))
    assert "<strong>D-1</strong>" in await seen_by(app.test_client())


async def test_a_missing_member_is_not_kept_for_readers(client, auth) -> None:
    reader = client.app.test_client()
    assert (await reader.get("/users/bob")).status_code == 404
    await auth.signup("bob")
    assert "bob" in await seen_by(client.app.test_client(), "/users/bob")


async def test_a_members_repeat_visit_asks_only_the_version(app, client, auth, monkeypatch) -> None:
    """Who the login cookie belongs to is kept, as the page is: a repeat visit asks the
    database only "which versions?"."""
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    await seen_by(client)  # reads and renders the list; the flash is shown
    statements = Statements(app, monkeypatch)
    page = await seen_by(client)
    assert "Welcome, alice!" in page and bodies(page) == ["hello"]
    assert statements.seen == ["SELECT content_version.version,"], statements.seen
    # A post through another instance is seen at once all the same.
    async with db.sessionmaker(app)() as session:
        alice = await session.scalar(select(User.id))
        session.add(Message(body="from elsewhere", writer_id=alice))
        await session.commit()
    assert bodies(await seen_by(client)) == ["from elsewhere", "hello"]


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "then_shown", "then_logged_in"),
    [
        (delete(LoginSession), "Log in", False),  # logged out on another worker
        (update(LoginSession).values(created_at=LONG_AGO), "Log in", False),  # timed out
        (update(User).values(blocked_at=LONG_AGO), "Log in", False),  # a block that raced
        (delete(User), "Log in", False),  # the account deleted (the CLI), logins with it
        (update(User).values(role="moderator"), "Moderation", True),
        (update(User).values(username="alicia", username_key="alicia"), "alicia", True),
    ],
    ids=["logout", "absolute-timeout", "block", "account-deleted", "promote", "rename"],
)
async def test_a_kept_login_follows_a_change_made_elsewhere_at_once(
    app, client, auth, monkeypatch, change, then_shown: str, then_logged_in: bool
) -> None:
    await auth.signup("alice")
    await seen_by(client)
    statements = Statements(app, monkeypatch)
    assert "Welcome, alice!" in await seen_by(client)
    assert statements.seen == ["SELECT content_version.version,"]  # the login was kept
    async with db.sessionmaker(app)() as session:  # another worker, psql, the CLI
        await session.execute(change)
        await session.commit()
    page = await seen_by(client)
    assert then_shown in page
    assert ("Log out" in page) is then_logged_in


async def test_a_post_keeps_the_login_and_a_touch_keeps_both(app, client, auth, monkeypatch):
    """Logins are kept under a number of their own: a post bumps only the content
    version, so a writer's next request finds their login kept; a login's
    minute-by-minute touch (last_seen_at forward) bumps neither."""
    await auth.signup("alice")
    await seen_by(client)
    statements = Statements(app, monkeypatch)
    assert (await client.post("/messages", form={"body": "hello"})).status_code == 302
    assert not [seen for seen in statements.seen if "login_sessions" in seen]
    versions = select(ContentVersion.version, ContentVersion.logins)
    async with db.sessionmaker(app)() as session:
        before = (await session.execute(versions)).one()
        await session.execute(update(LoginSession).values(last_seen_at=utcnow()))
        await session.commit()
        assert (await session.execute(versions)).one() == before
        await session.execute(update(LoginSession).values(last_seen_at=LONG_AGO))
        await session.commit()
        after = (await session.execute(versions)).one()
        assert after.version == before.version and after.logins > before.logins


async def test_a_members_page_is_kept_whole_but_never_shared(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    first = await seen_by(client)  # shows the "Posted." flash: not kept
    assert "Posted." in first
    rendered: list[str] = []
    from quart import template_rendered

    def record(_sender, template, **_extra) -> None:
        rendered.append(template.name)

    template_rendered.connect(record, app)
    kept = await seen_by(client)  # rendered, and kept
    assert rendered == ["index.html"]
    rendered.clear()
    assert await seen_by(client) == kept  # the same bytes, no template run
    assert rendered == []
    # Bob's page, and alice's second device (another token), are their own.
    bob = app.test_client()
    await AuthActions(bob).signup("bob")
    await seen_by(bob)  # his welcome flash
    bobs = await seen_by(bob)
    assert "Welcome, bob!" in bobs and "alice!" not in bobs
    assert csrf_from(bobs) == await bob.csrf_token() != csrf_from(kept)
    laptop = app.test_client()
    await AuthActions(laptop).login("alice")
    await seen_by(laptop)
    assert csrf_from(await seen_by(laptop)) == await laptop.csrf_token() != csrf_from(kept)
    # A flash is shown once even when the page was kept before it.
    await client.post("/popup/skip", form={"next": "/"})
    await client.post("/messages", form={"body": "again"})
    assert "Posted." in await seen_by(client)
    assert "Posted." not in await seen_by(client)


async def test_the_etag_is_the_hash_of_the_body_sent_however_the_view_gave_it(
    app, monkeypatch
) -> None:
    """A str body is hashed as it is, never read back through `get_data` (an
    asynchronous iteration); a body given in pieces is read whole first."""

    async def pieces():
        yield b"<p>in "
        yield b"pieces</p>"

    app.add_url_rule("/test/str", "test_str", lambda: "<p>whole</p>")
    app.add_url_rule("/test/pieces", "test_pieces", lambda: Response(pieces()))
    reads = []
    get_data = Response.get_data

    async def counted(self, *args, **kwargs):
        reads.append(self.status_code)
        return await get_data(self, *args, **kwargs)

    monkeypatch.setattr(Response, "get_data", counted)
    reader = app.test_client()
    for path, body, read_back in (
        ("/test/str", b"<p>whole</p>", 0),
        ("/test/pieces", b"<p>in pieces</p>", 1),
    ):
        reads.clear()
        response = await reader.get(path)
        assert len(reads) == read_back, path
        assert await response.get_data() == body
        assert response.headers["ETag"] == f'"{conditional.etag(body)}"'
        again = await reader.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304, path
