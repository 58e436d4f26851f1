"""A deleted account's name, held back: for `GUESTBOOK_NAME_QUARANTINE_DAYS` after its
release no one signs up as it, or as a name that looks like it (its canonical key or
its skeleton, `names`), so no newcomer passes for a member who has just left. Then it
is free, to anyone; 0 days frees it at once.

Only the name is held. The email address is free at once: it was never shown to
anyone, so no one can pass for its owner by it, and the person who left may come back
with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quart import g
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from guestbook import config
from guestbook.i18n import gettext
from guestbook.models import ReleasedName, User, canonical, skeleton, utcnow
from guestbook.web.filters import readable


async def release(session: AsyncSession, user: User) -> None:
    """Hold `user`'s name from now, in the transaction that deletes them; names whose
    time is up go (nothing is kept longer than it is needed)."""
    window, now = config.current().name_quarantine, utcnow()
    await session.execute(delete(ReleasedName).where(ReleasedName.released_at <= now - window))
    if window:
        session.add(
            ReleasedName(
                username_key=user.username_key,
                username_skeleton=user.username_skeleton,
                released_at=now,
            )
        )


@dataclass(frozen=True)
class Held:
    """A name that is not free yet: when it will be, and whether it only looks like the
    released one."""

    free_at: datetime
    alike: bool

    def message(self) -> str:
        when = readable(self.free_at)
        if self.alike:
            return gettext(
                "This name looks too much like the name of an account deleted recently. "
                "It is free again on %(date)s.",
                date=when,
            )
        return gettext(
            "This name was used by an account deleted recently. It is free again on %(date)s.",
            date=when,
        )


async def held(name: str) -> Held | None:
    """Whether `name` (as a form gave it) is held back, and until when: free from the
    very moment its window ends."""
    window = config.current().name_quarantine
    if not window:
        return None
    key = canonical(name)
    same = or_(ReleasedName.username_key == key, ReleasedName.username_skeleton == skeleton(name))
    found = (
        await g.db.execute(
            select(ReleasedName.username_key, ReleasedName.released_at)
            .where(same, ReleasedName.released_at > utcnow() - window)
            .order_by(ReleasedName.released_at.desc())
        )
    ).all()
    if not found:
        return None
    return Held(found[0].released_at + window, alike=all(row.username_key != key for row in found))
