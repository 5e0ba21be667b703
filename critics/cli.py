"""``pleias-rl critique INPUT.jsonl --out-dir DIR [options]``: run the critic loop.

Settings come from a recipe (``--config configs/critic/*.yaml``) overridden by flags. With no
LLM configured only the rule critic runs. Remote backends are health-checked before any work
(exit code 3 when one is down). A rerun on the same DIR resumes by row id: rows whose id is
in DIR's ledger are skipped (and counted on stderr), every other row is processed, whatever
the input file; a row without ``id`` is given one from its content (``row-`` and a hash).
Exit code 1 when input lines were skipped (invalid UTF-8 or JSON, lone surrogates, schema
errors, a repeated id, no completion and no policy) or examples failed to generate; they are
listed on stderr as ``FILE:LINE: problem``. The exit codes: :mod:`pleias_rl.data.exit_codes`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from pleias_rl.data.exit_codes import EXIT_CODE_HELP
from pleias_rl.data.jsonl import BadLine, check_not_input, count_lines
from pleias_rl.data.schema import read_jsonl
from pleias_rl.critics.backends import BackendUnavailable, LLMBackend, make_backend
from pleias_rl.critics.base import Critic
from pleias_rl.critics.loop import CritiqueLoop, LoopSettings, Policy

DEFAULTS: dict[str, Any] = {
    "critics": None, "max_rounds": 3, "regenerate": True, "accept_on_critic_error": False,
    "include_passing": False, "batch_size": 8, "limit": None, "progress": True, "check": True,
    "sync": "example", "rules": {}, "llm": None, "llm_params": {}, "policy": None, "policy_params": {},
}
"""Recipe keys and their defaults (``llm`` and ``policy`` are backend specs, see
:func:`pleias_rl.critics.backends.make_backend`; ``api_key_env`` in a spec names the variable holding
the key)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pleias-rl critique``.

    >>> build_parser().parse_args(["in.jsonl", "--out-dir", "out"]).max_rounds is None
    True
    """
    parser = argparse.ArgumentParser(prog="pleias-rl critique", description=__doc__.split("\n\n")[0],
                                     epilog=EXIT_CODE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="JSONL of RAG examples, with a completion (or use a policy)")
    parser.add_argument("--out-dir", required=True, help="output directory (resumed if it exists)")
    parser.add_argument("--config", help="YAML recipe: a path or a shipped name (critic/rules, critic/openai)")
    parser.add_argument("--critics", help="critic order, comma-separated (default: rules[,llm])")
    parser.add_argument("--max-rounds", type=int, help="revisions per example (default 3)")
    parser.add_argument("--batch-size", type=int, help="examples processed together (default 8)")
    parser.add_argument("--limit", type=int, help="stop after this many input rows")
    parser.add_argument("--include-passing", action="store_true", default=None,
                        help="also write initially passing completions to sft.jsonl")
    parser.add_argument("--accept-on-critic-error", action="store_true", default=None,
                        help="accept outputs a critic could not judge (default: reject)")
    parser.add_argument("--no-gold-repair", action="store_true",
                        help="never rewrite an output from the row's gold evidence")
    parser.add_argument("--llm-url", help="OpenAI-compatible base URL of the LLM critic (…/v1)")
    parser.add_argument("--llm-model", help="model name sent to the LLM critic endpoint")
    parser.add_argument("--llm-api-key-env", help="environment variable holding the API key")
    parser.add_argument("--llm-timeout", type=float, help="seconds per LLM request attempt")
    parser.add_argument("--llm-concurrency", type=int, help="LLM requests in flight")
    parser.add_argument("--llm-max-requests", type=int, help="LLM request budget")
    parser.add_argument("--policy-url", help="OpenAI-compatible base URL of the policy (text completions)")
    parser.add_argument("--policy-model", help="policy model name (with --policy-url) or local path")
    parser.add_argument("--policy-gguf", help="GGUF file inside --policy-model (in-process policy)")
    parser.add_argument("--policy-max-tokens", type=int, help="tokens per policy generation (default 2048)")
    parser.add_argument("--no-regenerate", action="store_true", help="never ask the policy to regenerate")
    parser.add_argument("--sync", choices=["example", "batch"],
                        help="fsync after every example (default) or every batch (flushed per example)")
    parser.add_argument("--no-check", action="store_true", help="skip the backend health checks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def load_config(path: str | None) -> dict[str, Any]:
    """A recipe's settings over :data:`DEFAULTS`; unknown keys are an error naming them.

    >>> load_config(None)["max_rounds"]
    3
    """
    config = {key: (dict(value) if isinstance(value, dict) else value) for key, value in DEFAULTS.items()}
    if path is None:
        return config
    import yaml

    from pleias_rl.data.resources import config_path

    path = str(config_path(path))
    loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: a critic recipe must be a mapping")
    unknown = sorted(set(loaded) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {', '.join(sorted(DEFAULTS))}")
    config.update(loaded)
    return config


def apply_flags(config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Override recipe settings with the flags that were given.

    >>> args = build_parser().parse_args(["i", "--out-dir", "o", "--llm-url", "http://h/v1", "--max-rounds", "1"])
    >>> c = apply_flags(load_config(None), args); c["max_rounds"], c["llm"]["base_url"]
    (1, 'http://h/v1')
    """
    simple = {"max_rounds": args.max_rounds, "batch_size": args.batch_size, "limit": args.limit,
              "include_passing": args.include_passing, "sync": args.sync, "accept_on_critic_error": args.accept_on_critic_error}
    config.update({key: value for key, value in simple.items() if value is not None})
    if args.critics:
        config["critics"] = [name.strip() for name in args.critics.split(",") if name.strip()]
    if args.no_gold_repair:
        config["rules"] = {**config["rules"], "repair_with_gold": False}
    config["regenerate"] = config["regenerate"] and not args.no_regenerate
    config["check"] = config["check"] and not args.no_check
    config["progress"] = config["progress"] and not args.no_progress
    llm = {"base_url": args.llm_url, "model": args.llm_model, "api_key_env": args.llm_api_key_env,
           "timeout": args.llm_timeout, "concurrency": args.llm_concurrency, "max_requests": args.llm_max_requests}
    llm = {key: value for key, value in llm.items() if value is not None}
    if llm:
        config["llm"] = {"type": "openai", **(config["llm"] or {}), **llm}
    if args.policy_url:
        config["policy"] = {"type": "openai", "mode": "text", "base_url": args.policy_url,
                            "model": args.policy_model}
    elif args.policy_model:
        config["policy"] = {"type": "transformers", "model": args.policy_model, "gguf_file": args.policy_gguf}
    if args.policy_max_tokens is not None:
        config["policy_params"] = {**config["policy_params"], "max_tokens": args.policy_max_tokens}
    return config


def backend_from_spec(spec: Mapping[str, Any]) -> LLMBackend:
    """A backend from a recipe spec, resolving ``api_key_env`` to the key in the environment.

    >>> backend_from_spec({"type": "openai", "base_url": "http://h/v1", "api_key_env": "NO_SUCH_VAR"}).api_key is None
    True
    """
    options = dict(spec)
    variable = options.pop("api_key_env", None)
    if variable and options.get("type", "openai") == "openai":
        options["api_key"] = os.environ.get(variable)
    return make_backend(options)


def build_critics(config: Mapping[str, Any]) -> tuple[list[Critic], list[LLMBackend]]:
    """The critics in the configured order, and the backends they use.

    >>> [c.name for c in build_critics(load_config(None))[0]]
    ['rules']
    """
    from pleias_rl.critics.rules import RuleCritic

    names = config["critics"] or (["rules", "llm"] if config["llm"] else ["rules"])
    critics: list[Critic] = []
    backends: list[LLMBackend] = []
    for name in names:
        if name == "rules":
            critics.append(RuleCritic(**config["rules"]))
        elif name == "llm":
            if not config["llm"]:
                raise ValueError("critic 'llm' needs an LLM backend (--llm-url or 'llm:' in the recipe)")
            from pleias_rl.critics.llm import LLMCritic

            backend = backend_from_spec(config["llm"])
            backends.append(backend)
            critics.append(LLMCritic(backend, **config["llm_params"]))
        else:
            raise ValueError(f"unknown critic {name!r}; use rules, llm")
    return critics, backends


def count_rows(path: str, limit: int | None) -> int:
    """Non-blank lines of the input (the progress bar's total), capped at ``limit``.

    >>> import tempfile
    >>> path = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False).name
    >>> _ = open(path, "w").write('{"a": 1}\\n\\n{"b": 2}\\n')
    >>> count_rows(path, None), count_rows(path, 1)
    (2, 1)
    """
    count = count_lines(path)
    return count if limit is None else min(count, limit)


def row_id(row: dict[str, Any]) -> str:
    """The id a row is resumed by: its ``id``, else ``row-`` and a hash of its content.

    >>> row_id({"id": 7}), row_id({"query": "q", "sources": []})
    ('7', 'row-a4f1c2a3a7758481d4f4')
    """
    if row.get("id") is not None:
        return str(row["id"])
    content = json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return "row-" + hashlib.sha256(content).hexdigest()[:20]


def batches(path: str, done: set[str], size: int, limit: int | None, skipped: list[str],
            resumed: list[int]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Batches of ``(line, row)`` whose :func:`row_id` is not in ``done`` (each row gets its
    ``id``); bad lines and repeated ids are appended to ``skipped``, the lines of rows already
    done to ``resumed``.

    >>> import tempfile
    >>> path = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False).name
    >>> _ = open(path, "w").write("".join(f'{{"id": "r{n}", "query": "q", "sources": []}}\\n{{bad\\n' for n in range(3)))
    >>> skipped, resumed = [], []
    >>> [[line for line, _ in batch] for batch in batches(path, {"r1"}, 1, None, skipped, resumed)]
    [[1], [5]]
    >>> len(skipped), resumed
    (3, [3])
    """
    batch: list[tuple[int, dict[str, Any]]] = []
    first_line: dict[str, int] = {}
    for position, (line, row) in enumerate(read_jsonl(path)):
        if limit is not None and position >= limit:
            break
        if isinstance(row, BadLine):
            skipped.append(str(row))
            continue
        key = row_id(row)
        if key in first_line:
            skipped.append(f"{path}:{line}: field id: {key!r} repeats line {first_line[key]} "
                           "(ids must be unique: resuming goes by id)")
            continue
        first_line[key] = line
        if key in done:
            resumed.append(line)
            continue
        batch.append((line, {**row, "id": key}))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def resume_note(out_dir: str, done: set[str], input_ids: int) -> str | None:
    """What a rerun into a used ``out_dir`` does, for standard error (``None`` when fresh).

    >>> resume_note("out", set(), 3) is None
    True
    >>> resume_note("out", {"a", "b"}, 2)
    'resuming out: 2 rows already done (by id) are skipped'
    """
    if not done:
        return None
    if not input_ids:
        return (f"note: {out_dir} holds {len(done)} examples of other rows (other ids); this "
                "input's rows are processed and added")
    return f"resuming {out_dir}: {input_ids} rows already done (by id) are skipped"


def run(input_path: str, out_dir: str, config: Mapping[str, Any]) -> int:
    """Run the loop over ``input_path`` into ``out_dir``; return the exit code.

    >>> import tempfile, os
    >>> out = tempfile.mkdtemp(); path = os.path.join(out, "in.jsonl")
    >>> _ = open(path, "w").write('{"id": "x", "query": "Who?", "sources": ["Ann."], "completion": "Ann."}\\n')
    >>> run(path, os.path.join(out, "o"), {**load_config(None), "progress": False})
    0
    >>> sorted(os.listdir(os.path.join(out, "o")))[:3]
    ['examples.jsonl', 'failures.jsonl', 'preferences.jsonl']
    """
    from tqdm import tqdm

    from pleias_rl.critics.output import LEDGER, OUTPUT_FILES, OutputDir
    from pleias_rl.critics.report import write_report

    for name in (*OUTPUT_FILES, LEDGER):
        check_not_input(Path(out_dir) / name, [input_path])
    critics, backends = build_critics(config)
    policy = None
    if config["policy"]:
        policy_backend = backend_from_spec(config["policy"])
        backends.append(policy_backend)
        policy = Policy(policy_backend, **config["policy_params"])
    if config["check"]:
        for backend in backends:
            try:
                backend.check()
            except BackendUnavailable as error:
                print(f"pleias-rl critique: backend unavailable: {error}", file=sys.stderr)
                return 3
    settings = LoopSettings(max_rounds=config["max_rounds"], regenerate=config["regenerate"],
                            accept_on_critic_error=config["accept_on_critic_error"],
                            include_passing=config["include_passing"], batch_size=config["batch_size"])
    loop = CritiqueLoop(critics, policy, settings)
    output = OutputDir(out_dir, include_passing=settings.include_passing, sync=config["sync"])
    done = {str(entry["id"]) for entry in output.ledger()}
    skipped: list[str] = []
    resumed: list[int] = []
    progress = tqdm(total=count_rows(input_path, config["limit"]), unit="ex", file=sys.stderr,
                    disable=not config["progress"], smoothing=0.1)
    stopped: BackendUnavailable | None = None
    try:
        for batch in batches(input_path, done, settings.batch_size, config["limit"], skipped, resumed):
            for result in loop.run_batch(batch):
                if result.error is not None and not result.initial:
                    skipped.append(f"{input_path}:{result.line}: {result.error}")
                else:
                    output.write(result)
                progress.update(1)
            if config["sync"] == "batch":
                output.sync()
    except BackendUnavailable as error:  # e.g. a policy server that drops the Pleias tags
        stopped = error
    finally:
        progress.close()
        output.close()
    stats = {f"{backend.name}.{key}": value for backend in backends if hasattr(backend, "stats")
             for key, value in backend.stats.as_dict().items()}
    summary = write_report(out_dir, stats or None)
    note = resume_note(out_dir, done, len(resumed))
    if note:
        print(note, file=sys.stderr)
    for problem in skipped:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"{summary['n']} examples, {summary['accepted']} accepted ({summary['corrected']} corrected), "
          f"{sum(summary['by_kind'].values())} failures recorded -> {out_dir}", file=sys.stderr)
    if stopped is not None:
        print(f"pleias-rl critique: stopped: {stopped}", file=sys.stderr)
        return 3
    return 1 if skipped else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pleias-rl critique``; returns the exit code.

    >>> main(["/nonexistent.jsonl", "--out-dir", "/tmp/never", "--no-progress", "--max-rounds", "1"])
    2
    """
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        config = apply_flags(load_config(args.config), args)
        return run(args.input, args.out_dir, config)
    except (ValueError, OSError) as error:
        print(f"pleias-rl critique: {error}", file=sys.stderr)
        return 2
