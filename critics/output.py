"""The loop's output directory: crash-safe append-only JSONL, resume, and the ledger.

Files (contracts.md, ``pleias-rl critique``):

- ``sft.jsonl``: ``id``, ``prompt``, ``completion`` — verified corrected outputs;
- ``preferences.jsonl``: ``id``, ``prompt``, ``chosen``, ``rejected`` — TRL DPO columns;
- ``failures.jsonl``: ``id``, ``round``, ``kind``, ``critic``, ``detail`` (+ ``language``);
- ``examples.jsonl``: the ledger, one line per finished example (input line, id, language,
  acceptance, rounds, rewards before/after, and the size of every output file after it).

Per example, the output lines and then the ledger line are appended and flushed, and every
file written is fsynced (``sync="example"``, the default); the fsyncs run in parallel threads,
which the file system commits together (about one fsync's cost instead of four). A flushed
line is already in the operating system's hands, so ``kill -9`` cannot lose it; the fsync also
survives a power cut. ``sync="batch"`` flushes per example and fsyncs once per batch
(:meth:`OutputDir.sync`): still exact under ``kill -9``, and faster on slow disks.

On opening an existing directory, the last complete ledger line whose recorded sizes the data
files really reach is the resume point: every file is truncated back to it, so whatever a crash
left half written (the example in flight) disappears and the rerun redoes exactly the missing
examples.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Iterator

from pleias_rl.data.schema import write_jsonl_line
from pleias_rl.critics.loop import ExampleResult

OUTPUT_FILES: tuple[str, ...] = ("sft.jsonl", "preferences.jsonl", "failures.jsonl")
"""The data files, in the order they are written for each example."""

LEDGER = "examples.jsonl"
"""The per-example ledger that makes resuming exact."""

SYNC_MODES: tuple[str, ...] = ("example", "batch")
"""When files are fsynced: after every example, or after every batch (always flushed per example)."""


class OutputDir:
    """Open (or resume) an output directory; :meth:`write` one finished example at a time.

    >>> import tempfile
    >>> out = OutputDir(tempfile.mkdtemp())
    >>> sorted(out.done), out.sizes["sft.jsonl"]
    ([], 0)
    >>> out.close()
    """

    def __init__(self, path: str | Path, include_passing: bool = False, sync: str = "example") -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        self.sync_mode = sync
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.include_passing = include_passing
        self.done: set[int] = set()
        self.sizes: dict[str, int] = {name: 0 for name in OUTPUT_FILES}
        self._recover()
        self._pool = ThreadPoolExecutor(max_workers=len(OUTPUT_FILES) + 1, thread_name_prefix="fsync")
        self._handles: dict[str, IO[str]] = {
            name: open(self.path / name, "a", encoding="utf-8") for name in (*OUTPUT_FILES, LEDGER)}

    def _recover(self) -> None:
        """Read the ledger; cut every file back to the last fully recorded example."""
        ledger = self.path / LEDGER
        actual = {name: _size(self.path / name) for name in OUTPUT_FILES}
        good_bytes = 0
        if ledger.exists():
            with open(ledger, "rb") as handle:
                for raw in handle:
                    entry = _complete_json_line(raw)
                    if entry is None:
                        break
                    sizes = {name: int(entry["sizes"].get(name, 0)) for name in OUTPUT_FILES}
                    if any(sizes[name] > actual[name] for name in OUTPUT_FILES):
                        break  # the ledger got to disk before that example's data did
                    good_bytes += len(raw)
                    self.done.add(int(entry["line"]))
                    self.sizes = sizes
            _truncate(ledger, good_bytes)
        for name in OUTPUT_FILES:
            _truncate(self.path / name, self.sizes[name])

    def write(self, result: ExampleResult) -> None:
        """Append one example's rows durably, then its ledger line."""
        rows = self.rows_for(result)
        written = [name for name in OUTPUT_FILES if rows[name]]
        for name in written:
            handle = self._handles[name]
            for row in rows[name]:
                write_jsonl_line(handle, row)
            handle.flush()
            self.sizes[name] = os.fstat(handle.fileno()).st_size
        entry = {"line": result.line, "id": result.id, "language": result.language,
                 "accepted": result.accepted, "initially_passed": result.initially_passed,
                 "rounds": result.rounds, "revised_by": result.revised_by, "error": result.error,
                 "rewards_before": result.rewards_before, "rewards_after": result.rewards_after,
                 "sizes": dict(self.sizes)}
        write_jsonl_line(self._handles[LEDGER], entry)
        self._handles[LEDGER].flush()
        if self.sync_mode == "example":
            self._fsync([*written, LEDGER])
        self.done.add(result.line)

    def _fsync(self, names: list[str]) -> None:
        descriptors = [self._handles[name].fileno() for name in names]
        list(self._pool.map(os.fsync, descriptors))

    def sync(self) -> None:
        """Flush and fsync every file."""
        for handle in self._handles.values():
            handle.flush()
        self._fsync([*OUTPUT_FILES, LEDGER])

    def rows_for(self, result: ExampleResult) -> dict[str, list[dict[str, Any]]]:
        """The rows an example contributes to each data file.

        A corrected example gives an SFT row and a preference pair (accepted revision over the
        rejected initial completion); an initially passing one gives an SFT row only with
        ``include_passing``.
        """
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in OUTPUT_FILES}
        rows["failures.jsonl"] = list(result.failures)
        if result.final is None or (result.initially_passed and not self.include_passing):
            return rows
        rows["sft.jsonl"].append({"id": result.id, "prompt": result.prompt, "completion": result.final})
        if not result.initially_passed:
            rows["preferences.jsonl"].append({"id": result.id, "prompt": result.prompt,
                                              "chosen": result.final, "rejected": result.initial})
        return rows

    def close(self) -> None:
        """Fsync and close every file."""
        self.sync()
        for handle in self._handles.values():
            handle.close()
        self._pool.shutdown()

    def ledger(self) -> Iterator[dict[str, Any]]:
        """Every ledger entry written so far (this run and earlier ones)."""
        yield from read_rows(self.path / LEDGER)


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON rows of a JSONL file (missing file: nothing).

    >>> list(read_rows(Path("/nonexistent.jsonl")))
    []
    """
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _complete_json_line(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        entry = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return entry if isinstance(entry, dict) and "line" in entry and "sizes" in entry else None


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _truncate(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size > size:
        with open(path, "r+b") as handle:
            handle.truncate(size)
            os.fsync(handle.fileno())

