"""Edits coalesced: a burst of edits of one message reaches open pages as at most one
event per message per `EVERY` seconds. Only the latest state matters (a page fetches
the message's HTML when told), so the edits in between are dropped, and the last one
is sent when its second is up."""

from __future__ import annotations

EVERY = 1.0  # seconds


class EditCoalescer:
    def __init__(self) -> None:
        self._sent: dict[int, float] = {}  # message id -> when its last edit went out
        # Messages edited again since, waiting for their turn -> a reply's message.
        self._held: dict[int, int | None] = {}

    def passes(self, kind: str, message_id: int, now: float, parent: int | None = None) -> bool:
        """Whether this event goes out now; an edit too soon after the last is held."""
        if kind != "edited":
            self._held.pop(message_id, None)  # deleted (or new): a held edit has nothing to say
            return True
        sent = self._sent.get(message_id)
        if sent is not None and now - sent < EVERY:
            self._held[message_id] = parent
            return False
        self._sent[message_id] = now
        return True

    def due(self, now: float) -> list[tuple[int, int | None]]:
        """The held messages whose turn has come (their edit goes out now), each with
        its parent, and the ones quiet for a while forgotten."""
        ready = [(m, parent) for m, parent in self._held.items() if now - self._sent[m] >= EVERY]
        for message_id, _parent in ready:
            del self._held[message_id]
            self._sent[message_id] = now
        for message_id in [m for m, at in self._sent.items() if now - at >= 2 * EVERY]:
            if message_id not in self._held:
                del self._sent[message_id]
        return ready
