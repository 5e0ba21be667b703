"""``pleias-rl SUBCOMMAND ...``: dispatch to the package that owns the subcommand.

Each subcommand module exposes ``main(argv: list[str]) -> int`` and is imported only when
called, so ``pleias-rl score`` never pays for torch or transformers.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "score": ("pleias_rl.rewards.cli", "score completions with every registered reward"),
    "data": ("pleias_rl.data.cli", "build and inspect RAG datasets (data build, data stats)"),
    "critique": ("pleias_rl.critics.cli", "run the critic loop and write corrective training data"),
    "eval": ("pleias_rl.evaluation.cli", "evaluate a model or a generations file"),
    "quickstart": ("pleias_rl.pipeline", "the embedded-default pipeline: SFT, critic round, GRPO, results with intervals"),
}


def usage() -> str:
    """The help text listing every subcommand.

    >>> "score" in usage()
    True
    """
    lines = ["usage: pleias-rl SUBCOMMAND [options]", "", "subcommands:"]
    lines += [f"  {name:<11} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``pleias-rl``; returns the subcommand's exit code.

    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: pleias-rl SUBCOMMAND [options]
    ...
    0
    """
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"pleias-rl: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
