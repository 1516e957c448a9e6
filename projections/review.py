"""Third-party letters waiting for staff (R19): letters that carried a ticket's ID but
came from someone who is not a contact of the ticket. Kept on the ticket, they change
nothing until staff accept one (or add its sender as a contact).

One row per letter; accepted letters stay, flagged, so the list can show what was
decided and by whom.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.store import Cursor, ReadStore
from projections.tickets import TicketEvent

TABLE = "rm_third_party"
EXCERPT = 300
_INSERT = (
    f"INSERT INTO {TABLE} (ticket_uuid, message_id, channel, intake_key, sender, excerpt, "  # noqa: S608
    "attachments, received_at, accepted_at, accepted_by, position) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?) "
    "ON CONFLICT (ticket_uuid, message_id) DO NOTHING"
)
_ACCEPT = (f"UPDATE {TABLE} SET accepted_at = ?, accepted_by = ? "  # noqa: S608
           "WHERE ticket_uuid = ? AND message_id = ?")


class ThirdPartyReviewProjection:
    name = "third_party_review"
    tables: tuple[str, ...] = (TABLE,)
    schema: tuple[str, ...] = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            ticket_uuid TEXT NOT NULL,
            message_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            intake_key TEXT NOT NULL,
            sender TEXT NOT NULL,
            excerpt TEXT NOT NULL,
            attachments INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            accepted_at TEXT,
            accepted_by TEXT,
            position BIGINT NOT NULL,
            PRIMARY KEY (ticket_uuid, message_id))""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_pending ON {TABLE} (accepted_at, position)",
    )

    def apply(self, cursor: Cursor, events: Sequence[TicketEvent]) -> None:
        kept, accepted = [], []
        for event in events:
            fields = event.fields
            if event.name == "ThirdPartyMessageReceived":
                kept.append((event.ticket_uuid, fields["message_id"], fields["channel"],
                             fields["intake_key"], fields["sender"], fields["text"][:EXCERPT],
                             len(fields["attachments"]), event.at, event.position))
            elif event.name == "ThirdPartyMessageAccepted":
                accepted.append((event.at, (fields.get("actor") or {}).get("id"),
                                 event.ticket_uuid, fields["message_id"]))
        # Within one batch a letter is always kept before it is accepted.
        if kept:
            cursor.executemany(_INSERT, kept)
        if accepted:
            cursor.executemany(_ACCEPT, accepted)


class ThirdPartyReviewView:
    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def page(self, *, pending: bool, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        # The ticket ID comes from the queue's row of the same ticket (same store and batch).
        where = "r.accepted_at IS NULL" if pending else "r.accepted_at IS NOT NULL"
        total = self.store.query(f"SELECT COUNT(*) AS n FROM {TABLE} r WHERE {where}")  # noqa: S608
        rows = self.store.query(
            f"SELECT r.*, q.ticket_id AS ticket_id, q.status AS status FROM {TABLE} r "  # noqa: S608
            f"LEFT JOIN rm_queue q ON q.ticket_uuid = r.ticket_uuid WHERE {where} "
            "ORDER BY r.position LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_item(row) for row in rows], int(total[0]["n"])


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ticket_id": row["ticket_id"],
        "ticket_status": row["status"],
        "message_id": row["message_id"],
        "channel": row["channel"],
        "intake_key": row["intake_key"],
        "sender": row["sender"],
        "excerpt": row["excerpt"],
        "attachments": row["attachments"],
        "received_at": row["received_at"],
        "accepted_at": row["accepted_at"],
        "accepted_by": row["accepted_by"],
    }
