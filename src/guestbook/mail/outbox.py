"""Queueing mail, inside the transaction of its cause: a mail is a row of the `outbox`
table, rendered in its recipient's language and added to the same transaction as the
new member or the reset request. If that rolls back there is no mail; once it commits
the mail outlives a crash or an SMTP outage, and `sender` delivers it.
"""

from __future__ import annotations

from typing import Any

from quart import render_template, url_for
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from guestbook import config, i18n
from guestbook.i18n import N_
from guestbook.mail import sender
from guestbook.models import SUBJECT_MAX, Outbox, User
from guestbook.web.urls import absolute_url


async def queue(
    session: AsyncSession,
    *,
    to: User,
    subject: str,
    template: str,
    unsubscribe_url: str = "",
    **context: Any,
) -> Outbox:
    """Render `mail/<template>.txt` and `.html` now, in the recipient's language, and
    add the mail to `session`'s transaction; the sender is woken as soon as that
    transaction commits. `subject` is the English text, translated here. A mail the
    member may stop has its one-click `unsubscribe_url` (the templates get it too)."""
    with i18n.using(to.locale):
        subject = i18n.gettext(subject, name=to.username)
        context.update(
            subject=subject, mail_locale=i18n.locale(), user=to, unsubscribe_url=unsubscribe_url
        )
        mail = Outbox(
            recipient=to.email,
            subject=subject[:SUBJECT_MAX],
            text_body=await render_template(f"mail/{template}.txt", **context),
            html_body=await render_template(f"mail/{template}.html", **context),
            unsubscribe_url=unsubscribe_url,
        )
    session.add(mail)
    sender.wake_after_commit(session)
    return mail


async def queue_welcome(session: AsyncSession, user: User) -> None:
    await queue(
        session,
        to=user,
        subject=N_("Welcome to the Guestbook, %(name)s!"),
        template="welcome",
        profile_url=absolute_url(url_for("users.profile", username=user.username)),
    )


async def queue_password_reset(session: AsyncSession, user: User, reset_path: str) -> None:
    await queue(
        session,
        to=user,
        subject=N_("Reset your Guestbook password"),
        template="reset",
        reset_url=absolute_url(reset_path),
        minutes=config.current().reset_token_seconds // 60,
    )


async def forget(session: AsyncSession, address: str) -> None:
    """Every mail to `address`, sent or not, in the transaction of an account's deletion:
    a waiting one is never sent, and the log of sent ones keeps no copy of what went to
    them (their name, their replies). A mail being sent right now still goes; its sender
    then finds no row to mark, and marks none."""
    await session.execute(delete(Outbox).where(Outbox.recipient == address))
