"""The command that prints shell completion scripts: completion."""

from __future__ import annotations

import click


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> None:
    """Print the shell completion script for SHELL.

    Load it in the current shell, or add the line to your shell's start-up file.

    Example: eval "$(postctl completion bash)"
    """
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None  # every Choice above has one
    root = click.get_current_context().find_root().command
    script = completion_class(root, {}, "postctl", "_POSTCTL_COMPLETE").source()
    click.echo(script, nl=not script.endswith("\n"))
