"""Generate completions for a RAG dataset and keep them in an append-only, resumable file.

Generators (all greedy by default, as upstream: temperature 0, max 2048 new tokens, stop at EOS,
decoded with special tokens kept so ``<|source_id|>`` survives in citations):

- :class:`TransformersGenerator`: a local or hub-cached model run in process, batched;
- :class:`EndpointGenerator`: an OpenAI-compatible server, completions API with the raw prompt;
- :class:`VLLMGenerator`: vLLM when installed.

:class:`GenerationsFile` is ``generations.jsonl`` in the output directory: one line per row (the
input row plus ``key``, ``completion``, ``finish_reason``, ``completion_tokens``), appended as
soon as a batch is done, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from pleias_rl.data.schema import BadLine, read_jsonl, write_jsonl_line

GENERATIONS_FILE = "generations.jsonl"
"""Name of the generations file inside the output directory."""


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; the defaults are upstream's (greedy, 2048 new tokens, EOS only).

    >>> GenerationSettings().greedy, GenerationSettings(temperature=0.7).greedy
    (True, False)
    """

    max_new_tokens: int = 2048
    temperature: float = 0.0
    top_p: float = 0.95
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        """True when decoding is greedy (temperature 0)."""
        return self.temperature <= 0.0


@dataclass(frozen=True)
class Generation:
    """One generated completion: text, why it stopped (``stop``, ``length`` or ``None`` when
    unknown), and its token count when known.

    >>> Generation("English<|language_end|>", "length", 5).finish_reason
    'length'
    """

    completion: str
    finish_reason: str | None
    completion_tokens: int | None = None


class Generator(Protocol):
    """Anything that turns a batch of prompts into completions (see :func:`generate_missing`)."""

    name: str

    def generate(self, prompts: Sequence[str]) -> list[Generation]:
        """Generate one completion per prompt."""
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


def generate_missing(rows: Sequence[tuple[int, Mapping[str, Any]]], make_generator: Callable[[], Generator],
                     out: GenerationsFile, batch_size: int, progress: bool = True) -> int:
    """Generate the rows not yet in ``out``, batch by batch; return how many were generated.

    ``make_generator`` is called only when some row is missing (a resumed run loads no model).

    >>> import tempfile
    >>> class Echo:
    ...     name = "echo"
    ...     def generate(self, prompts):
    ...         return [Generation("English<|language_end|>", "stop", 2) for _ in prompts]
    >>> out = GenerationsFile(tempfile.mkdtemp())
    >>> rows = [(1, {"id": "a", "prompt": "p"}), (2, {"id": "b", "prompt": "p"})]
    >>> generate_missing(rows, Echo, out, 8, progress=False), generate_missing(rows, None, out, 8, progress=False)
    (2, 0)
    """
    from tqdm.auto import tqdm

    todo = [(key, row) for key, (_, row) in zip(row_keys(rows), rows) if key not in out.done]
    if not todo:
        return 0
    generator = make_generator()
    bar = tqdm(total=len(todo), desc=f"generating ({generator.name})", unit="row", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        generations = generator.generate([row["prompt"] for _, row in batch])
        for (key, row), generation in zip(batch, generations):
            out.append(row, key, generation)
        bar.update(len(batch))
    bar.close()
    return len(todo)


@dataclass
class TransformersGenerator:
    """Generate in process with transformers: left-padded batches, greedy by default.

    ``model`` is a local directory or a hub id already cached (no download is attempted when
    ``HF_HUB_OFFLINE`` is set); ``gguf_file`` loads a GGUF checkpoint inside that directory. The
    model is loaded by :class:`pleias_rl.critics.backends.TransformersBackend`, on the GPU when there is one
    (checkpoint dtype) and in float32 on the CPU, unless ``device``/``dtype`` say otherwise.

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
        import torch

        from pleias_rl.critics.backends import TransformersBackend
        from pleias_rl.rl.model import stop_token_ids

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = self.dtype or ("auto" if device.startswith("cuda") else "float32")
        self.model, self.tokenizer = TransformersBackend(
            self.model_path, gguf_file=self.gguf_file, device=device, dtype=dtype).load()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_ids = stop_token_ids(self.model, self.tokenizer)

    def generate(self, prompts: Sequence[str]) -> list[Generation]:
        """Generate one completion per prompt (stops at EOS or ``max_new_tokens``)."""
        import torch

        batch = self.tokenizer(list(prompts), return_tensors="pt", padding=True).to(self.model.device)
        options: dict[str, Any] = {"max_new_tokens": self.settings.max_new_tokens,
                                   "do_sample": not self.settings.greedy,
                                   "repetition_penalty": self.settings.repetition_penalty,
                                   "eos_token_id": self.eos_ids,
                                   "pad_token_id": self.tokenizer.pad_token_id}
        if not self.settings.greedy:
            options.update(temperature=self.settings.temperature, top_p=self.settings.top_p)
        if self.on_step is not None:
            options["stopping_criteria"] = [_StepCallback(batch["input_ids"].shape[1], self.on_step)]
        with torch.inference_mode():
            output = self.model.generate(**batch, **options)
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        return [self._decode(row.tolist()) for row in new_tokens]

    def _decode(self, ids: list[int]) -> Generation:
        """Cut at the first EOS (kept in the text), decode with special tokens kept."""
        stop = next((i for i, token in enumerate(ids) if token in self.eos_ids), None)
        kept = ids if stop is None else ids[:stop + 1]
        text = self.tokenizer.decode(kept, skip_special_tokens=False)
        return Generation(text, "length" if stop is None else "stop", len(kept))


class _StepCallback:
    """A never-stopping ``StoppingCriteria`` that tells ``callback`` how many tokens are new."""

    def __init__(self, prompt_length: int, callback: Callable[[int], None]) -> None:
        self.prompt_length, self.callback = prompt_length, callback

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self.callback(input_ids.shape[1] - self.prompt_length)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


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
            max_tokens=self.settings.max_new_tokens, skip_special_tokens=False)

    def generate(self, prompts: Sequence[str]) -> list[Generation]:
        """Generate one completion per prompt with vLLM."""
        results = self.llm.generate(list(prompts), self.params, use_tqdm=False)
        return [Generation(r.outputs[0].text, "length" if r.outputs[0].finish_reason == "length" else "stop",
                           len(r.outputs[0].token_ids)) for r in results]


@dataclass
class EndpointGenerator:
    """Generate through an OpenAI-compatible server: the completions API with the raw Pleias prompt.

    Uses ``pleias_rl.critics.backends.OpenAIBackend`` (``mode="text"``): concurrency, timeouts, retries.
    The completions answer carries no finish reason here, so truncation is read from the text.

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
        from pleias_rl.critics.backends import OpenAIBackend

        self.backend = OpenAIBackend(self.base_url, self.model, api_key=self.api_key, mode="text",
                                     timeout=self.timeout, concurrency=self.concurrency)

    def check(self) -> None:
        """Fail fast (``BackendUnavailable``) when the server does not answer."""
        self.backend.check()

    def generate(self, prompts: Sequence[str]) -> list[Generation]:
        """Generate one completion per prompt; a failed request raises with its reason."""
        params: dict[str, Any] = {"max_tokens": self.settings.max_new_tokens,
                                  "temperature": self.settings.temperature}
        if not self.settings.greedy:
            params["top_p"] = self.settings.top_p
        generations: list[Generation] = []
        for prompt, reply in zip(prompts, self.backend.complete_many(list(prompts), **params)):
            if not isinstance(reply, str):
                raise RuntimeError(f"generation failed for prompt {prompt[:60]!r}...: {reply}")
            generations.append(Generation(reply, None))
        return generations


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
