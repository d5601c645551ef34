"""The message insert as one PostgreSQL statement: the room's next seq, the
message row, its search entries and its ``message.created`` log row.

Every stored message goes through :func:`chat.services.common.create_message`;
on PostgreSQL it calls :func:`insert_message` here, which writes the four in one
round trip (data-modifying CTEs). The statement's text is built once per
process from the models' metadata, sent with server-side parameters (psycopg
prepares it after its fifth use on a connection) and takes no ORM compilation,
no model instance per search entry and no second round trip. Other databases
(SQLite in development and in the portable tests) take the same steps as
separate ORM statements in :mod:`.common`.

The room row's ``UPDATE … RETURNING`` takes the room's lock until the
transaction ends, so seqs stay gap-free and commit-ordered per room; the search
entries and the log row reference the message inserted in the same statement
(their foreign keys are deferred to commit, as Django creates them).
"""

from functools import cache

import psycopg
from django.db import connection

from ..models import ChatMessage, ChatRoom, RoomEvent, SearchToken


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _statement() -> tuple[str, tuple]:
    """The statement's text and the message fields whose values it takes, in order."""
    fields = tuple(f for f in ChatMessage._meta.concrete_fields if f.attname != "seq")
    room, message, token, event = (_quoted(m._meta.db_table) for m in (ChatRoom, ChatMessage, SearchToken, RoomEvent))
    columns = ", ".join(_quoted(f.column) for f in fields)
    values = ", ".join("%s" for _ in fields)
    text = (
        f'WITH r AS (UPDATE {room} SET "seq" = "seq" + 1, "last_message_at" = COALESCE(%s, "last_message_at") '
        f'WHERE "id" = %s RETURNING "seq"), '
        f'm AS (INSERT INTO {message} ({columns}, "seq") SELECT {values}, r."seq" FROM r RETURNING "id", "seq"), '
        f'e AS (INSERT INTO {event} ("id", "created_at", "updated_at", "room_id", "seq", "kind", "payload", "message_id") '
        f"SELECT gen_random_uuid(), %s, %s, %s, m.\"seq\", %s, '{{}}'::jsonb, m.\"id\" FROM m), "
        f't AS (INSERT INTO {token} ("id", "created_at", "updated_at", "message_id", "room_id", "token") '
        f'SELECT gen_random_uuid(), %s, %s, m."id", %s, tok FROM m, unnest(%s::bigint[]) AS tok) '
        f'SELECT "seq" FROM m'
    )
    return text, fields


def insert_message(
    message: ChatMessage, *, tokens: list[int], kind: str, last_message_at=None, logged_at=None
) -> int | None:
    """Write ``message`` (every field set but ``seq``), its ``tokens`` and its
    ``kind`` log row; return its seq, or None when the room does not exist.

    The search entries sort by the message's time (``created_at``); the log row
    and the entries' ``updated_at`` are stamped ``logged_at`` (now): an imported
    message's log row is as new as the import, so retention keeps it."""
    text, fields = _statement()
    room_id = message.room_id
    stamp = message.created_at
    logged = logged_at or stamp
    params = [last_message_at, room_id]
    params += [field.get_db_prep_save(getattr(message, field.attname), connection) for field in fields]
    # The tokens as an array literal: psycopg's list dumper costs more than the rest of the row.
    params += [logged, logged, room_id, kind, stamp, logged, room_id, "{" + ",".join(map(str, tokens)) + "}"]
    connection.ensure_connection()
    # Server-side parameters (Django's own cursors bind on the client): the
    # statement is parsed and planned once per connection, not per message.
    with connection._prepare_cursor(psycopg.Cursor(connection.connection)) as cursor:
        cursor.execute(text, params)
        row = cursor.fetchone()
    return None if row is None else row[0]
