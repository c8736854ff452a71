"""Property-based: generated requests from /openapi.json get no 5xx and conforming answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from postctl.web import create_app, engine_of
from tests.hostile import examples

# The document as the app serves it; /openapi.json needs no database. Each test
# then calls, in-process, an app on a fresh database with the fixtures loaded
# (schemathesis' own fixture loader does not run on this pytest).
schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app("sqlite://"))


@pytest.fixture
def loaded_app(db_url: str, loaded: Engine) -> Iterator[Flask]:
    app = create_app(db_url)
    yield app
    engine_of(app).dispose()


@schema.parametrize()
@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_api_conforms_to_its_document(case: schemathesis.Case, loaded_app: Flask) -> None:
    case.call_and_validate(app=loaded_app)
