from postctl.cli import cli

cli(prog_name="postctl")
