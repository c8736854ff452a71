"""The options every listing command shares (commands/base.format_options), on a new command.

show-post and list-posts were decorated when postctl was imported; decorating a
command here runs format_options again, so what it adds is checked where it is
made. The expected help is docs/commands.md's, for show-post.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from postctl.cli import CONTEXT_SETTINGS
from postctl.commands.base import format_options
from tests.conftest import REPO


def listing(default_style: str) -> click.Command:
    # As docs/commands.md was made (scripts/gen_docs.py): 88 columns.
    @click.command(context_settings={**CONTEXT_SETTINGS, "terminal_width": 88})
    @format_options(default_style)
    def command(fmt: str, style: str) -> None:
        click.echo(f"{fmt} {style}")

    return command


def documented_options(command: str) -> str:
    """The Options block of a command's help in docs/commands.md."""
    text = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {command}\n", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1).split("Options:\n", 1)[1]


def test_the_help_is_show_posts() -> None:
    result = CliRunner().invoke(listing("plain"), ["--help"])
    assert result.exit_code == 0, result.output
    assert result.output.split("Options:\n", 1)[1] == documented_options("show-post")


@pytest.mark.parametrize(
    ("args", "told"),
    [
        ([], "table plain\n"),
        (["-f", "json"], "json plain\n"),
        (["--format", "csv", "--style", "grid"], "csv grid\n"),
    ],
)
def test_the_options_reach_the_command(args: list[str], told: str) -> None:
    result = CliRunner().invoke(listing("plain"), args)
    assert (result.exit_code, result.output) == (0, told)


@pytest.mark.parametrize(("option", "value"), [("--format", "xml"), ("--style", "fancy")])
def test_a_value_not_offered_is_a_usage_error(option: str, value: str) -> None:
    result = CliRunner().invoke(listing("plain"), [option, value])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith("Error: Invalid value for ")
    assert f"'{option}': '{value}' is not one of " in result.output
