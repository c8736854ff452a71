"""postctl token create/list/revoke, and the token functions underneath."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, select, text, update

from postctl import db, tokens
from postctl.admin_schema import api_token, utc_now
from tests.conftest import Run

TOKEN_RE = re.compile(r"pctl_[A-Za-z0-9_-]{54}")
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def on(conn: Connection) -> Callable[[str], tokens.Rows]:
    """Find a prefix's token rows on this connection, as the web app does through its cache."""
    return lambda prefix: tokens.rows_by_prefix(conn, prefix)


def stored_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(api_token).order_by(api_token.c.id))]


def test_create_prints_only_the_token_on_stdout(engine: Engine, run: Run) -> None:
    result = run("token", "create", "--name", "ci")
    assert result.exit_code == 0, result.output
    secret = result.stdout.removesuffix("\n")
    assert TOKEN_RE.fullmatch(secret), result.stdout
    assert re.fullmatch(
        rf"Created token ci \({re.escape(secret[:11])}…\), expires {TIME} UTC; "
        r"it is not shown again\.\n",
        result.stderr,
    ), result.stderr
    (row,) = stored_rows(engine)
    assert row["digest"] == tokens.digest(secret)
    assert row["prefix"] == secret[:11]
    assert secret not in repr(row)
    assert isinstance(row["created"], datetime) and isinstance(row["expires"], datetime)
    assert row["expires"] - row["created"] == timedelta(days=90)
    assert (row["last_used"], row["revoked"]) == (None, None)


def test_tokens_are_random_and_long() -> None:
    made = {tokens.generate() for _ in range(1000)}
    assert len(made) == 1000
    assert all(TOKEN_RE.fullmatch(t) for t in made)
    # 54 URL-safe characters carry 6 bits each: 320 random bits, 284 beyond the prefix shown.
    assert tokens.RANDOM_BYTES * 8 - 6 * (tokens.PREFIX_LENGTH - len("pctl_")) >= 256


@pytest.mark.parametrize(
    ("given", "days"),
    [("90d", 90), ("12h", 0.5), ("30m", 30 / 1440), ("2w", 14), ("1y", 365), ("never", None)],
)
def test_expires(engine: Engine, run: Run, given: str, days: float | None) -> None:
    result = run("token", "create", "--name", "t", "--expires", given)
    assert result.exit_code == 0, result.output
    (row,) = stored_rows(engine)
    if days is None:
        assert row["expires"] is None
        assert "never expires" in result.stderr
    else:
        assert row["expires"] - row["created"] == timedelta(days=days)  # type: ignore[operator]


@pytest.mark.parametrize("given", ["0d", "5", "5q", "-1d", "1.5d", "101y", "forever", ""])
def test_a_bad_expiry_is_a_usage_error(engine: Engine, run: Run, given: str) -> None:
    result = run("token", "create", "--name", "t", "--expires", given)
    assert result.exit_code == 2
    assert "Invalid value for '--expires'" in result.stderr
    assert stored_rows(engine) == []


@pytest.mark.parametrize("name", ["", "with space", "-dash-first", "x" * 101, "ünï"])
def test_a_bad_name_is_a_usage_error(engine: Engine, run: Run, name: str) -> None:
    result = run("token", "create", "--name", name)
    assert result.exit_code == 2
    assert f"is not a token name: {tokens.NAME_RULE}" in result.stderr
    assert stored_rows(engine) == []


def test_names_are_unique_even_after_revoking(engine: Engine, run: Run) -> None:
    assert run("token", "create", "--name", "ci").exit_code == 0
    result = run("token", "create", "--name", "ci")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error: a token named ci exists already (active); choose another name\n"
    assert run("token", "revoke", "ci").exit_code == 0
    result = run("token", "create", "--name", "ci")
    assert (
        result.stderr == "Error: a token named ci exists already (revoked); choose another name\n"
    )
    assert len(stored_rows(engine)) == 1


def test_list_shows_no_secret(engine: Engine, run: Run) -> None:
    first = run("token", "create", "--name", "ci").stdout.strip()
    second = run("token", "create", "--name", "deploy", "--expires", "never").stdout.strip()
    assert run("token", "revoke", "ci").exit_code == 0
    with db.transaction(engine) as conn:
        conn.execute(update(api_token).where(api_token.c.name == "deploy").values(
            last_used=datetime(2030, 1, 2, 3, 4, 5)
        ))  # fmt: skip
    result = run("token", "list")
    assert result.exit_code == 0, result.output
    assert first not in result.output and second not in result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "prefix", "created", "expires", "last_used", "status"]
    assert re.fullmatch(
        rf"ci +{re.escape(first[:11])} +{TIME} +{TIME} +never +revoked", lines[2]
    ), lines[2]
    assert re.fullmatch(
        rf"deploy +{re.escape(second[:11])} +{TIME} +never +2030-01-02 03:04:05 +active", lines[3]
    ), lines[3]
    listed = json.loads(run("token", "list", "--format", "json").stdout)
    assert [(t["name"], t["status"], t["expires"], t["last_used"]) for t in listed] == [
        ("ci", "revoked", listed[0]["expires"], None),
        ("deploy", "active", None, "2030-01-02T03:04:05"),
    ]
    assert set(listed[0]) == {"name", "prefix", "created", "expires", "last_used", "status"}


def test_list_says_when_there_are_none(engine: Engine, run: Run) -> None:
    result = run("token", "list")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == ("No tokens: every write is refused; create one with `token create`.\n")
    assert run("token", "list", "-f", "json").stdout == "[]\n"


def test_an_expired_token_is_listed_as_expired(engine: Engine, run: Run) -> None:
    assert run("token", "create", "--name", "old").exit_code == 0
    with db.transaction(engine) as conn:
        conn.execute(update(api_token).values(expires=utc_now() - timedelta(seconds=1)))
    assert json.loads(run("token", "list", "-f", "json").stdout)[0]["status"] == "expired"


def test_revoke(engine: Engine, run: Run) -> None:
    secret = run("token", "create", "--name", "ci").stdout.strip()
    result = run("token", "revoke", "ci")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Revoked token ci ({secret[:11]}…).\n"
    again = run("token", "revoke", "ci")
    assert again.exit_code == 0
    assert re.fullmatch(
        rf"Token ci \({re.escape(secret[:11])}…\) was revoked already, at {TIME} UTC\.\n",
        again.stdout,
    )
    missing = run("token", "revoke", "nobody")
    assert (missing.exit_code, missing.stderr) == (3, "Error: no token named nobody\n")


def test_token_commands_work_on_a_database_older_than_tokens(engine: Engine, run: Run) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE api_token"))
    assert run("token", "list", "-f", "json").stdout == "[]\n"
    assert run("token", "revoke", "ci").exit_code == 3
    assert run("token", "create", "--name", "ci").exit_code == 0
    assert len(stored_rows(engine)) == 1


def test_authenticate_compares_digests_and_checks_state(engine: Engine) -> None:
    now = utc_now()
    with db.transaction(engine) as conn:
        secret, made = tokens.create(conn, "ci", timedelta(hours=1))
        assert tokens.authenticate(secret, now, on(conn)).id == made.id
        with pytest.raises(tokens.InvalidToken, match=r"^unknown token$"):
            tokens.authenticate(secret[:-1] + "?", now, on(conn))
        with pytest.raises(tokens.InvalidToken, match=r"^token expired$"):
            tokens.authenticate(secret, now + timedelta(hours=1), on(conn))
        tokens.revoke(conn, "ci")
        with pytest.raises(tokens.InvalidToken, match=r"^token revoked$"):
            tokens.authenticate(secret, now, on(conn))


def test_authenticate_uses_a_constant_time_comparison(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[str, str]] = []
    real = tokens.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    with db.transaction(engine) as conn:
        secret, _ = tokens.create(conn, "ci")
        tokens.authenticate(secret, utc_now(), on(conn))
    assert compared == [(tokens.digest(secret), tokens.digest(secret))]


def test_touch_writes_at_most_once_a_minute(engine: Engine) -> None:
    now = utc_now()
    with db.transaction(engine) as conn:
        secret, _ = tokens.create(conn, "ci")
        token = tokens.authenticate(secret, now, on(conn))
        assert tokens.touch(conn, token, now) is True
        # A second worker that read the token before the first wrote it: no second write.
        assert tokens.touch(conn, token, now + timedelta(seconds=30)) is False
        fresh = tokens.authenticate(secret, now + timedelta(seconds=30), on(conn))
        assert tokens.touch(conn, fresh, now + timedelta(seconds=30)) is False
        assert tokens.touch(conn, fresh, now + timedelta(seconds=60)) is True
        assert tokens.authenticate(secret, now, on(conn)).last_used == now + timedelta(seconds=60)


@pytest.mark.parametrize(
    ("text_", "expected"),
    [("1m", timedelta(minutes=1)), ("36500d", timedelta(days=36500)), ("never", None)],
)
def test_parse_duration(text_: str, expected: timedelta | None) -> None:
    assert tokens.parse_duration(text_) == expected


def test_the_cache_reads_a_prefix_again_after_a_second(engine: Engine) -> None:
    clock = [100.0]
    now = utc_now()
    with db.transaction(engine) as conn:
        cache = tokens.Cache(on(conn), clock=lambda: clock[0])
        secret, made = tokens.create(conn, "ci")
        assert tokens.authenticate(secret, now, cache).id == made.id
        tokens.revoke(conn, "ci")
        clock[0] += tokens.CACHE_SECONDS - 0.01
        assert tokens.authenticate(secret, now, cache).id == made.id  # still trusted
        clock[0] += 0.01
        with pytest.raises(tokens.InvalidToken, match=r"^token revoked$"):
            tokens.authenticate(secret, now, cache)
        # A token made after its prefix missed is found at once: misses are not kept.
        other, _ = tokens.create(conn, "other")
        with pytest.raises(tokens.InvalidToken, match=r"^unknown token$"):
            tokens.authenticate(other[:-1] + "!", now, cache)
        assert tokens.authenticate(other, now, cache).name == "other"


def test_the_cache_remembers_a_use_it_wrote(engine: Engine) -> None:
    now = utc_now()
    with db.transaction(engine) as conn:
        cache = tokens.Cache(on(conn))
        secret, _ = tokens.create(conn, "ci")
        token = tokens.authenticate(secret, now, cache)
        assert tokens.touch(conn, token, now, cache) is True
        again = tokens.authenticate(secret, now, cache)
        assert again.last_used == now
        assert tokens.touch(conn, again, now + timedelta(seconds=5), cache) is False
