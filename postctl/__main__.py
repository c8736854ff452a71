"""Run the command line: python -m postctl."""

from postctl.cli import cli

cli(prog_name="postctl")
