"""API tokens: made and shown once here, stored only as SHA-256 digests, checked per write.

A token is `pctl_` and 54 URL-safe characters: 320 random bits. Its first
characters (PREFIX_LENGTH in all, 36 random bits) are stored in the clear to
tell tokens apart in `token list` and to find the candidate rows of a
presented token; the digests of those candidates are then compared in
constant time. Nothing here talks HTTP: tokens are made, listed and revoked
only from the command line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, or_, select, update

from postctl.admin_schema import NAME_MAX, api_token, create_admin_tables, has_table, utc_now
from postctl.errors import NotFoundError, PostctlError

TOKEN_PREFIX = "pctl_"
RANDOM_BYTES = 40  # 320 bits, of which the display prefix shows 36
PREFIX_LENGTH = len(TOKEN_PREFIX) + 6
DEFAULT_EXPIRY = timedelta(days=90)
MAX_EXPIRY = timedelta(days=36500)
TOUCH_INTERVAL = timedelta(minutes=1)  # last_used is written at most this often per token
CACHE_SECONDS = 1.0  # how long a process trusts the token rows it read
CACHE_SIZE = 1024  # prefixes kept at most; past that, the cache starts afresh
NAME_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@-]{{0,{NAME_MAX - 1}}}")
NAME_RULE = f"1 to {NAME_MAX} letters, digits, '.', '_', '@' or '-', a letter or digit first"
_DURATION_RE = re.compile(r"([1-9][0-9]{0,6})([mhdwy])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_BY_PREFIX = select(api_token).where(api_token.c.prefix == bindparam("prefix"))


class TokenError(PostctlError):
    """A token cannot be made as asked."""


class InvalidToken(PostctlError):
    """A presented token is unknown, expired or revoked; the message says which."""


@dataclass(frozen=True)
class Token:
    """A token as stored: everything but the secret."""

    id: int
    name: str
    prefix: str
    created: datetime
    expires: datetime | None
    last_used: datetime | None
    revoked: datetime | None

    def status(self, now: datetime) -> str:
        """Say whether the token is active, expired or revoked at `now`."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


def parse_duration(text: str) -> timedelta | None:
    """Read an expiry like 30m, 12h, 90d, 2w or 1y; `never` gives None. Raise ValueError."""
    if text == "never":
        return None
    found = _DURATION_RE.fullmatch(text.strip())
    if found is None:
        raise ValueError(
            f"{text!r} is not a duration: a number and m, h, d, w or y (30m, 12h, 90d, 2w, 1y), "
            "or never"
        )
    number, unit = int(found.group(1)), found.group(2)
    delta = timedelta(days=365 * number) if unit == "y" else timedelta(**{_UNITS[unit]: number})
    if delta > MAX_EXPIRY:
        raise ValueError(f"{text!r} is longer than 100 years; say never for no expiry")
    return delta


def check_name(name: str) -> str:
    """Return the name if it is a valid token name, else raise ValueError."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a token name: {NAME_RULE}")
    return name


def generate() -> str:
    """Return a new random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(RANDOM_BYTES)


def digest(token: str) -> str:
    """Return the SHA-256 digest of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(
    conn: Connection, name: str, expires_in: timedelta | None = DEFAULT_EXPIRY
) -> tuple[str, Token]:
    """Make a token named `name`; return the secret (shown once, never stored) and its row."""
    check_name(name)
    create_admin_tables(conn)
    taken = conn.execute(select(api_token).where(api_token.c.name == name)).first()
    if taken is not None:
        state = _token(taken).status(utc_now())
        raise TokenError(f"a token named {name} exists already ({state}); choose another name")
    secret, now = generate(), utc_now()
    prefix = secret[:PREFIX_LENGTH]
    expires = None if expires_in is None else now + expires_in
    insert = api_token.insert().values(
        name=name, prefix=prefix, digest=digest(secret), created=now, expires=expires
    )
    (new_id,) = conn.execute(insert).inserted_primary_key or (0,)
    return secret, Token(int(new_id), name, prefix, now, expires, None, None)


def list_tokens(conn: Connection) -> list[Token]:
    """Return every token, oldest first (revoked and expired ones too)."""
    if not has_table(conn, api_token):
        return []
    rows = conn.execute(select(api_token).order_by(api_token.c.created, api_token.c.id))
    return [_token(row) for row in rows]


def revoke(conn: Connection, name: str) -> tuple[Token, bool]:
    """Revoke the token named `name`; return it and whether it was revoked only now."""
    row = None
    if has_table(conn, api_token):
        row = conn.execute(select(api_token).where(api_token.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no token named {name}")
    token = _token(row)
    if token.revoked is not None:
        return token, False
    now = utc_now()
    conn.execute(update(api_token).where(api_token.c.id == token.id).values(revoked=now))
    return Token(**{**token.__dict__, "revoked": now}), True


Rows = list[tuple[str, Token]]  # (digest, token) of each row with one prefix


def rows_by_prefix(conn: Connection, prefix: str) -> Rows:
    """Return the digest and the token of each row with this prefix."""
    return [(row.digest, _token(row)) for row in conn.execute(_BY_PREFIX, {"prefix": prefix})]


class Cache:
    """The token rows found by each prefix, kept for CACHE_SECONDS in this process.

    A write checks its token on every request; reading the row each time
    would cost a query per write. Kept a second, a revocation reaches every
    worker within that second. A prefix that finds no row is not kept, so a
    new token works at once and unknown tokens cannot fill the cache.
    """

    def __init__(
        self,
        fetch: Callable[[str], Rows],
        seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.seconds = seconds
        self._clock = clock
        self._found: dict[str, tuple[float, Rows]] = {}

    def __call__(self, prefix: str) -> Rows:
        """Return the rows with this prefix, fetched again when older than `seconds`."""
        now = self._clock()
        kept = self._found.get(prefix)
        if kept is not None and now - kept[0] < self.seconds:
            return kept[1]
        found = self._fetch(prefix)
        if len(self._found) >= CACHE_SIZE:
            self._found.clear()
        if found:
            self._found[prefix] = (now, found)
        else:
            self._found.pop(prefix, None)
        return found

    def used(self, token: Token, when: datetime) -> None:
        """Remember the last use just written, so that this process does not write it again."""
        kept = self._found.get(token.prefix)
        if kept is not None:
            rows = [(d, replace(t, last_used=when) if t.id == token.id else t) for d, t in kept[1]]
            self._found[token.prefix] = (kept[0], rows)


def authenticate(presented: str, now: datetime, rows: Callable[[str], Rows]) -> Token:
    """Return the active token `presented` is, or raise InvalidToken saying why not.

    `rows` finds the rows of a prefix: rows_by_prefix on a connection, or a Cache.
    """
    wanted = digest(presented)
    match = None
    if presented.startswith(TOKEN_PREFIX):
        for row_digest, token in rows(presented[:PREFIX_LENGTH]):
            # Constant-time, on digests: the time taken tells nothing about the secret.
            if hmac.compare_digest(row_digest, wanted):
                match = token
    if match is None:
        raise InvalidToken("unknown token")
    status = match.status(now)
    if status != "active":
        raise InvalidToken(f"token {status}")
    return match


def touch(conn: Connection, token: Token, now: datetime, cache: Cache | None = None) -> bool:
    """Record that the token was used, if its last use is a minute old; say whether written.

    Writing on every request would make every write of one token queue for
    the same row; the WHERE clause keeps concurrent workers to one write.
    """
    cutoff = now - TOUCH_INTERVAL
    if token.last_used is not None and token.last_used > cutoff:
        return False
    stale = or_(api_token.c.last_used.is_(None), api_token.c.last_used <= cutoff)
    query = update(api_token).where(api_token.c.id == token.id, stale).values(last_used=now)
    written = bool(conn.execute(query).rowcount)
    if cache is not None:
        cache.used(token, now)  # written now, or by another process within the minute
    return written


def _token(row: Row[Any]) -> Token:
    return Token(row.id, row.name, row.prefix, row.created, row.expires, row.last_used, row.revoked)
