"""``pleias-rl eval``: measure a model or a generations file the way the model report does.

::

    pleias-rl eval --generations FILE.jsonl --out-dir DIR [options]
    pleias-rl eval --model MODEL --dataset FILE.jsonl --out-dir DIR [--backend transformers|endpoint|vllm]
    pleias-rl eval --compare DIR [DIR ...] --out-dir DIR [--labels before,after]

Writes into ``--out-dir``: ``summary.json``, ``report.md``, ``scores.jsonl`` (one record per row),
PNG plots, and with ``--model`` the resumable ``generations.jsonl``; the judge's replies go to
``judge_cache.jsonl`` (or ``--judge-cache``). A judge that cannot be reached stops the run before
any generation. Rerunning on the same directory resumes: rows already generated or judged cost
nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from pleias_rl.data.exit_codes import EXIT_CODE_HELP, ExitCode, HelpWithExitCodes
from pleias_rl.data.jsonl import BadLine, OverwriteError, check_not_input, write_jsonl
from pleias_rl.data.schema import read_jsonl

SUMMARY_FILE = "summary.json"
"""Name of the summary inside an output directory."""

OUTPUT_FILES: tuple[str, ...] = (SUMMARY_FILE, "scores.jsonl", "report.md")
"""Files every eval writes into its ``--out-dir`` (none may be an input; with ``--model``,
``generations.jsonl`` neither)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pleias-rl eval``.

    >>> build_parser().parse_args(["--generations", "g.jsonl", "--out-dir", "o"]).max_new_tokens
    2048
    """
    parser = argparse.ArgumentParser(prog="pleias-rl eval", description=__doc__.split("\n\n")[0],
                                     epilog=EXIT_CODE_HELP, formatter_class=HelpWithExitCodes)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--generations", help="JSONL of RAG rows that carry a completion")
    source.add_argument("--model", help="model directory or cached hub id (or the endpoint's model name)")
    source.add_argument("--compare", nargs="+", metavar="DIR", help="finished eval directories to put side by side")
    parser.add_argument("--out-dir", required=True, help="output directory (resumed when it exists)")
    parser.add_argument("--dataset", help="JSONL RAG dataset to generate on (with --model)")
    parser.add_argument("--labels", help="comma-separated run labels for --compare (default: directory names)")
    generation = parser.add_argument_group("generation (with --model)")
    generation.add_argument("--backend", choices=("transformers", "endpoint", "vllm"), default="transformers",
                            help="where generation runs")
    generation.add_argument("--endpoint-url", help="OpenAI-compatible base URL ending in /v1 (--backend endpoint)")
    generation.add_argument("--gguf-file", help="GGUF file inside the --model directory (transformers backend)")
    generation.add_argument("--device", help="transformers backend: cuda, cuda:1, cpu ... (default: cuda when available)")
    generation.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"),
                            help="transformers backend (default: the checkpoint's on GPU, float32 on CPU)")
    generation.add_argument("--max-new-tokens", type=int, default=2048, help="generation limit per row")
    generation.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (upstream default)")
    generation.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (temperature > 0)")
    generation.add_argument("--repetition-penalty", type=float, default=1.0, help="1.0 = none")
    generation.add_argument("--batch-size", type=int, default=8, help="rows per generation batch")
    generation.add_argument("--limit", type=int, help="evaluate only the first N rows")
    scoring = parser.add_argument_group("scoring")
    scoring.add_argument("--rewards", help="comma-separated reward names (default: every registered reward)")
    scoring.add_argument("--judge-url", help="OpenAI-compatible base URL of the LLM judge (chat API)")
    scoring.add_argument("--judge-model", help="judge model name sent to --judge-url")
    scoring.add_argument("--judge-local", help="judge model directory run in process (transformers)")
    scoring.add_argument("--judge-gguf-file", help="GGUF file inside the --judge-local directory")
    scoring.add_argument("--judge-cache", help="judge cache file (default: OUT_DIR/judge_cache.jsonl)")
    scoring.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per judge request")
    scoring.add_argument("--judge-concurrency", type=int, default=4, help="parallel judge requests")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def dump_json(path: str | Path, payload: Any) -> None:
    """Write JSON readably (UTF-8, indented), replacing the file atomically.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.json"); dump_json(path, {"a": 1}); open(path).read()
    '{\\n  "a": 1\\n}\\n'
    """
    target = Path(path)
    staging = target.with_name(target.name + ".tmp")
    staging.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    staging.replace(target)


def build_judge(args: argparse.Namespace, out_dir: Path) -> Any:
    """The judge configured by the options, or ``None`` when no judge is configured.

    >>> build_judge(build_parser().parse_args(["--generations", "g", "--out-dir", "o"]), Path("o")) is None
    True
    """
    from pleias_rl.evaluation.judge import Judge, JudgeCache
    from pleias_rl.inference.client import OpenAIBackend
    from pleias_rl.inference.generator import TransformersBackend

    if args.judge_url and args.judge_local:
        raise SystemExit("pleias-rl eval: give --judge-url or --judge-local, not both")
    if args.judge_url:
        backend = OpenAIBackend(args.judge_url, args.judge_model, timeout=args.judge_timeout,
                                concurrency=args.judge_concurrency)
        name = args.judge_model or args.judge_url
    elif args.judge_local:
        backend = TransformersBackend(args.judge_local, gguf_file=args.judge_gguf_file)
        name = "/".join(filter(None, (args.judge_local, args.judge_gguf_file)))
    else:
        return None
    return Judge(backend, name, JudgeCache(args.judge_cache or out_dir / "judge_cache.jsonl"))


def build_generator(args: argparse.Namespace) -> Any:
    """The generator of ``--model`` for the chosen ``--backend``.

    >>> args = build_parser().parse_args(["--model", "m", "--dataset", "d", "--out-dir", "o",
    ...                                   "--backend", "endpoint", "--endpoint-url", "http://127.0.0.1:9/v1"])
    >>> build_generator(args).name
    'endpoint'
    """
    from pleias_rl.evaluation.generate import (EndpointGenerator, GenerationSettings, TransformersGenerator,
                                     VLLMGenerator)

    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                  top_p=args.top_p, repetition_penalty=args.repetition_penalty)
    if args.backend == "endpoint":
        if not args.endpoint_url:
            raise SystemExit("pleias-rl eval: --backend endpoint needs --endpoint-url")
        return EndpointGenerator(args.endpoint_url, args.model, settings)
    if args.backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise SystemExit("pleias-rl eval: --backend vllm needs vLLM (pip install vllm)")
        return VLLMGenerator(args.model, settings)
    try:
        return TransformersGenerator(args.model, settings, gguf_file=args.gguf_file, device=args.device,
                                     dtype=args.dtype)
    except OSError as error:  # not a model directory, not cached, offline
        raise SystemExit(f"pleias-rl eval: cannot load model {args.model!r}: {error}") from error


def read_rows(path: str, generations: bool, limit: int | None) -> tuple[list[tuple[int, dict]], list[BadLine]]:
    """Valid rows ``(line, row)`` and bad lines of an input file (``limit``: first N valid rows).

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    >>> _ = f.write('{"query": "q", "sources": ["s"]}\\n{"query": ""}\\n'); f.close()
    >>> rows, bad = read_rows(f.name, generations=False, limit=None)
    >>> len(rows), bad[0].line
    (1, 2)
    >>> os.unlink(f.name)
    """
    from pleias_rl.evaluation.generate import load_generations

    lines = load_generations(path) if generations else list(read_jsonl(path))
    rows = [(line, row) for line, row in lines if not isinstance(row, BadLine)]
    bad = [row for _, row in lines if isinstance(row, BadLine)]
    return (rows if limit is None else rows[:limit]), bad


def run_compare(args: argparse.Namespace) -> int:
    """Write the side-by-side report (``report.md``) and ``compare.png`` of finished runs."""
    from pleias_rl.evaluation.plots import compare_plot
    from pleias_rl.evaluation.report import render_compare

    labels = args.labels.split(",") if args.labels else [Path(d).name for d in args.compare]
    if len(labels) != len(args.compare):
        raise SystemExit(f"pleias-rl eval: {len(labels)} labels for {len(args.compare)} directories")
    summaries = []
    for directory in args.compare:
        path = Path(directory) / SUMMARY_FILE
        if not path.exists():
            raise SystemExit(f"pleias-rl eval: {path} not found (run pleias-rl eval into {directory} first)")
        summaries.append(json.loads(path.read_text(encoding="utf-8")))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot = None if args.no_plots else compare_plot(out / "compare.png", labels, summaries)
    (out / "report.md").write_text(render_compare(labels, summaries, plot.name if plot else None),
                                   encoding="utf-8")
    dump_json(out / "compare.json", {"labels": labels, "runs": [str(d) for d in args.compare]})
    print(f"compared {len(labels)} runs -> {out / 'report.md'}")
    return 0


GENERATION_SETUP_FILE = "generation_setup.json"
"""What produced ``generations.jsonl`` (model, backend, decoding); a resume must match it."""


def check_generation_setup(args: argparse.Namespace, out_dir: Path) -> None:
    """Record the generation setup in ``out_dir``, or refuse to resume under a different one.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> args = build_parser().parse_args(["--model", "m1", "--dataset", "d", "--out-dir", str(out)])
    >>> check_generation_setup(args, out); check_generation_setup(args, out)
    >>> args.model = "m2"
    >>> check_generation_setup(args, out)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: pleias-rl eval: .../generations.jsonl was generated with model='m1', not model='m2'; use another --out-dir
    """
    setup = {key: getattr(args, key) for key in ("model", "backend", "gguf_file", "max_new_tokens",
                                                 "temperature", "top_p", "repetition_penalty")}
    path = out_dir / GENERATION_SETUP_FILE
    if path.exists():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        for key, value in setup.items():
            if recorded.get(key) != value:
                raise SystemExit(f"pleias-rl eval: {out_dir / 'generations.jsonl'} was generated with "
                                 f"{key}={recorded.get(key)!r}, not {key}={value!r}; use another --out-dir")
    else:
        dump_json(path, setup)


def generate_rows(args: argparse.Namespace, out_dir: Path) -> tuple[list[tuple[str, dict]], list[BadLine]]:
    """Generate (resuming) every dataset row not yet in ``generations.jsonl``; return keyed rows."""
    from pleias_rl.evaluation.generate import GenerationsFile, generate_missing, row_keys

    rows, bad = read_rows(args.dataset, generations=False, limit=args.limit)
    check_generation_setup(args, out_dir)
    out = GenerationsFile(out_dir)
    keys = row_keys(rows)

    def checked_generator() -> Any:
        generator = build_generator(args)
        if hasattr(generator, "check"):
            generator.check()
        return generator

    tally = generate_missing(rows, checked_generator, out, args.batch_size, progress=not args.quiet)
    if tally.generated or tally.failed:
        print(f"generated {tally.generated} rows ({tally.truncated} cut at --max-new-tokens "
              f"{args.max_new_tokens}, {len(tally.failed)} failed, {len(keys) - tally.generated - len(tally.failed)} "
              f"resumed from {out.path})", file=sys.stderr)
    failed = [BadLine(args.dataset, line, f"generation failed (rerun to retry): {tally.failed[key]}")
              for key, (line, _) in zip(keys, rows) if key in tally.failed]
    return [(key, out.done[key]) for key in keys if key in out.done], bad + failed


def run_eval(args: argparse.Namespace) -> int:
    """Generate (when needed), score, judge, and write summary, scores, report and plots."""
    from pleias_rl.evaluation.generate import row_keys
    from pleias_rl.inference.backend import BackendUnavailable
    from pleias_rl.evaluation.scoring import load_rewards, score_rows

    if args.model and not args.dataset:
        raise SystemExit("pleias-rl eval: --model needs --dataset FILE.jsonl")
    out_dir = Path(args.out_dir)
    for name in (*OUTPUT_FILES, *(("generations.jsonl",) if args.model else ())):
        check_not_input(out_dir / name, filter(None, (args.generations, args.dataset)))
    out_dir.mkdir(parents=True, exist_ok=True)
    rewards = load_rewards(args.rewards.split(",") if args.rewards else None)
    judge = build_judge(args, out_dir)
    try:
        if judge is not None:
            judge.check()  # before any generation is spent
        if args.generations:
            rows, bad = read_rows(args.generations, generations=True, limit=args.limit)
            keyed = list(zip(row_keys(rows), (row for _, row in rows)))
        else:
            keyed, bad = generate_rows(args, out_dir)
    except BackendUnavailable as error:
        print(f"pleias-rl eval: {error}\nNothing was generated or scored after it; fix the server (or "
              "the URL) and rerun (generations already written are kept).", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    for line in bad:
        print(f"pleias-rl eval: skipped {line}", file=sys.stderr)
    records = score_rows(keyed, rewards, judge, progress=not args.quiet)
    summary = write_outputs(args, out_dir, records, len(bad), judge)
    print_overview(summary, out_dir)
    return ExitCode.SKIPPED if bad else ExitCode.OK


def write_outputs(args: argparse.Namespace, out_dir: Path, records: Sequence[dict],
                  skipped: int, judge: Any) -> dict[str, Any]:
    """Write ``scores.jsonl``, ``summary.json``, the plots and ``report.md``; return the summary."""
    from pleias_rl.evaluation.metrics import summarise
    from pleias_rl.evaluation.plots import write_run_plots
    from pleias_rl.evaluation.report import render_report

    write_jsonl(records, out_dir / "scores.jsonl")
    summary = summarise(records)
    summary["run"] = {"generations": args.generations, "model": args.model, "dataset": args.dataset,
                      "backend": None if args.generations else args.backend,
                      "max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
                      "skipped_lines": skipped, "rewards": sorted(records[0]["rewards"]) if records else []}
    summary["judge"] = judge.stats() if judge is not None else None
    dump_json(out_dir / SUMMARY_FILE, summary)
    plots = [] if args.no_plots else write_run_plots(out_dir, summary, records)
    (out_dir / "report.md").write_text(render_report(summary, plots), encoding="utf-8")
    return summary


def print_overview(summary: dict[str, Any], out_dir: Path) -> None:
    """Print the headline measures of a run to standard output.

    >>> from pleias_rl.evaluation.metrics import summarise
    >>> print_overview(summarise([{"rewards": {"format": 0.5}}]), Path("out"))
    evaluated 1 rows -> out
      reward:format            0.500
    """
    from pleias_rl.evaluation.report import fmt, headline

    print(f"evaluated {summary['n']} rows -> {out_dir}")
    for label, value in headline(summary["overall"]).items():
        if value is not None and label != "n":
            print(f"  {label:<24} {fmt(value)}")


def main(argv: list[str] | None = None) -> int:
    """Run ``pleias-rl eval``; returns the exit code (1 when input lines were skipped).

    >>> main(["--compare", "/nonexistent-run", "--out-dir", "/tmp/x"])
    Traceback (most recent call last):
    ...
    SystemExit: pleias-rl eval: /nonexistent-run/summary.json not found (run pleias-rl eval into /nonexistent-run first)
    """
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.compare:
        return run_compare(args)
    try:
        return run_eval(args)
    except (OSError, OverwriteError) as error:  # an unreadable input, or an output over one
        print(f"pleias-rl eval: {error}", file=sys.stderr)
        return ExitCode.USAGE


if __name__ == "__main__":
    sys.exit(main())
