"""One message's fragment, as every open page asks for it after each event: a reader's
is kept whole and public like a reader's page (one copy for every reader, never an old
one), a member's stays their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from quart import Quart, template_rendered

from support import Statements, bodies, member, page_text, write

PUBLIC = "public, max-age=0, s-maxage=1"


def fragment_url(message_id: int, seq: int = 1) -> str:
    return f"/messages/{message_id}/fragment?next=/&seq={seq}"


@pytest.fixture
def rendered(app: Quart) -> Iterator[list[str]]:
    """The templates rendered while the test runs."""
    names: list[str] = []

    def record(_sender: object, template: object, context: object, **_extra: object) -> None:
        names.append(template.name)  # type: ignore[attr-defined]

    with template_rendered.connected_to(record, app):
        yield names


async def test_a_readers_fragment_is_kept_whole_and_public(app, rendered, monkeypatch) -> None:
    ident = await write(await member(app, "alice"), "for every reader")
    statements = Statements(app, monkeypatch)
    first = await app.test_client().get(fragment_url(ident))
    rendered.clear()
    statements.seen.clear()
    second = await app.test_client().get(fragment_url(ident))
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == PUBLIC
        assert response.headers.get_all("Set-Cookie") == []
    assert await first.get_data() == await second.get_data()
    assert first.headers["ETag"] == second.headers["ETag"]
    assert bodies(await page_text(second)) == ["for every reader"]
    # The second reader's cost: the version question, no query, no render.
    assert rendered == []
    assert statements.seen == ["SELECT content_version.version,"]


async def test_an_edit_and_a_hide_reach_the_kept_fragment_at_once(app) -> None:
    alice = await member(app, "alice")
    moderator = await member(app, "mod", moderator=True)
    ident = await write(alice, "before")
    reader = app.test_client()
    assert bodies(await page_text(await reader.get(fragment_url(ident)))) == ["before"]
    edited = await alice.post(f"/messages/{ident}/edit", form={"body": "after"})
    assert edited.status_code == 302
    # The same URL (a kept copy's key) answers with the edit: the copy is per version.
    assert bodies(await page_text(await reader.get(fragment_url(ident)))) == ["after"]
    hidden = await moderator.post(f"/messages/{ident}/hide", form={"next": "/"})
    assert hidden.status_code == 302
    for url in (fragment_url(ident), fragment_url(ident) + "&profile=alice"):
        gone = await reader.get(url)
        assert gone.status_code == 404, url
        assert gone.headers["Cache-Control"] == "private, no-cache", url
    # Only its writer sees it on their own profile, marked, in an answer of their own.
    own = await alice.get(fragment_url(ident) + "&profile=alice")
    assert own.status_code == 200
    assert "hidden-mark" in await page_text(own)
    assert own.headers["Cache-Control"] == "private, no-cache"


async def test_a_fragment_asked_without_its_event_is_neither_kept_nor_public(app, rendered) -> None:
    """A page still running the script from before (no `seq`) asks one URL for every
    event of a message: a shared copy of it could answer an edit with the old text."""
    ident = await write(await member(app, "alice"), "asked the old way")
    reader = app.test_client()
    rendered.clear()
    for _ in range(2):
        response = await reader.get(f"/messages/{ident}/fragment?next=/")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "private, no-cache"
    assert rendered == ["messages/fragment.html"] * 2


async def test_a_members_fragment_is_their_own_private_and_not_kept(app, rendered) -> None:
    ident = await write(await member(app, "alice"), "liked by some")
    bob, carol = await member(app, "bob"), await member(app, "carol")
    rendered.clear()
    pages = []
    for viewer in (bob, bob, carol):
        response = await viewer.get(fragment_url(ident))
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "private, no-cache"
        pages.append(await page_text(response))
    assert f'value="{await bob.csrf_token()}"' in pages[0]
    assert f'value="{await carol.csrf_token()}"' in pages[2]
    # Each asks for a message once per event: their copy is never kept.
    assert rendered == ["messages/fragment.html"] * 3
