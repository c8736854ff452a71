"""postctl's commands, a module per subject; postctl.cli gathers them into one group."""
