"""The ``pleias-rl`` command: a thin dispatcher to the subcommand each package owns."""
