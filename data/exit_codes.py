"""The exit codes of every ``pleias-rl`` command (one table, documented in ``pleias-rl --help``).

======  =============  =================================================================
code    name           meaning
======  =============  =================================================================
0       OK             done; every input line was used
1       SKIPPED        done and written, but some input lines or records were skipped;
                       each is named ``FILE:LINE: problem`` on standard error
2       USAGE          nothing done: bad arguments, an unreadable input, an output that
                       would overwrite an input, an out-dir of another run, or a
                       command that needs the ``[train]`` extra without it
3       UNAVAILABLE    a server (LLM critic, policy, judge, endpoint, translator) could not
                       be reached or kept failing
4       NO_OUTPUT      the run finished but wrote no row (``data build`` with every record
                       skipped, or stopped on a bad record with ``--on-error stop``)
5       INTERNAL       an internal error (a bug): the traceback is printed; please report it
======  =============  =================================================================
"""

from __future__ import annotations

import argparse
from enum import IntEnum


class ExitCode(IntEnum):
    """A process exit status of ``pleias-rl`` (see the module table).

    >>> int(ExitCode.SKIPPED), ExitCode(4).name
    (1, 'NO_OUTPUT')
    """

    OK = 0
    SKIPPED = 1
    USAGE = 2
    UNAVAILABLE = 3
    NO_OUTPUT = 4
    INTERNAL = 5


EXIT_CODE_HELP = "\n".join([
    "exit codes:",
    "  0  ok: every input line was used",
    "  1  done, but some input lines were skipped (each named FILE:LINE on stderr)",
    "  2  usage: bad arguments, unreadable input, output = input, missing [train] extra",
    "  3  a server (critic, policy, judge, endpoint, translator) was unavailable",
    "  4  nothing written (data build: 0 rows, or stopped on a bad record)",
    "  5  internal error (a bug; traceback printed)",
])
"""The table as the command-line help prints it."""


class HelpWithExitCodes(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """An argparse formatter that shows defaults and keeps the exit-code epilog's lines.

    >>> parser = argparse.ArgumentParser(prog="x", epilog=EXIT_CODE_HELP, formatter_class=HelpWithExitCodes)
    >>> [line for line in parser.format_help().splitlines() if line.startswith("  5  ")]
    ['  5  internal error (a bug; traceback printed)']
    """
