"""``pleias-rl data build`` and ``pleias-rl data stats``.

Exit codes (:mod:`pleias_rl.data.exit_codes`): 0 success; 1 rows written but some records
(or ``stats`` lines) were skipped as malformed or in an unsupported layout, each named
``FILE:LINE``; 2 bad arguments, an unreadable input or an output that is an input; 3 the
translation server failed; 4 no row written (every record skipped, or the build stopped on a
bad record with ``--on-error stop``), the previous output left untouched.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from pleias_rl.data.budget import COMPLETION_TOKENS, CONTEXT_TOKENS, load_token_counter
from pleias_rl.data.exercises import DEFAULT_SEED, ExerciseOptions
from pleias_rl.data.exit_codes import EXIT_CODE_HELP, ExitCode
from pleias_rl.data.jsonl import EmptyOutput, OverwriteError
from pleias_rl.data.readers import DATASETS

USAGE_EXAMPLE = """example:
  pleias-rl data build --format hotpotqa --input hotpot_dev_distractor_v1.json --output dev.jsonl
  pleias-rl data stats dev.jsonl

""" + EXIT_CODE_HELP


def build_parser() -> argparse.ArgumentParser:
    """The ``data`` argument parser with its ``build`` and ``stats`` subcommands.

    >>> build_parser().parse_args(["stats", "x.jsonl"]).file
    'x.jsonl'
    """
    parser = argparse.ArgumentParser(prog="pleias-rl data", epilog=USAGE_EXAMPLE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build a RAG dataset from HotpotQA, 2Wiki, MuSiQue or RAG JSONL")
    source = build.add_argument_group("input and output")
    source.add_argument("--format", default="auto", choices=("auto", *DATASETS),
                        help="dataset of the input (layout checked per record; default: detected)")
    source.add_argument("--input", action="append", default=[],
                        help="a JSON array or JSON Lines file (repeat for several, read in order)")
    source.add_argument("--hub", help="read a datasets.load_dataset name instead (e.g. hotpot_qa)")
    source.add_argument("--hub-config", help="its configuration (e.g. distractor)")
    source.add_argument("--hub-split", default="train", help="its split (default: train)")
    source.add_argument("--hub-data-files", help="data files for a packaged builder (--hub json)")
    source.add_argument("--output", required=True, help=".jsonl, .parquet, or a directory (datasets)")
    source.add_argument("--output-format", choices=("jsonl", "parquet", "dataset"))
    source.add_argument("--on-error", choices=("skip", "stop"), default="skip",
                        help="skip a malformed record (reported) or stop the build")
    source.add_argument("--limit", type=int, help="stop after writing this many rows")
    source.add_argument("--split", choices=("all", "train", "heldout"), default="all")
    source.add_argument("--heldout-fraction", type=float, default=0.2,
                        help="share of source records in the heldout split (default 0.2)")
    source.add_argument("--sft", action="store_true",
                        help="add oracle completions; keep only rows with supporting evidence")
    source.add_argument("--no-titles", action="store_true",
                        help="HotpotQA, 2Wiki, MuSiQue sources without their 'Title: ' (default: with)")
    _add_exercise_arguments(build)
    budget = build.add_argument_group("context budget")
    budget.add_argument("--max-prompt-tokens", type=int,
                        help=f"prompt budget (default {CONTEXT_TOKENS} - --completion-tokens)")
    budget.add_argument("--completion-tokens", type=int, default=COMPLETION_TOKENS)
    budget.add_argument("--max-source-tokens", type=int, help="cap every source to this many tokens")
    budget.add_argument("--no-budget", action="store_true", help="never trim or drop for length")
    budget.add_argument("--tokenizer", help="local tokenizer directory or .gguf file to count tokens "
                                            "(default: estimate, 4 characters per token)")
    stats = commands.add_parser("stats", help="print counts of a RAG JSONL file")
    stats.add_argument("file")
    stats.add_argument("--tokenizer", help="local tokenizer directory or .gguf file")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _add_exercise_arguments(build: argparse.ArgumentParser) -> None:
    group = build.add_argument_group("adversarial exercises (the report's recipe by default)")
    group.add_argument("--seed", type=int, default=DEFAULT_SEED)
    group.add_argument("--no-exercises", action="store_true", help="turn every exercise off")
    group.add_argument("--no-drop", action="store_true", help="keep every source")
    group.add_argument("--max-sources", type=int, default=10, help="keep 1..N sources (default 10)")
    group.add_argument("--drop-supporting-rate", type=float, default=0.0,
                       help="share of rows whose supporting sources may be dropped (then unanswerable)")
    group.add_argument("--shuffle-rate", type=float, default=0.5)
    group.add_argument("--refusal-rate", type=float, default=0.05)
    group.add_argument("--language-rate", type=float, default=0.1,
                       help="share of rows translated (needs --translate-url)")
    group.add_argument("--languages", default="fr,de,it,es", help="target languages (ISO codes)")
    group.add_argument("--translate-url", help="OpenAI-compatible server (vLLM, transformers serve)")
    group.add_argument("--translate-model", default="default", help="model name sent to the server")
    group.add_argument("--translate-cache", help="JSONL translation cache (default: next to the output)")


def exercise_options(args: argparse.Namespace) -> ExerciseOptions:
    """The :class:`ExerciseOptions` chosen on the command line.

    >>> args = build_parser().parse_args(["build", "--output", "o.jsonl", "--no-exercises"])
    >>> exercise_options(args).shuffle_rate
    0.0
    """
    if args.no_exercises:
        return ExerciseOptions.none(args.seed)
    translator = None
    if args.translate_url:
        from pleias_rl.data.translate import ChatTranslator

        cache = args.translate_cache or f"{args.output.rstrip('/')}.translations.jsonl"
        translator = ChatTranslator(args.translate_url, args.translate_model, cache)
    return ExerciseOptions(
        seed=args.seed, drop_sources=not args.no_drop, max_sources=args.max_sources,
        drop_supporting_rate=args.drop_supporting_rate, shuffle_rate=args.shuffle_rate,
        refusal_rate=args.refusal_rate, language_rate=args.language_rate,
        languages=tuple(code.strip() for code in args.languages.split(",") if code.strip()),
        translator=translator)


def run_build(args: argparse.Namespace) -> int:
    """Run ``data build``; print problems and the summary to standard error."""
    from pleias_rl.data.build import BuildError, BuildOptions, BuildReport, build_rows, file_records, iter_hub_records, write_rows
    from pleias_rl.data.translate import TranslationError

    if bool(args.input) == bool(args.hub):
        print("pleias-rl data build: give --input PATH (repeatable) or --hub NAME", file=sys.stderr)
        return 2
    budget = None if args.no_budget else (args.max_prompt_tokens or CONTEXT_TOKENS - args.completion_tokens)
    options = BuildOptions(
        dataset=args.format, exercises=exercise_options(args), max_prompt_tokens=budget,
        max_source_tokens=args.max_source_tokens, token_counter=load_token_counter(args.tokenizer),
        split=args.split, heldout_fraction=args.heldout_fraction, sft=args.sft,
        limit=args.limit, on_error=args.on_error, titles=not args.no_titles)
    if args.hub:
        records: Any = ((f"{args.hub}[{number}]", record) for number, record in
                        iter_hub_records(args.hub, args.hub_config, args.hub_split,
                                                         args.hub_data_files))
    else:
        records = file_records(args.input)
    if options.exercises.language_rate and options.exercises.translator is None and not args.no_exercises:
        print("note: language switching is off (no --translate-url)", file=sys.stderr)
    report = BuildReport()
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # a terminated build removes its .partial
    try:
        write_rows(build_rows(records, options, report), args.output, args.output_format,
                   inputs=args.input, keep_empty=False)
    except (BuildError, EmptyOutput) as error:
        print(f"error: {error}", file=sys.stderr)
        print_report(report)
        return ExitCode.NO_OUTPUT
    except TranslationError as error:
        print(f"error: {error}", file=sys.stderr)
        print_report(report)
        return ExitCode.UNAVAILABLE
    except (OSError, OverwriteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    print_report(report)
    return ExitCode.SKIPPED if report.bad_records else ExitCode.OK


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """A SIGTERM handler that exits through Python, so ``finally`` blocks clean up.

    >>> try:
    ...     stop_on_sigterm(15, None)
    ... except SystemExit as stop:
    ...     stop.code
    143
    """
    raise SystemExit(128 + signum)


def print_report(report: Any) -> None:
    """Print every problem kept by a :class:`pleias_rl.data.build.BuildReport`, then its summary."""
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)


def run_stats(args: argparse.Namespace) -> int:
    """Run ``data stats``: print the figures of a JSONL file; bad lines named on stderr."""
    from pleias_rl.data.stats import dataset_stats, format_stats

    problems: list[str] = []
    try:
        stats = dataset_stats(args.file, load_token_counter(args.tokenizer), problems)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    for problem in problems:
        print(f"bad line {problem}", file=sys.stderr)
    print(json.dumps(stats, ensure_ascii=False, indent=2) if args.json else format_stats(stats))
    return ExitCode.SKIPPED if problems else ExitCode.OK


def main(argv: list[str]) -> int:
    """Entry point of ``pleias-rl data``; returns the exit code.

    >>> main(["stats", "/nonexistent.jsonl"])
    <ExitCode.USAGE: 2>
    """
    args = build_parser().parse_args(argv)
    return run_build(args) if args.command == "build" else run_stats(args)
