"""Property-based: generated requests from /openapi.json get no 5xx and conforming answers.

Writes are exercised with a valid bearer token; schemathesis' own checks
then also send each write without it and with a wrong one (ignored_auth).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from postctl import db, tokens
from postctl.admin_schema import idempotency_key
from postctl.web import create_app, engine_of
from tests.hostile import examples

# The document as the app serves it; /openapi.json needs no database. Each test
# then calls, in-process, an app on a fresh database with the fixtures loaded
# (schemathesis' own fixture loader does not run on this pytest).
schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app("sqlite://"))


@pytest.fixture
def loaded_app(db_url: str, loaded: Engine) -> Iterator[tuple[Flask, str]]:
    with db.transaction(loaded) as conn:
        secret, _ = tokens.create(conn, "schemathesis")
    app = create_app(db_url)
    yield app, secret
    engine_of(app).dispose()


@schema.parametrize()
@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_api_conforms_to_its_document(
    case: schemathesis.Case, loaded_app: tuple[Flask, str]
) -> None:
    app, token = loaded_app
    # A key the generator happens to repeat with another body would rightly get
    # 422, which schemathesis takes for valid data refused: each example starts
    # with no stored keys (reuse is tested exactly in test_writes_api.py).
    with db.transaction(engine_of(app).get()) as conn:
        conn.execute(idempotency_key.delete())
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"})
