"""Build RAG training and evaluation sets: read, split, exercise, fit the budget, write.

The pipeline streams: records are read one at a time (:func:`pleias_rl.data.readers.iter_records` or a
Hub dataset in streaming mode), turned into rows, filtered by split, passed through the
adversarial exercises (:mod:`pleias_rl.data.exercises`), fitted to the token budget
(:mod:`pleias_rl.data.budget`), given their ``prompt`` (and, for SFT sets, an oracle ``completion`` from
:mod:`pleias_rl.data.targets`), and written line by line. Everything is deterministic for a seed.

A malformed record (or one in an unsupported layout) is reported as ``file:line: problem``
and skipped or stops the build (``on_error``); rows that cannot fit the budget are skipped and
reported the same way; the :class:`BuildReport` counts everything, so nothing is silently lost.
Outputs are written beside the target (``NAME.partial``, ``NAME.partial.d``) and renamed at
the end, so a killed build leaves the previous output intact; the next build replaces what
the killed one left.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from pleias_rl.data.budget import DEFAULT_PROMPT_TOKENS, BudgetError, TokenCounter, estimate_tokens, fit_to_budget
from pleias_rl.data.exercises import ExerciseOptions, ExerciseRunner
from pleias_rl.data.format import build_prompt
# write_jsonl is also imported from here (quickstart, benchmarks).
from pleias_rl.data.jsonl import BadLine, check_not_input, partial_path, write_jsonl
from pleias_rl.data.readers import RecordError, UnsupportedLayout, convert_record, iter_records, quotable_pieces
from pleias_rl.data.schema import source_texts

OUTPUT_FORMATS: tuple[str, ...] = ("jsonl", "parquet", "dataset")
"""Output kinds: JSON Lines, Parquet, or a ``datasets`` directory (``save_to_disk``)."""

MAX_REPORTED = 20
"""How many problems of each kind the report keeps verbatim (all are counted)."""


class BuildError(RuntimeError):
    """The build stopped on a malformed record (``on_error="stop"``); names file and line.

    >>> str(BuildError("in.jsonl:3: not valid JSON"))
    'in.jsonl:3: not valid JSON'
    """


@dataclass(frozen=True)
class BuildOptions:
    """Everything that decides the rows a build writes.

    ``dataset``: ``auto`` or a name of :data:`pleias_rl.data.readers.DATASETS`; ``split``: ``all``, or
    ``train``/``heldout`` by a hash of each record's id (``heldout_fraction`` of records are
    held out, so the two splits never share a source record); ``sft``: add the oracle
    ``completion`` and keep only rows with supporting evidence; ``max_prompt_tokens``:
    ``None`` turns the budget off; ``limit``: stop after that many rows written; ``titles``:
    render HotpotQA, 2Wiki and MuSiQue sources ``Title: text``.

    >>> BuildOptions().max_prompt_tokens, BuildOptions().exercises.seed
    (3072, 1234)
    """

    dataset: str = "auto"
    exercises: ExerciseOptions = field(default_factory=ExerciseOptions)
    max_prompt_tokens: int | None = DEFAULT_PROMPT_TOKENS
    max_source_tokens: int | None = None
    token_counter: TokenCounter = estimate_tokens
    split: str = "all"
    heldout_fraction: float = 0.0
    sft: bool = False
    limit: int | None = None
    on_error: str = "skip"
    titles: bool = True


@dataclass
class BuildReport:
    """Counts of one build, and the first :data:`MAX_REPORTED` problems of each kind.

    >>> report = BuildReport(read=3, written=2); report.malformed = 1
    >>> print(report.summary())
    read 3 records, wrote 2 rows; skipped 1 malformed, 0 in an unsupported layout, 0 over budget, 0 without SFT evidence; 0 in the other split
    """

    read: int = 0
    written: int = 0
    malformed: int = 0
    unsupported: int = 0
    over_budget: int = 0
    no_evidence: int = 0
    other_split: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, kind: str, message: str) -> None:
        """Count a problem of ``kind`` (an attribute name) and keep its message."""
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.problems) < MAX_REPORTED * 3:
            self.problems.append(message)

    def summary(self) -> str:
        """One line saying what was read, written and skipped."""
        return (f"read {self.read} records, wrote {self.written} rows; skipped {self.malformed} "
                f"malformed, {self.unsupported} in an unsupported layout, {self.over_budget} over "
                f"budget, {self.no_evidence} without SFT evidence; {self.other_split} in the other split")

    @property
    def bad_records(self) -> int:
        """Records skipped because they could not be read or converted.

        >>> BuildReport(malformed=2, unsupported=1, over_budget=5).bad_records
        3
        """
        return self.malformed + self.unsupported


def heldout_share(seed: int, record_key: str) -> float:
    """A stable number in [0, 1) for a record: it is held out when below the fraction.

    >>> 0 <= heldout_share(1234, "hotpotqa/5a8b57f2") < 1
    True
    """
    digest = hashlib.sha256(f"{seed}/{record_key}".encode()).hexdigest()
    return int(digest[:12], 16) / 16 ** 12


def _in_split(row: dict[str, Any], where: str, options: BuildOptions) -> bool:
    if options.split == "all":
        return True
    key = f"{row['meta']['dataset']}/{row['id'] or where}"
    held_out = heldout_share(options.exercises.seed, key) < options.heldout_fraction
    return held_out == (options.split == "heldout")


def iter_hub_records(name: str, config: str | None = None, split: str = "train",
                     data_files: Any = None) -> Iterator[tuple[int, Any]]:
    """Stream ``(row_number, record)`` from ``datasets.load_dataset`` in streaming mode.

    Works with a Hub dataset (``"hotpot_qa", "distractor"``) where the Hub is reachable, and
    with local files through a packaged builder (``"json", data_files=...``).
    """
    from datasets import load_dataset

    dataset = load_dataset(name, config, split=split, data_files=data_files, streaming=True)
    for number, record in enumerate(dataset, start=1):
        yield number, record


RecordStream = Iterable[tuple[str, Any]]
"""``(where, record)`` pairs: ``where`` names the file and line (or Hub row) of a record."""


def file_records(paths: Iterable[str | Path]) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` from local files, one after the other.

    >>> list(file_records([]))
    []
    """
    for path in paths:
        for line, record in iter_records(path):
            yield f"{path}:{line}", record


def build_rows(records: RecordStream, options: BuildOptions,
               report: BuildReport | None = None) -> Iterator[dict[str, Any]]:
    """Turn ``(where, record)`` pairs into finished rows (a generator; see the module doc).

    >>> rows = build_rows([("mem:1", {"query": "Who?", "sources": ["Ann did."]})],
    ...                   BuildOptions(exercises=ExerciseOptions.none()))
    >>> next(rows)["prompt"].splitlines()[1]
    '<|source_start|><|source_id|>1 Ann did.<|source_end|>'
    """
    report = BuildReport() if report is None else report
    runner = ExerciseRunner(options.exercises)
    for where, record in records:
        if options.limit is not None and report.written >= options.limit:
            return
        report.read += 1
        row = _convert(where, record, options, report)
        if row is None:
            continue
        if not _in_split(row, where, options):
            report.other_split += 1
            continue
        row = runner(row, report.read - report.other_split - 1)
        finished = _finish(where, row, options, report)
        if finished is not None:
            report.written += 1
            yield finished


def _convert(where: str, record: Any, options: BuildOptions, report: BuildReport) -> dict[str, Any] | None:
    if isinstance(record, BadLine):
        return _skip(str(record), "malformed", options, report)
    try:
        return convert_record(record, options.dataset, options.titles)
    except RecordError as error:
        kind = "unsupported" if isinstance(error, UnsupportedLayout) else "malformed"
        return _skip(f"{where}: {error}", kind, options, report)


def _skip(message: str, kind: str, options: BuildOptions, report: BuildReport) -> None:
    if options.on_error == "stop":
        raise BuildError(message)
    report.note(kind, message)


def _finish(where: str, row: dict[str, Any], options: BuildOptions,
            report: BuildReport) -> dict[str, Any] | None:
    if options.max_prompt_tokens is not None:
        try:
            row = fit_to_budget(row, options.max_prompt_tokens, options.token_counter,
                                options.max_source_tokens)
        except BudgetError as error:
            report.note("over_budget", f"{where}: {error}")
            return None
    row["prompt"] = build_prompt(row["query"], source_texts(row["sources"]))
    if options.sft:
        from pleias_rl.data.targets import oracle_completion, supporting_evidence

        row = with_quotable_evidence(row)
        if not row["answerable"] or not supporting_evidence(row):
            report.note("no_evidence", f"{where}: no supporting evidence for an SFT target")
            return None
        row["completion"] = oracle_completion(row)
    return row


def with_quotable_evidence(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its supporting sentences split into quotable pieces
    (:func:`pleias_rl.data.readers.quotable_pieces`), the evidence an SFT target quotes.

    >>> row = {"answer": "Hall", "meta": {"supporting_sentences": [[1, "A b c. D e f."]]}}
    >>> with_quotable_evidence(row)["meta"]["supporting_sentences"]
    [[1, 'A b c.'], [1, 'D e f.']]
    """
    answer = str(row.get("answer") or "")
    pieces = [[source_id, piece] for source_id, sentence in row["meta"]["supporting_sentences"]
              for piece in quotable_pieces(sentence, answer)]
    return {**row, "meta": {**row["meta"], "supporting_sentences": pieces}}


def output_format(path: str | Path, given: str | None = None) -> str:
    """The output kind: ``given``, else from the suffix (``.parquet``; ``.jsonl``/``.json``;
    anything else is a ``datasets`` directory).

    >>> output_format("x.parquet"), output_format("out/rl.jsonl"), output_format("out/rl_ds")
    ('parquet', 'jsonl', 'dataset')
    """
    if given:
        return given
    suffix = Path(path).suffix.lower()
    return {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix, "dataset")


def write_rows(rows: Iterable[dict[str, Any]], path: str | Path, kind: str | None = None,
               inputs: Iterable[str | Path] = (), keep_empty: bool = True) -> int:
    """Write rows as JSON Lines, Parquet or a ``datasets`` directory; returns the row count.

    Never over an input (:class:`pleias_rl.data.jsonl.OverwriteError`); with ``keep_empty``
    false, no row raises :class:`pleias_rl.data.jsonl.EmptyOutput` and nothing is replaced.
    Parquet and ``datasets`` outputs go through a JSON Lines file in a scratch directory
    ``NAME.partial.d`` beside the output (removed at the end, or by the next build after a
    kill), loaded by ``datasets.load_dataset("json")`` (the way the trainers read our files),
    so memory stays flat and column types are those the trainers will see.

    >>> import tempfile, os; path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> write_rows([{"a": 1}], path), open(path).read()
    (1, '{"a": 1}\\n')
    """
    kind = output_format(path, kind)
    inputs = list(inputs)
    if kind == "jsonl":
        return write_jsonl(rows, path, inputs, keep_empty)
    if kind not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {kind!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    from datasets import load_dataset

    path = Path(path)
    check_not_input(path, inputs)
    scratch = Path(f"{partial_path(path)}.d")
    shutil.rmtree(scratch, ignore_errors=True)  # left by a killed build
    try:
        count = write_jsonl(rows, scratch / "rows.jsonl", inputs, keep_empty)
        dataset = load_dataset("json", data_files=str(scratch / "rows.jsonl"), split="train",
                               cache_dir=str(scratch / "cache"))
        if kind == "parquet":
            dataset.to_parquet(str(scratch / "rows.parquet"))
            (scratch / "rows.parquet").replace(path)
        else:
            dataset.save_to_disk(str(scratch / "dataset"))
            if path.exists():
                shutil.rmtree(path)
            (scratch / "dataset").replace(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return count


def build_dataset(inputs: str | Path | Iterable[str | Path], options: BuildOptions | None = None,
                  report: BuildReport | None = None, **option_values: Any) -> Any:
    """Build rows from local files and return them as an in-memory ``datasets.Dataset``.

    Options come as a :class:`BuildOptions` or as its field names. For sets larger than
    memory, stream with :func:`build_rows` and :func:`write_rows` instead.

    >>> from pathlib import Path
    >>> raw = Path(__file__).parent / "samples/raw/hotpotqa_train_sample100.json"
    >>> dataset = build_dataset(raw, limit=5)
    >>> dataset.num_rows, sorted(dataset.column_names)[:4]
    (5, ['answer', 'answer_aliases', 'answerable', 'id'])
    """
    from datasets import load_dataset

    options = options or BuildOptions(**option_values)
    paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    with tempfile.TemporaryDirectory() as scratch:
        jsonl = Path(scratch) / "rows.jsonl"
        write_jsonl(build_rows(file_records(paths), options, report), jsonl)
        return load_dataset("json", data_files=str(jsonl), split="train", keep_in_memory=True,
                            cache_dir=str(Path(scratch) / "cache"))
