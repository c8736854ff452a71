"""The value rules: check_post for one post, and the fixture engine's batch path built on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postctl.fixtures.records import Records
from postctl.fixtures.report import Problem
from postctl.fixtures.validate import Validator
from postctl.rules import COLUMNS, InvalidPost, Row, check_post
from tests.hostile import examples
from tests.test_fixtures import CONTENTS, EMAILS, IDS, TIMES, _as_read

LOADED_AT = "2020-01-01 00:00:00"


def test_a_valid_post_becomes_its_row() -> None:
    post = {"content": "안녕 🚀", "author_email": "a@b.c", "created_time": "2018-10-03T12:30"}
    assert check_post(post, LOADED_AT) == (
        None,
        "안녕 🚀".encode(),
        "a@b.c",
        "2018-10-03 12:30:00",
    )


def test_an_empty_or_absent_time_is_the_time_given() -> None:
    assert check_post({"id": "", "content": "x", "author_email": "a@b.c"}, LOADED_AT) == (
        None,
        b"x",
        "a@b.c",
        LOADED_AT,
    )
    row = check_post({"content": "x", "author_email": "a@b.c", "created_time": ""}, LOADED_AT)
    assert row[3] == LOADED_AT


def test_every_problem_of_a_post_is_named() -> None:
    post = {"id": "0", "content": "", "author_email": "nobody", "extra": "1", "created_time": 7}
    with pytest.raises(InvalidPost) as caught:
        check_post(post, LOADED_AT)
    assert caught.value.problems == [
        ("extra", "unknown column"),
        ("id", "out of range (1 to 2147483647)"),
        ("content", "must not be empty"),
        ("author_email", "not an email address of the form local@domain"),
        ("created_time", "not text"),
    ]


def test_missing_required_columns_and_lone_surrogates_are_problems() -> None:
    with pytest.raises(InvalidPost) as caught:
        check_post({"content": "bad \ud800"}, LOADED_AT)
    assert caught.value.problems == [
        ("author_email", "missing"),
        ("content", "not valid Unicode text (a lone surrogate)"),
    ]
    assert str(caught.value) == (
        "author_email: missing; content: not valid Unicode text (a lone surrogate)"
    )


def _is_text(value: str) -> bool:
    """Tell whether a generated value is text, not a stand-in for bytes that are not UTF-8."""
    return not any("\udc80" <= c <= "\udcff" for c in value)


@settings(max_examples=examples(400), deadline=None)
@given(
    st.lists(st.tuples(IDS, CONTENTS, EMAILS, TIMES), min_size=1, max_size=4),
    st.permutations(COLUMNS),
    st.sets(st.sampled_from(["id", "created_time"])),
)
def test_one_post_and_the_batch_path_agree(
    records: list[tuple[str, str, str, str]], order: list[str], left_out: set[str]
) -> None:
    """Whatever the values, the header's order or its optional columns, both accept and
    refuse the same posts, build the same rows, and name the same problems."""
    header = [c for c in order if c not in left_out]
    lines = list(range(2, len(records) + 2))
    fields = [[_as_read(record[COLUMNS.index(c)]) for c in header] for record in records]
    problems: list[Problem] = []
    batch = Validator(Path("posts.csv"), header, LOADED_AT).batch(
        Records(lines, fields, 0), problems
    )

    expected_rows: list[Row] = []
    for line, record in zip(lines, records, strict=True):
        post = {c: record[COLUMNS.index(c)] for c in header}
        named = {(p.column, p.reason) for p in problems if p.line == line}
        try:
            expected_rows.append(check_post(post, LOADED_AT))
        except InvalidPost as refused:
            if all(map(_is_text, post.values())):
                assert named == set(refused.problems)
            else:  # the batch path reads bytes: not UTF-8 is its own reason there
                assert {c for c, _ in named} == {c for c, _ in refused.problems}
        else:
            assert named == set()
    assert batch.rows == expected_rows


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("id", "x", "not a positive integer"),
        ("id", " 7", "not a positive integer"),
        ("id", "2147483648", "out of range (1 to 2147483647)"),
        ("content", "x" * 65536, "longer than 65535 bytes"),
        ("author_email", "a" * 89 + "@example.com", "longer than 100 characters (101)"),
        ("author_email", "a b@c", "not an email address of the form local@domain"),
        (
            "created_time",
            "2018-10-03",
            "not a datetime like 2018-10-03 12:30:00 or 2018-10-03T12:30:00",
        ),
        (
            "created_time",
            "2018-02-30 12:00:00",
            "not a valid datetime (day is out of range for month)",
        ),
        ("created_time", "0999-12-31 23:59:59", "year before 1000"),
    ],
)
def test_each_rule_says_what_is_wrong(column: str, value: str, reason: str) -> None:
    post = {"content": "x", "author_email": "a@b.c", column: value}
    with pytest.raises(InvalidPost) as caught:
        check_post(post, LOADED_AT)
    assert caught.value.problems == [(column, reason)]


def test_values_that_are_not_text_are_each_named() -> None:
    post: dict[str, object] = {"id": 7, "content": b"x", "author_email": None}
    with pytest.raises(InvalidPost) as caught:
        check_post(post, LOADED_AT)
    assert caught.value.problems == [
        ("id", "not text"),
        ("content", "not text"),
        ("author_email", "not text"),
    ]
