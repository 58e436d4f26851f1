"""No request keeps the database connection while the rate limiter's store answers.

SQLite has one connection per process: a request that waited on Redis (or on its
half-second timeout when Redis is gone) while holding it would stall every other
request. Each POST route is sent once, well formed, with `ratelimit.hit` watched.
"""

from __future__ import annotations

import pytest
from quart import g

from guestbook import db
from guestbook.limits import ratelimit
from support import POST_RULES, Scene


@pytest.mark.parametrize("rule", POST_RULES)
async def test_no_transaction_is_open_while_a_limit_is_taken(
    scene: Scene, rule: str, monkeypatch: pytest.MonkeyPatch
):
    path, form = await scene.request_for(rule)
    held: list[tuple[str, bool]] = []
    hit = ratelimit.hit

    async def watched(limit: ratelimit.Limit, subject: str) -> None:
        session = db.request_session() if g else None
        held.append((limit.name, session is not None and session.in_transaction()))
        await hit(limit, subject)

    monkeypatch.setattr(ratelimit, "hit", watched)
    response = await scene.laptop.post(path, form=form)
    assert response.status_code in (200, 302, 303), path
    assert not [name for name, in_transaction in held if in_transaction], (path, held)
