"""``pleias-rl SUBCOMMAND ...``: dispatch to the package that owns the subcommand.

Each subcommand module exposes ``main(argv: list[str]) -> int`` and is imported only when
called, so ``pleias-rl score`` never pays for torch or transformers. A subcommand that needs
the ``[train]`` extra (torch, transformers, trl...) and finds it missing says which extra to
install.

Exit codes (the same for every subcommand; :class:`pleias_rl.data.exit_codes.ExitCode`):

====  ===========================================================================
0     ok: every input line was used
1     done and written, but some input lines were skipped (each named ``FILE:LINE``)
2     usage: bad arguments, unreadable input, output = input, missing ``[train]`` extra
3     a server (critic, policy, judge, endpoint, translator) was unavailable
4     nothing written (``data build``: 0 rows, or stopped on a bad record)
5     internal error (a bug; the traceback is printed)
====  ===========================================================================
"""

from __future__ import annotations

import importlib
import sys
import traceback

from pleias_rl.data.exit_codes import EXIT_CODE_HELP, ExitCode

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "score": ("pleias_rl.rewards.cli", "score completions with every registered reward"),
    "data": ("pleias_rl.data.cli", "build and inspect RAG datasets (data build, data stats)"),
    "critique": ("pleias_rl.critics.cli", "run the critic loop and write corrective training data"),
    "eval": ("pleias_rl.evaluation.cli", "evaluate a model or a generations file"),
    "quickstart": ("pleias_rl.pipeline", "the embedded-default pipeline: SFT, critic round, GRPO, results with intervals"),
    "sft": ("pleias_rl.rl.sft", "supervised fine-tuning from a recipe (one process)"),
    "grpo": ("pleias_rl.rl.grpo", "GRPO training from a recipe (one process; accelerate launch -m for more)"),
}

TRAIN_EXTRA_MODULES: frozenset[str] = frozenset({
    "torch", "transformers", "trl", "peft", "accelerate", "datasets", "gguf", "matplotlib", "tqdm",
    "safetensors", "tokenizers", "huggingface_hub", "openai", "httpx", "httpx2"})
"""Top-level modules that only the ``[train]`` extra installs."""


def usage() -> str:
    """The help text listing every subcommand and the exit codes.

    >>> "score" in usage() and "exit codes:" in usage()
    True
    """
    lines = ["usage: pleias-rl SUBCOMMAND [options]", "", "subcommands:"]
    lines += [f"  {name:<11} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    return "\n".join([*lines, "", EXIT_CODE_HELP])


def missing_extra(error: ModuleNotFoundError, command: str) -> str | None:
    """The message for a subcommand that needs the ``[train]`` extra, or ``None`` when the
    missing module is not one of the extra's.

    >>> print(missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"), "eval"))
    pleias-rl eval needs the training extra (torch is not installed): pip install 'pleias-rl[train]'
    >>> missing_extra(ModuleNotFoundError(name="yaml"), "score") is None
    True
    """
    top = (error.name or "").split(".")[0]
    if top not in TRAIN_EXTRA_MODULES:
        return None
    return f"pleias-rl {command} needs the training extra ({top} is not installed): pip install 'pleias-rl[train]'"


def run_subcommand(name: str, args: list[str]) -> int:
    """Import and run one subcommand, turning its failures into the documented exit codes.

    >>> run_subcommand("score", ["/no/such.jsonl"])
    2
    """
    try:
        module = importlib.import_module(SUBCOMMANDS[name][0])
        return int(module.main(args) or 0)
    except ModuleNotFoundError as error:
        message = missing_extra(error, name)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return ExitCode.USAGE.value
    except SystemExit as stop:  # argparse (code 2) or a refusal raised as SystemExit("message")
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return ExitCode.USAGE.value


def main(argv: list[str] | None = None) -> int:
    """Run ``pleias-rl``; returns the subcommand's exit code (5 on an internal error).

    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: pleias-rl SUBCOMMAND [options]
    ...
    0
    """
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else ExitCode.USAGE.value
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"pleias-rl: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return ExitCode.USAGE.value
    try:
        return run_subcommand(name, rest)
    except Exception:  # a bug: say so, with the traceback, under its own exit code
        traceback.print_exc()
        print(f"pleias-rl {name}: internal error (exit {ExitCode.INTERNAL.value}); please report it "
              "with the traceback above", file=sys.stderr)
        return ExitCode.INTERNAL.value


if __name__ == "__main__":
    sys.exit(main())
