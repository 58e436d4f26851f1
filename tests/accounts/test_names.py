"""Names in any script, safe from look-alikes: the rules of `accounts.names` (UTS #39
through ICU), signup refusing a name that looks like a member's (a race included),
and a Korean name everywhere a name shows: the greeting, the menu, the profile's
address, the feed, the welcome mail, the audit log."""

from __future__ import annotations

import asyncio
import html
import unicodedata
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.accounts import names
from guestbook.forms import FieldError, printable
from guestbook.models import Outbox, User
from support import (
    AuthActions,
    CSRFClient,
    Seed,
    all_rows,
    assert_rows_valid,
    audit_log,
    field_error,
    member,
    page_text,
    signed_in_as,
    write,
)

HONG = "홍길동"
CYRILLIC_A = "\u0430"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "signup_limit": 1000, "base_url": "https://guestbook.example"}


def refusal(name: str) -> str:
    with pytest.raises(FieldError) as refused:
        names.check(name)
    assert refused.value.field == "username"
    return refused.value.message


# --- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        HONG,  # Hangul
        "王小明",  # Han
        "さくら",  # Hiragana
        "カタカナ",  # Katakana
        "дмитрий",  # Cyrillic
        "αλέξης",  # Greek
        "kim민수",  # Latin with Hangul
        "li王",  # Latin with Han
        "yukiさくら",  # Latin with Kana
        "한국漢字",  # Hangul with Han: Korean writing
        "a.b",
        "a_b-c.d",
        "ab",
        "x" * 30,
    ],
)
def test_names_in_any_script_are_accepted(name: str):
    assert names.check(name) == name


def test_the_length_counts_characters_after_nfc():
    composed = HONG * 10  # 30 syllables
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) == 90
    assert names.check(decomposed) == composed
    assert "(this is 31)" in refusal(unicodedata.normalize("NFD", composed + "님"))


@pytest.mark.parametrize(("name", "length"), [("a", 1), ("x" * 31, 31), ("홍", 1)])
def test_too_short_or_too_long_is_refused(name: str, length: int):
    assert refusal(name) == f"Use 2 to 30 characters (this is {length})."


@pytest.mark.parametrize(
    ("name", "says"),
    [
        (f"p{CYRILLIC_A}ul", "one script"),  # Latin with Cyrillic
        ("Δelta", "one script"),  # Greek with Latin
        ("한글かな", "one script"),  # Hangul with Kana: no writing system mixes them
        ("a\u202eb", "direction controls"),  # RIGHT-TO-LEFT OVERRIDE
        ("a\u200fb", "direction controls"),  # RIGHT-TO-LEFT MARK
        ("a\u200db", "invisible"),  # ZERO WIDTH JOINER
        ("a\u200bb", "invisible"),  # ZERO WIDTH SPACE
        ("\u3164\u3164", "invisible"),  # HANGUL FILLER: a letter that shows nothing
        ("홍\u3164길동", "invisible"),
        ("e\u0301\u0301", "invisible"),  # one accent stacked twice
        ("a b", "cannot hold “ ”"),
        ("a😀", "cannot hold “😀”"),
        (".ab", "start or end with a dot"),
        ("ab.", "start or end with a dot"),
        ("..", "start or end with a dot"),
        ("___", "at least one letter or digit"),
        ("-_-", "at least one letter or digit"),
        ("\u0661" + "2", "digits of one script"),  # an Arabic-Indic one and a 2
    ],
)
def test_unsafe_names_are_refused_saying_why(name: str, says: str):
    assert says in refusal(name)


def test_each_refusal_has_its_own_message():
    messages = {
        refusal(name)
        for name in ("", "a\x00b", "a\u202eb", "a\u200db", "a b", "a", ".ab", "___")
        + (f"p{CYRILLIC_A}ul", "\u0661" + "2")
    }
    assert len(messages) == 10


def test_an_ascii_name_is_findable_exactly_as_icu_says():
    """`findable` answers an ASCII name without ICU (loaded on first use): the same
    answer as ICU's set, for every ASCII character."""
    import icu

    allowed = icu.UnicodeSet(r"[[:L:][:M:][:Nd:]_\-.]")
    for code in range(128):
        name = f"a{chr(code)}b"
        expected = printable(name) == name and allowed.containsAll(name)
        assert names.findable(name) == expected, repr(name)


def test_a_skeleton_is_shared_by_names_that_look_alike():
    paul = names.skeleton("paul")
    assert names.skeleton(f"p{CYRILLIC_A}ul") == names.skeleton("PAUL") == paul
    assert names.skeleton("rn") == names.skeleton("m")
    assert names.skeleton("G00GLE") == names.skeleton("google")  # "0" looks like "O"
    assert names.skeleton("ape") == names.skeleton("\u0430\u0440\u0435")  # all Cyrillic
    assert names.skeleton("pall") != paul


# --- signup ------------------------------------------------------------------------------


async def signup(client: CSRFClient, name: str, email: str) -> tuple[int, str]:
    response = await AuthActions(client).signup(name, email=email)
    return response.status_code, await page_text(response)


def name_error(page: str) -> str:
    return html.unescape(field_error(page, "username") or "")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ape", "\u0430\u0440\u0435"),  # Latin, then its Cyrillic look-alike
        ("\u0430\u0440\u0435", "ape"),
        ("jim", "jirn"),  # "rn" looks like "m"
        ("jirn", "jim"),
        ("google", "G00GLE"),
        ("ilya", "\u0131lya"),  # a dotless i: another letter, and a look-alike
    ],
)
async def test_a_name_that_looks_like_a_members_is_refused(app: Quart, first: str, second: str):
    assert (await signup(app.test_client(), first, "first@example.com"))[0] == 302
    status, page = await signup(app.test_client(), second, "second@example.com")
    assert status == 400
    assert name_error(page) == f"That username looks too much like {first}'s."
    assert len((await all_rows(app))["users"]) == 1


async def test_a_latin_name_with_a_cyrillic_letter_is_refused_beside_its_model(app: Quart):
    """Its first fault, the mix of scripts, is said before any member is looked up."""
    assert (await signup(app.test_client(), "paul", "paul@example.com"))[0] == 302
    status, page = await signup(app.test_client(), f"p{CYRILLIC_A}ul", "p2@example.com")
    assert status == 400 and "one script" in name_error(page)


async def test_a_name_from_before_the_rules_is_still_found(app: Quart, seed: Seed):
    await seed.member("___", "an old hello")  # allowed then, refused now
    for path in ("/users/___", "/users/___/feed.atom"):
        response = await app.test_client().get(path)
        assert response.status_code == 200, path
        assert "an old hello" in await page_text(response), path


async def test_look_alikes_signing_up_at_once_leave_one_account(app: Quart):
    """Five names one skeleton apart, at once: whatever order the checks and inserts
    interleave in, the unique index lets one in and the others get the form back."""
    racers = ["mom", "rnom", "morn", "rnorn", "m0m"]
    results = await asyncio.gather(
        *(signup(app.test_client(), name, f"racer{n}@example.com") for n, name in enumerate(racers))
    )
    statuses = [status for status, _ in results]
    assert sorted(statuses) == [302, 400, 400, 400, 400], statuses
    [winner] = [name for name, (status, _) in zip(racers, results, strict=True) if status == 302]
    for status, page in results:
        if status == 400:
            assert "looks too much like" in name_error(page)
    rows = await all_rows(app)
    assert [user["username"] for user in rows["users"]] == [winner]
    assert len(rows["outbox"]) == 1  # one welcome mail
    assert_rows_valid(rows)


# --- a Korean name everywhere a name shows -----------------------------------------------


async def test_a_korean_member_signs_up_and_is_greeted_in_korean(app: Quart, client: CSRFClient):
    client.set_cookie("localhost", "lang", "ko")
    assert (await signup(client, HONG, "hong@example.com"))[0] == 302
    page = await page_text(await client.get("/"))
    assert f"{HONG}님 환영합니다!" in page
    assert await signed_in_as(client) == HONG
    async with db.sessionmaker(app)() as session:
        [mail] = (await session.scalars(select(Outbox))).all()
    assert HONG in mail.subject and HONG in mail.text_body  # in Korean, their language
    assert f"https://guestbook.example/users/{quote(HONG)}" in mail.text_body


async def test_a_korean_members_profile_and_feed_are_at_their_percent_encoded_name(
    app: Quart,
):
    hong = app.test_client()
    assert (await signup(hong, HONG, "hong@example.com"))[0] == 302
    await write(hong, "안녕하세요")
    profile = await app.test_client().get(f"/users/{quote(HONG)}")
    assert profile.status_code == 200
    assert "안녕하세요" in await page_text(profile)
    response = await app.test_client().get(f"/users/{quote(HONG)}/feed.atom")
    assert response.status_code == 200
    feed = feedparser.parse(await response.get_data())
    assert feed.feed.title == f"{HONG} in the Guestbook"
    assert feed.feed.link == f"https://guestbook.example/users/{quote(HONG)}"
    assert [entry.author for entry in feed.entries] == [HONG]


async def test_a_name_with_a_dot_has_a_profile_and_a_feed(app: Quart):
    dotted = await member(app, "a.b")
    await write(dotted, "dotted hello")
    for path in ("/users/a.b", "/users/A.B", "/users/a.b/feed.atom"):
        response = await app.test_client().get(path)
        assert response.status_code == 200, path
        assert "dotted hello" in await page_text(response), path


async def test_blocking_a_korean_member_logs_their_name(app: Quart):
    moderator = await member(app, "mod", moderator=True)
    assert (await signup(app.test_client(), HONG, "hong@example.com"))[0] == 302
    response = await moderator.post(f"/users/{quote(HONG)}/block", form={})
    assert response.status_code == 302
    assert [(entry.action, entry.target) for entry in await audit_log(app)] == [
        ("block", f"member {HONG}")
    ]
    async with db.sessionmaker(app)() as session:
        hong = await session.scalar(select(User).where(User.username == HONG))
    assert hong.blocked_at is not None
