"""What every command shares (commands/base.py): the listing options, and the App's messages.

show-post and list-posts were decorated with format_options when postctl was
imported; decorating a command here runs it again, so what it adds is checked
where it is made. The expected help is docs/commands.md's, for show-post.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from postctl.cli import CONTEXT_SETTINGS
from postctl.commands.base import App, format_options
from postctl.errors import ConfigError
from tests.conftest import REPO
from tests.test_db_paths import connect_params


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


def test_an_app_given_a_url_names_the_option_in_its_errors() -> None:
    app = App("nonsense")
    with pytest.raises(ConfigError) as err:
        app.check()
    assert app.describe(err.value) == (
        "--database-url: invalid database URL: "
        "not of the form dialect+driver://user:password@host:port/database"
    )
    # An error raised without naming its setting is given the App's.
    told = App("sqlite:///x.db", "POSTCTL_DATABASE_URL").describe(ConfigError("bad"))
    assert told == "POSTCTL_DATABASE_URL: bad"
    assert App().describe(ConfigError("bad")) == "bad"  # no setting known yet: none named


def test_every_password_the_environment_holds_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL in use, and the settings not in use (MYSQL_PASS, the URL variables), alike."""
    monkeypatch.setenv("MYSQL_PASS", "Very$ecret")
    monkeypatch.setenv("DATABASE_URL", "mysql://u:0ther%2Fpass@h/d")
    app = App("mysql://u:Given%40pass@h/d")
    told = app.describe(RuntimeError("Very$ecret 0ther/pass Given@pass Given%40pass"))
    assert told == "*** *** *** ***"


def test_a_url_from_a_secret_file_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POSTCTL_DATABASE_URL_FILE's URL is in no variable: only the setting read holds it."""
    secret = tmp_path / "url"
    secret.write_text("mysql://u:Fi1e$ecret@h/d\n", encoding="utf-8")
    monkeypatch.setenv("POSTCTL_DATABASE_URL_FILE", str(secret))
    app = App()
    app.check()  # reads the setting, as every command does first
    assert app.describe(RuntimeError("Fi1e$ecret, Fi1e%24ecret")) == "***, ***"


def test_an_error_whose_message_fails_is_told_by_its_kind() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("no message")

    told = App("sqlite:///x.db").describe(Unprintable())
    assert told == "Unprintable (its message cannot be shown)"


def test_only_a_loading_command_lets_the_server_ask_for_files() -> None:
    """LOAD DATA LOCAL lets a server ask for any file the client can read: off unless asked."""
    pytest.importorskip("MySQLdb", reason="needs mysqlclient to make a MySQL engine")
    url = "mysql+mysqldb://app:s3cret@db/posts"
    assert connect_params(App(url).engine())["local_infile"] == 0
    assert connect_params(App(url).engine(local_infile=True))["local_infile"] == 1
