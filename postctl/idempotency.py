"""Idempotency-Key: a POST retried with the same key returns the first answer, creating nothing.

A key belongs to one token and lives TTL. The first request claims it in a
transaction of its own (the claim commits, so a retry can see it is running),
then writes the post and its answer together in a second one: a post exists
if and only if its answer is stored. A claim left without an answer (its
worker was killed) is taken over after ABANDONED_AFTER, longer than uWSGI
lets a request run; no post was written for it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy import exc as sa_exc

from postctl import postgres
from postctl.admin_schema import KEY_MAX, idempotency_key
from postctl.db import mysql_code
from postctl.errors import PostctlError

TTL = timedelta(hours=24)
ABANDONED_AFTER = timedelta(seconds=60)  # uWSGI's harakiri is 30 s
PURGE_EVERY = 300.0  # seconds between deletions of expired keys, per process
_MYSQL_LOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock
_POSTGRES_LOCK_ERRORS = (postgres.LOCK_NOT_AVAILABLE, postgres.DEADLOCK_DETECTED)
_last_purge = 0.0


class KeyInUse(PostctlError):
    """The first request with this key is still running."""


class KeyReused(PostctlError):
    """The key was used with another request body."""


@dataclass(frozen=True)
class Answer:
    """The first request's answer, to give again."""

    status: int
    location: str | None
    body: str


def valid_key(key: str) -> bool:
    """Tell whether an Idempotency-Key header value is 1 to KEY_MAX visible ASCII characters."""
    return 0 < len(key) <= KEY_MAX and key.isascii() and key.isprintable() and " " not in key


def fingerprint(value: Any) -> str:
    """Digest a parsed JSON body so that key order and spacing do not matter."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def claim(
    conn: Connection, token_id: int, key: str, request_digest: str, now: datetime
) -> Answer | None:
    """Claim the key for a request; return None to go on, or the first request's answer.

    Raise KeyReused when the key came with another body, KeyInUse while the
    first request with it runs.
    """
    _purge(conn, now)
    where = and_(idempotency_key.c.token_id == token_id, idempotency_key.c.idem_key == key)
    values = {"fingerprint": request_digest, "created": now}
    values.update(dict.fromkeys(("status", "location", "body")))
    insert = idempotency_key.insert().values(token_id=token_id, idem_key=key, **values)
    if _claimed(conn, insert, key):
        return None
    # A plain read, no lock: MariaDB holds a shared lock on the row after the
    # duplicate key, and two retries each asking for more would deadlock.
    row = conn.execute(select(idempotency_key).where(where)).first()
    if row is None:  # deleted since: the first request failed and let go of it
        raise KeyInUse(key)
    expired = row.created <= now - TTL
    abandoned = row.status is None and row.created <= now - ABANDONED_AFTER
    if expired or abandoned:
        _take_over(conn, and_(where, idempotency_key.c.created == row.created), values, key)
        return None
    if row.fingerprint != request_digest:
        raise KeyReused(key)
    if row.status is None:
        raise KeyInUse(key)
    return Answer(row.status, row.location, row.body)


def _claimed(conn: Connection, insert: Any, key: str) -> bool:
    """Insert the claim; say False when the key exists already."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(insert)
    except sa_exc.IntegrityError:
        savepoint.rollback()
        return False
    except sa_exc.OperationalError as err:
        _raise_in_use_on_lock_error(err, key)
        raise
    savepoint.commit()
    return True


def _take_over(conn: Connection, where: Any, values: dict[str, Any], key: str) -> None:
    """Claim an expired or abandoned key; raise KeyInUse if another request got it first."""
    try:
        taken = conn.execute(update(idempotency_key).where(where).values(values)).rowcount
    except sa_exc.OperationalError as err:
        _raise_in_use_on_lock_error(err, key)
        raise
    if not taken:
        raise KeyInUse(key)


def _raise_in_use_on_lock_error(err: sa_exc.OperationalError, key: str) -> None:
    """A deadlock or lock timeout here means another retry of the same key is at work."""
    if (
        mysql_code(err) in _MYSQL_LOCK_ERRORS
        or postgres.sqlstate(err.orig) in _POSTGRES_LOCK_ERRORS
    ):
        raise KeyInUse(key) from None


def answer(conn: Connection, token_id: int, key: str, result: Answer) -> None:
    """Store the answer of the request that claimed the key (in the transaction of its write)."""
    where = and_(idempotency_key.c.token_id == token_id, idempotency_key.c.idem_key == key)
    values = {"status": result.status, "location": result.location, "body": result.body}
    conn.execute(update(idempotency_key).where(where).values(values))


def release(conn: Connection, token_id: int, key: str) -> None:
    """Let go of a claim whose request failed, so that a retry can run."""
    where = and_(
        idempotency_key.c.token_id == token_id,
        idempotency_key.c.idem_key == key,
        idempotency_key.c.status.is_(None),
    )
    conn.execute(delete(idempotency_key).where(where))


def _purge(conn: Connection, now: datetime) -> None:
    """Delete expired keys, at most every PURGE_EVERY seconds in this process."""
    global _last_purge
    if time.monotonic() - _last_purge < PURGE_EVERY:
        return
    _last_purge = time.monotonic()
    conn.execute(delete(idempotency_key).where(idempotency_key.c.created <= now - TTL))
