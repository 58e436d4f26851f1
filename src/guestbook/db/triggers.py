"""The SQL the tables' behaviour lives in: triggers that count content versions (and
the logins version, API tokens included), fill the live event log and keep the audit
log append-only.

`create_all` (the tests) runs them after making the tables; each migration keeps its
own copy of what it ran, so a later change here never rewrites history.
"""

from __future__ import annotations

import secrets

from sqlalchemy import MetaData, TextClause, event, text

from guestbook.models import Base

# The logins version goes up when a login ends, when it changes in any way but its touch
# moving forward, and when an account changes.
_LOGIN_CHANGED = (
    "NEW.last_seen_at < OLD.last_seen_at OR NEW.created_at <> OLD.created_at "
    "OR NEW.user_id <> OLD.user_id OR NEW.token_hash <> OLD.token_hash"
)
_ACCOUNT = "username, email, password_hash, role, locale, blocked_at"
# (trigger name, table, event, condition) of the SQLite triggers: row triggers. A
# new member bumps it too: SQLite's INSERT OR REPLACE deletes the row it replaces
# without firing DELETE triggers.
_SQLITE_TRIGGERS = (
    ("bump_content_version_on_message_insert", "messages", "INSERT", ""),
    ("bump_content_version_on_message_update", "messages", "UPDATE", ""),
    ("bump_content_version_on_message_delete", "messages", "DELETE", ""),
    ("bump_content_version_on_user_insert", "users", "INSERT", ""),
    ("bump_content_version_on_user_update", "users", "UPDATE OF username, created_at", ""),
    ("bump_content_version_on_user_delete", "users", "DELETE", ""),
)
# (trigger name, table, event, condition) of the SQLite triggers on the logins version
_SQLITE_LOGIN_TRIGGERS = (
    ("bump_logins_version_on_login_delete", "login_sessions", "DELETE", ""),
    ("bump_logins_version_on_login_update", "login_sessions", "UPDATE", _LOGIN_CHANGED),
    ("bump_logins_version_on_account_update", "users", f"UPDATE OF {_ACCOUNT}", ""),
)


def content_version_ddl(dialect: str) -> list[TextClause]:
    """The statements that make `content_version` count: its one row and the triggers.
    Run by `create_all` (tests); migrations 0003 and 0008 hold their own copies.

    The row starts at a random number, not 0: a worker that cached pages under the
    numbers of an earlier row (before a downgrade and upgrade, say) must not meet
    them again."""
    row = text(
        "INSERT INTO content_version (id, version, logins) VALUES (1, :start, :logins) "
        "ON CONFLICT DO NOTHING"
    ).bindparams(start=secrets.randbelow(2**52), logins=secrets.randbelow(2**52))
    bump = "UPDATE content_version SET version = version + 1"
    bump_logins = "UPDATE content_version SET logins = logins + 1"
    if dialect == "sqlite":
        triggers = [
            f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event_} ON {table} "
            f"{f'WHEN {condition} ' if condition else ''}BEGIN {update}; END"
            for group, update in ((_SQLITE_TRIGGERS, bump), (_SQLITE_LOGIN_TRIGGERS, bump_logins))
            for name, table, event_, condition in group
        ]
    elif dialect == "postgresql":
        # Statement triggers: one bump per statement, however many rows (or a TRUNCATE);
        # but a login's update, which must look at each row to tell a touch from a change.
        # CREATE OR REPLACE TRIGGER needs PostgreSQL 14 or later.
        call = "EXECUTE FUNCTION bump_content_version()"
        call_logins = "EXECUTE FUNCTION bump_logins_version()"
        triggers = [
            "CREATE OR REPLACE FUNCTION bump_content_version() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {bump}; RETURN NULL; END $$",
            "CREATE OR REPLACE FUNCTION bump_logins_version() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {bump_logins}; RETURN NULL; END $$",
            "CREATE OR REPLACE TRIGGER bump_content_version AFTER INSERT OR UPDATE OR DELETE "
            f"OR TRUNCATE ON messages FOR EACH STATEMENT {call}",
            "CREATE OR REPLACE TRIGGER bump_content_version AFTER INSERT "
            "OR UPDATE OF username, created_at OR DELETE OR TRUNCATE ON users "
            f"FOR EACH STATEMENT {call}",
            "CREATE OR REPLACE TRIGGER bump_logins_version_on_login_delete AFTER DELETE "
            f"OR TRUNCATE ON login_sessions FOR EACH STATEMENT {call_logins}",
            "CREATE OR REPLACE TRIGGER bump_logins_version_on_login_update AFTER UPDATE "
            f"ON login_sessions FOR EACH ROW WHEN ({_LOGIN_CHANGED}) {call_logins}",
            "CREATE OR REPLACE TRIGGER bump_logins_version_on_account_update AFTER UPDATE "
            f"OF {_ACCOUNT} ON users FOR EACH STATEMENT {call_logins}",
        ]
    else:
        raise NotImplementedError(f"no content_version triggers for {dialect}")
    return [row, *map(text, triggers)]


# An API token changed in any way but its touch (its last use moving on); a deletion too.
_TOKEN_ROW_CHANGED = " OR ".join(
    f"NEW.{column} <> OLD.{column}" for column in ("token_hash", "user_id", "scope")
)


_SQLITE_TOKEN_TRIGGERS = (
    "bump_logins_version_on_token_delete",
    "bump_logins_version_on_token_update",
)


def api_tokens_ddl(dialect: str) -> list[str]:
    """A revoked (deleted) or changed API token bumps the logins version, as an ended
    login does: each worker keeps the tokens it found under that number. Needs
    `content_version_ddl` first (PostgreSQL's bump function); migration 0012 holds its
    own copy."""
    bump = "UPDATE content_version SET logins = logins + 1"
    if dialect == "sqlite":
        return [
            "CREATE TRIGGER IF NOT EXISTS bump_logins_version_on_token_delete "
            f"AFTER DELETE ON api_tokens BEGIN {bump}; END",
            "CREATE TRIGGER IF NOT EXISTS bump_logins_version_on_token_update "
            f"AFTER UPDATE ON api_tokens WHEN {_TOKEN_ROW_CHANGED} BEGIN {bump}; END",
        ]
    if dialect == "postgresql":
        call = "EXECUTE FUNCTION bump_logins_version()"
        return [
            "CREATE OR REPLACE TRIGGER bump_logins_version_on_token_delete AFTER DELETE "
            f"OR TRUNCATE ON api_tokens FOR EACH STATEMENT {call}",
            "CREATE OR REPLACE TRIGGER bump_logins_version_on_token_update AFTER UPDATE "
            f"ON api_tokens FOR EACH ROW WHEN ({_TOKEN_ROW_CHANGED}) {call}",
        ]
    raise NotImplementedError(f"no api_tokens triggers for {dialect}")


def drop_content_version_ddl(dialect: str) -> list[str]:
    """Every trigger that bumps `content_version`'s numbers (`content_version_ddl`'s,
    and moderation's on a block), for the benchmark's baselines, which have no cache."""
    if dialect == "postgresql":
        return [  # and their triggers
            f"DROP FUNCTION IF EXISTS {name}() CASCADE"
            for name in ("bump_content_version", "bump_logins_version")
        ]
    names = [name for name, *_ in (*_SQLITE_TRIGGERS, *_SQLITE_LOGIN_TRIGGERS)]
    more = ["bump_content_version_on_user_block", *_SQLITE_TOKEN_TRIGGERS]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in [*names, *more]]


# A deleted member's name in the audit log: "(deleted 3f9a0c1d2b7e)", one random tag per
# member. No member's name can take this form (names hold no spaces or brackets).
PSEUDONYM_HEX = 12


def _is_pseudonym(dialect: str, before: str = "") -> str:
    """The SQL test of a pseudonym (after `before`), to follow the value tested."""
    if dialect == "sqlite":
        return f"GLOB '{before}(deleted " + "[0-9a-f]" * PSEUDONYM_HEX + ")'"
    return f"~ '^{before}[(]deleted [0-9a-f]{{{PSEUDONYM_HEX}}}[)]$'"


def audit_pseudonymizing(dialect: str) -> str:
    """The one UPDATE of an audit entry the database lets through: a member who is gone
    (no row in `users`) loses their id from it, and their name becomes a pseudonym: as
    the actor, and as the target of an entry about a member ("member (deleted …)"; an
    entry about a message keeps its text). Every other column stays as it was, and an
    entry already pseudonymized (no id left) never changes again. A NULL anywhere in
    it refuses (PostgreSQL's IF, SQLite's `IS NOT 1`)."""
    same = "IS" if dialect == "sqlite" else "IS NOT DISTINCT FROM"
    like, member = _is_pseudonym(dialect), _is_pseudonym(dialect, before="member ")
    gone = "NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.{})"
    return (
        "NEW.id = OLD.id AND NEW.created_at = OLD.created_at AND NEW.action = OLD.action "
        f"AND NEW.message_id {same} OLD.message_id AND NEW.reason = OLD.reason "
        f"AND ((NEW.actor_id {same} OLD.actor_id AND NEW.actor = OLD.actor) "
        f"OR (OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL AND NEW.actor {like} "
        f"AND {gone.format('actor_id')})) "
        f"AND ((NEW.user_id {same} OLD.user_id AND NEW.target = OLD.target) "
        f"OR (OLD.user_id IS NOT NULL AND NEW.user_id IS NULL AND {gone.format('user_id')} "
        f"AND ((OLD.message_id IS NULL AND NEW.target {member}) "
        "OR (OLD.message_id IS NOT NULL AND NEW.target = OLD.target))))"
    )


def moderation_ddl(dialect: str) -> list[str]:
    """Moderation's triggers: blocking or unblocking a member bumps the content version
    (a profile shows it), and the audit log refuses UPDATE and DELETE, whoever asks,
    but for a deleted member's pseudonym (`audit_pseudonymizing`). Needs
    `content_version_ddl` first (PostgreSQL's bump function); migrations 0006 and 0013
    hold their own copies."""
    refuse = "the audit log is append-only"
    allowed = audit_pseudonymizing(dialect)
    if dialect == "sqlite":
        return [
            "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_user_block "
            "AFTER UPDATE OF blocked_at ON users "
            "BEGIN UPDATE content_version SET version = version + 1; END",
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
            f"WHEN ({allowed}) IS NOT 1 BEGIN SELECT RAISE(ABORT, '{refuse}'); END",
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{refuse}'); END",
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE TRIGGER bump_content_version_on_block AFTER UPDATE OF blocked_at "
            "ON users FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()",
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'UPDATE' THEN "
            f"IF {allowed} THEN RETURN NEW; END IF; END IF; "
            f"RAISE EXCEPTION '{refuse}'; END $$",
            "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE "
            "ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE "
            "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
        ]
    raise NotImplementedError(f"no moderation triggers for {dialect}")


@event.listens_for(Base.metadata, "after_create")
def _count_content_versions(_metadata: MetaData, connection, **_kw: object) -> None:  # noqa: ANN001
    dialect = connection.dialect.name
    more = [
        *moderation_ddl(dialect),
        *live_events_ddl(dialect),
        *conversation_ddl(dialect),
        *api_tokens_ddl(dialect),
    ]
    for statement in [*content_version_ddl(dialect), *map(text, more)]:
        connection.execute(statement)


LIVE_CHANNEL = "guestbook_live"  # PostgreSQL NOTIFY channel; the payload is the seq
LIVE_LOCK = 444351214452  # advisory lock key writers of live_events take turns on
_NEXT_SEQ = "SELECT coalesce(max(seq), 0) + 1"
# (trigger, event, kind, row) of the SQLite triggers
# A message hidden is "deleted" to the watchers (most of them can no longer see it, and
# none may learn it was moderated rather than deleted); shown again, it is "edited":
# the page puts it back in its place.
HIDING = "OLD.hidden_at IS NULL AND NEW.hidden_at IS NOT NULL"
_SQLITE_LIVE_TRIGGERS = (
    ("live_event_on_message_insert", "INSERT", "created", "NEW", ""),
    ("live_event_on_message_update", "UPDATE", "edited", "NEW", f"WHEN NOT ({HIDING}) "),
    ("live_event_on_message_hide", "UPDATE", "deleted", "NEW", f"WHEN {HIDING} "),
    ("live_event_on_message_delete", "DELETE", "deleted", "OLD", ""),
)


def live_events_ddl(dialect: str) -> list[str]:
    """The triggers that fill `live_events`, for `create_all`; migrations 0007, 0009
    and 0011 hold their own copies."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {when} ON messages {condition}BEGIN "
            f"INSERT INTO live_events (seq, kind, message_id, parent_id, at) {_NEXT_SEQ}, "
            f"'{kind}', {row}.id, {row}.parent_id, strftime('%Y-%m-%d %H:%M:%f', 'now') "
            "FROM live_events; END"
            for name, when, kind, row, condition in _SQLITE_LIVE_TRIGGERS
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION log_live_event() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE event_seq bigint; event_kind text; event_message integer; "
            "event_parent integer; BEGIN "
            f"PERFORM pg_advisory_xact_lock({LIVE_LOCK}); "
            "IF TG_OP = 'INSERT' THEN event_kind := 'created'; "
            "event_message := NEW.id; event_parent := NEW.parent_id; "
            f"ELSIF TG_OP = 'UPDATE' AND {HIDING} THEN event_kind := 'deleted'; "
            "event_message := NEW.id; event_parent := NEW.parent_id; "
            "ELSIF TG_OP = 'UPDATE' THEN event_kind := 'edited'; "
            "event_message := NEW.id; event_parent := NEW.parent_id; "
            "ELSE event_kind := 'deleted'; event_message := OLD.id; "
            "event_parent := OLD.parent_id; END IF; "
            "INSERT INTO live_events (seq, kind, message_id, parent_id, at) "
            f"{_NEXT_SEQ}, event_kind, event_message, event_parent, now() FROM live_events "
            "RETURNING seq INTO event_seq; "
            f"PERFORM pg_notify('{LIVE_CHANNEL}', event_seq::text); RETURN NULL; END $$",
            "CREATE OR REPLACE TRIGGER log_live_event AFTER INSERT OR UPDATE OR DELETE "
            "ON messages FOR EACH ROW EXECUTE FUNCTION log_live_event()",
        ]
    raise NotImplementedError(f"no live_events triggers for {dialect}")


# A reply counts while it is visible: written, deleted, hidden or shown again.
_REPLY_SHOWN_OR_HIDDEN = "(OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL)"
_COUNT = {
    "reply+": "UPDATE messages SET reply_count = reply_count + 1 WHERE id = NEW.parent_id",
    "reply-": "UPDATE messages SET reply_count = reply_count - 1 WHERE id = OLD.parent_id",
    "reply+-": "UPDATE messages SET reply_count = reply_count "
    "+ CASE WHEN NEW.hidden_at IS NULL THEN 1 ELSE -1 END WHERE id = NEW.parent_id",
    "like+": "UPDATE messages SET like_count = like_count + 1 WHERE id = NEW.message_id",
    "like-": "UPDATE messages SET like_count = like_count - 1 WHERE id = OLD.message_id",
}
# (trigger, table, event, condition, count) of the SQLite triggers
_SQLITE_COUNTERS = (
    ("count_reply_on_insert", "messages", "INSERT",
     "NEW.parent_id IS NOT NULL AND NEW.hidden_at IS NULL", _COUNT["reply+"]),
    ("count_reply_on_delete", "messages", "DELETE",
     "OLD.parent_id IS NOT NULL AND OLD.hidden_at IS NULL", _COUNT["reply-"]),
    ("count_reply_on_hide", "messages", "UPDATE OF hidden_at",
     f"NEW.parent_id IS NOT NULL AND {_REPLY_SHOWN_OR_HIDDEN}", _COUNT["reply+-"]),
    ("count_like_on_insert", "likes", "INSERT", "", _COUNT["like+"]),
    ("count_like_on_delete", "likes", "DELETE", "", _COUNT["like-"]),
)  # fmt: skip


def conversation_ddl(dialect: str) -> list[str]:
    """The triggers that keep `messages.reply_count` and `like_count`, for `create_all`;
    migration 0011 holds its own copy. The count is an update of the message, so the
    message's live event ("edited") and the content version follow from it.

    On PostgreSQL each takes the live log's advisory lock before the message's row, as
    every writer of several messages does (a block hides many): the same order
    everywhere, so two such transactions never wait on each other in a circle."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {when} ON {table} "
            f"{f'WHEN {condition} ' if condition else ''}BEGIN {count}; END"
            for name, table, when, condition, count in _SQLITE_COUNTERS
        ]
    if dialect == "postgresql":
        lock = f"PERFORM pg_advisory_xact_lock({LIVE_LOCK}); "
        return [
            "CREATE OR REPLACE FUNCTION count_replies() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF TG_OP = 'INSERT' THEN "
            f"IF NEW.parent_id IS NOT NULL AND NEW.hidden_at IS NULL THEN {lock}"
            f"{_COUNT['reply+']}; END IF; ELSIF TG_OP = 'DELETE' THEN "
            f"IF OLD.parent_id IS NOT NULL AND OLD.hidden_at IS NULL THEN {lock}"
            f"{_COUNT['reply-']}; END IF; "
            f"ELSIF NEW.parent_id IS NOT NULL AND {_REPLY_SHOWN_OR_HIDDEN} THEN {lock}"
            f"{_COUNT['reply+-']}; END IF; RETURN NULL; END $$",
            "CREATE OR REPLACE TRIGGER count_replies AFTER INSERT OR DELETE "
            "OR UPDATE OF hidden_at ON messages FOR EACH ROW EXECUTE FUNCTION count_replies()",
            "CREATE OR REPLACE FUNCTION count_likes() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {lock}IF TG_OP = 'INSERT' THEN {_COUNT['like+']}; "
            f"ELSE {_COUNT['like-']}; END IF; RETURN NULL; END $$",
            "CREATE OR REPLACE TRIGGER count_likes AFTER INSERT OR DELETE ON likes "
            "FOR EACH ROW EXECUTE FUNCTION count_likes()",
        ]
    raise NotImplementedError(f"no conversation triggers for {dialect}")
