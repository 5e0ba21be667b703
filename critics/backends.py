"""LLM backends: one small interface, an OpenAI-compatible HTTP client and an in-process model.

Every backend answers ``complete(request, **params) -> str`` where ``request`` is either a
list of chat messages (``[{"role": "user", "content": "..."}]``) or a plain prompt string, and
``complete_many(requests, **params)`` runs a batch concurrently and returns, in order, the
text or the :class:`BackendError` of each request (one failure never sinks the batch).
``check()`` probes the backend and raises :class:`BackendUnavailable` so a run fails fast
before any work. Generation parameters use the OpenAI names: ``max_tokens``, ``temperature``,
``top_p``, ``stop``, ``seed``.

>>> backend = EchoBackend()
>>> backend.complete([{"role": "user", "content": "hello"}])
'hello'
>>> backend.complete_many(["a", "b"])
['a', 'b']

Pick a backend from a config mapping with :func:`make_backend`::

    make_backend({"type": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "m"})
    make_backend({"type": "transformers", "model": "/path/to/model"})

Only the standard library is imported here; ``transformers``/``torch`` load on first use.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

Message = Mapping[str, str]
Request = Union[str, Sequence[Message]]
"""A chat message list or a plain prompt string."""

GENERATION_PARAMS: frozenset[str] = frozenset({"max_tokens", "temperature", "top_p", "stop", "seed"})
"""Generation parameters every backend understands (OpenAI names)."""


class BackendError(RuntimeError):
    """A request failed for good (after retries): bad status, unreadable answer, ...

    >>> isinstance(BackendTimeout("slow"), BackendError)
    True
    """


class BackendUnavailable(BackendError):
    """The backend cannot be reached or is not healthy (connection refused, server down)."""


class BackendTimeout(BackendError):
    """Every attempt of a request timed out."""


class BudgetExhausted(BackendError):
    """The backend's request budget (``max_requests``) is spent; no request was sent."""


def as_messages(request: Request) -> list[dict[str, str]]:
    """Turn a request into a chat message list (a string becomes one user message).

    >>> as_messages("Hi")
    [{'role': 'user', 'content': 'Hi'}]
    >>> as_messages([{"role": "system", "content": "Be brief."}])
    [{'role': 'system', 'content': 'Be brief.'}]
    """
    if isinstance(request, str):
        return [{"role": "user", "content": request}]
    return [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
            for m in request]


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the known generation parameters; reject unknown names with a clear error.

    >>> check_params({"max_tokens": 8, "temperature": None})
    {'max_tokens': 8}
    >>> check_params({"max_new_tokens": 8})
    Traceback (most recent call last):
    ...
    ValueError: unknown generation parameter(s) ['max_new_tokens']; use max_tokens, seed, stop, temperature, top_p
    """
    unknown = sorted(set(params) - GENERATION_PARAMS)
    if unknown:
        raise ValueError(f"unknown generation parameter(s) {unknown}; use "
                         + ", ".join(sorted(GENERATION_PARAMS)))
    return {key: value for key, value in params.items() if value is not None}


@dataclass
class BackendStats:
    """Counters of a backend: requests sent (retries included), retries, failures, seconds.

    >>> BackendStats().as_dict()
    {'requests': 0, 'retries': 0, 'failures': 0, 'seconds': 0.0}
    """

    requests: int = 0
    retries: int = 0
    failures: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        """Add to counters atomically."""
        with self.lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, float]:
        """The counters as a plain dict (for reports)."""
        return {"requests": self.requests, "retries": self.retries, "failures": self.failures,
                "seconds": round(self.seconds, 3)}


class LLMBackend:
    """Base class: subclasses implement :meth:`complete` (and :meth:`check` when remote).

    ``concurrency`` bounds the threads of :meth:`complete_many`.

    >>> class Upper(LLMBackend):
    ...     concurrency = 2
    ...     def complete(self, request, **params):
    ...         return as_messages(request)[-1]["content"].upper()
    >>> Upper().complete_many(["a", "b", "c"])
    ['A', 'B', 'C']
    """

    name = "llm"
    concurrency = 1

    def complete(self, request: Request, **params: Any) -> str:
        """Generate the answer text of one request; raise :class:`BackendError` on failure."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise :class:`BackendUnavailable` when the backend cannot serve (default: fine)."""

    def complete_many(self, requests: Sequence[Request], **params: Any) -> list[str | BackendError]:
        """Run requests concurrently (``concurrency`` threads); keep input order.

        Each entry is the text, or the :class:`BackendError` that request ended with.

        >>> EchoBackend(fail_on="b").complete_many(["a", "b"])
        ['a', BackendError('refusing b')]
        """
        def one(request: Request) -> str | BackendError:
            try:
                return self.complete(request, **params)
            except BackendError as error:
                return error

        if self.concurrency <= 1 or len(requests) <= 1:
            return [one(request) for request in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(one, requests))


class EchoBackend(LLMBackend):
    """A dependency-free backend that answers with the last message (docs and unit tests).

    >>> EchoBackend().complete("ping")
    'ping'
    """

    name = "echo"

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on

    def complete(self, request: Request, **params: Any) -> str:
        """Return the content of the last message; fail when it equals ``fail_on``."""
        check_params(params)
        text = as_messages(request)[-1]["content"]
        if text == self.fail_on:
            raise BackendError(f"refusing {text}")
        return text


class OpenAIBackend(LLMBackend):
    """Client of any OpenAI-compatible server (vLLM, ``transformers serve``, hosted APIs).

    - ``base_url``: up to and including ``/v1`` (``http://127.0.0.1:8000/v1``).
    - ``model``: the model name sent with each request (``None``: let a pinned server choose).
    - ``mode``: ``"chat"`` posts to ``/chat/completions``; ``"text"`` posts a string prompt
      as-is to ``/completions`` (a Pleias prompt needs no chat template).
    - ``timeout`` seconds per attempt; ``max_retries`` extra attempts after a connection
      error, a timeout, HTTP 408/409/429 or 5xx, waiting ``backoff * 2**attempt`` seconds
      (capped at ``max_backoff``, with jitter); other 4xx fail at once.
    - ``max_requests``: budget of HTTP requests (retries count); then :class:`BudgetExhausted`.
    - ``concurrency``: threads used by :meth:`complete_many`.
    - Once the server is found unreachable, later requests make a single attempt until one
      succeeds again, so a dead server costs seconds, not minutes of backoff per request.

    >>> backend = OpenAIBackend("http://127.0.0.1:9/v1", timeout=0.5, max_retries=0)
    >>> try:
    ...     backend.check()
    ... except BackendUnavailable as error:
    ...     print(type(error).__name__, str(error).split(" is ")[1][:11])
    BackendUnavailable unreachable
    """

    name = "openai"
    RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

    def __init__(self, base_url: str, model: str | None = None, *, api_key: str | None = None,
                 mode: str = "chat", timeout: float = 60.0, max_retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 8.0, max_requests: int | None = None,
                 concurrency: int = 4, default_params: Mapping[str, Any] | None = None) -> None:
        if mode not in ("chat", "text"):
            raise ValueError(f"mode must be 'chat' or 'text', got {mode!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.mode = mode
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_requests = max_requests
        self.concurrency = max(1, concurrency)
        self.default_params = check_params(default_params or {})
        self.stats = BackendStats()
        self._lock = threading.Lock()
        self._budget_used = 0
        self._unreachable = False

    def check(self) -> None:
        """Probe ``/health`` (then ``/models``); raise :class:`BackendUnavailable` if neither answers."""
        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        last: Exception | None = None
        for url in (root + "/health", self.base_url + "/models"):
            try:
                with urllib.request.urlopen(self._http_request(url, None), timeout=self.timeout) as response:
                    if response.status == 200:
                        self._unreachable = False
                        return
            except (urllib.error.URLError, OSError, ValueError) as error:
                last = error
        raise BackendUnavailable(f"{self.base_url} is unreachable: {last}")

    def complete(self, request: Request, **params: Any) -> str:
        """Send one request with retries and backoff; return the generated text.

        Raises :class:`BackendUnavailable`, :class:`BackendTimeout`, :class:`BudgetExhausted`
        or :class:`BackendError`.
        """
        path, payload = self._payload(request, {**self.default_params, **check_params(params)})
        attempts = 1 if self._unreachable else self.max_retries + 1
        last: BackendError = BackendError("no attempt made")
        for attempt in range(attempts):
            if attempt:
                self.stats.add(retries=1)
                time.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (0.5 + random.random()))
            self._spend_budget()
            started = time.perf_counter()
            try:
                body = self._post(path, payload)
            except _Retryable as error:
                last = error.as_backend_error()
                continue
            except BackendError:
                self.stats.add(failures=1)
                raise
            finally:
                self.stats.add(requests=1, seconds=time.perf_counter() - started)
            self._unreachable = False
            return self._text(body)
        self._unreachable = isinstance(last, BackendUnavailable)
        self.stats.add(failures=1)
        raise last

    def _payload(self, request: Request, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = dict(params)
        if self.model is not None:
            payload["model"] = self.model
        if self.mode == "text" and isinstance(request, str):
            payload["prompt"] = request
            return "/completions", payload
        payload["messages"] = as_messages(request)
        return "/chat/completions", payload

    def _spend_budget(self) -> None:
        with self._lock:
            if self.max_requests is not None and self._budget_used >= self.max_requests:
                raise BudgetExhausted(f"request budget of {self.max_requests} spent")
            self._budget_used += 1

    def _http_request(self, url: str, payload: Mapping[str, Any] | None) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        return urllib.request.Request(url, data=data, headers=headers,
                                      method="GET" if payload is None else "POST")

    def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        url = self.base_url + path
        try:
            with urllib.request.urlopen(self._http_request(url, payload), timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode("utf-8", "replace")
            message = f"HTTP {error.code} from {url}: {detail}"
            if error.code in self.RETRY_STATUSES:
                raise _Retryable(BackendError, message) from error
            raise BackendError(message) from error
        except (TimeoutError, _socket_timeout()) as error:
            raise _Retryable(BackendTimeout, f"{url} timed out after {self.timeout}s") from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise _Retryable(BackendTimeout, f"{url} timed out after {self.timeout}s") from error
            raise _Retryable(BackendUnavailable, f"{url} is unreachable: {error.reason}") from error
        except (ConnectionError, OSError) as error:  # reset mid-response, remote closed
            raise _Retryable(BackendUnavailable, f"{url} is unreachable: {error!r}") from error
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            raise BackendError(f"{url} answered non-JSON: {raw[:200]!r}") from error

    def _text(self, body: Any) -> str:
        try:
            choice = body["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (KeyError, IndexError, TypeError) as error:
            raise BackendError(f"unexpected answer shape: {str(body)[:200]}") from error
        return text if isinstance(text, str) else ""


class _Retryable(Exception):
    """Internal: a failure worth retrying, with the error class to raise if retries run out."""

    def __init__(self, kind: type[BackendError], message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def as_backend_error(self) -> BackendError:
        return self.kind(str(self))


def _socket_timeout() -> type[BaseException]:
    import socket

    return socket.timeout


class TransformersBackend(LLMBackend):
    """An in-process ``transformers`` causal LM (loaded lazily on first use, thread-safe).

    - ``model``: a local directory or a loaded model; ``tokenizer`` defaults to the model's.
    - ``gguf_file``: a GGUF file name inside ``model`` (e.g. SmolLM2's Q4_1 file).
    - A message list goes through the tokenizer's chat template (plain concatenation when it
      has none); a string prompt is tokenized as-is (a Pleias prompt).
    - ``keep_special_tokens``: decode with the special tokens (needed for Pleias outputs);
      defaults to True for string prompts and False for chat messages.

    >>> import tempfile; from pathlib import Path; from pleias_rl.rl.tiny import build_tiny_model
    >>> backend = TransformersBackend(build_tiny_model(Path(tempfile.gettempdir()) / "pleias-tiny-doctest"))
    >>> isinstance(backend.complete("<|query_start|>Who?", max_tokens=4, seed=0), str)
    True
    """

    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any = None, *, gguf_file: str | None = None,
                 device: str = "cpu", dtype: str = "float32", max_tokens: int = 512,
                 keep_special_tokens: bool | None = None) -> None:
        self.model_source = model
        self.tokenizer = tokenizer
        self.gguf_file = gguf_file
        self.device = device
        self.dtype = dtype
        self.default_max_tokens = max_tokens
        self.keep_special_tokens = keep_special_tokens
        self.stats = BackendStats()
        self._model: Any = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Load the model now; raise :class:`BackendUnavailable` if it cannot be loaded."""
        try:
            self.load()
        except Exception as error:  # any loading failure means this backend cannot serve
            raise BackendUnavailable(f"cannot load model {self.model_source!r}: {error}") from error

    def load(self) -> tuple[Any, Any]:
        """The model (moved to ``device``, in eval mode) and its tokenizer, loaded on first call.

        >>> import tempfile; from pathlib import Path; from pleias_rl.rl.tiny import build_tiny_model
        >>> model, tokenizer = TransformersBackend(build_tiny_model(Path(tempfile.gettempdir()) / "pleias-tiny-doctest")).load()
        >>> model.training, tokenizer.eos_token
        (False, '<|end_of_text|>')
        """
        with self._lock:
            if self._model is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                source = self.model_source
                extra = {"gguf_file": self.gguf_file} if self.gguf_file else {}
                if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
                    model = AutoModelForCausalLM.from_pretrained(str(source), dtype=self.dtype, **extra)
                else:
                    model = source
                if self.tokenizer is None:
                    self.tokenizer = AutoTokenizer.from_pretrained(
                        str(source) if not hasattr(source, "name_or_path") else source.name_or_path, **extra)
                self._model = model.to(self.device).eval()
            return self._model, self.tokenizer

    def _prompt_text(self, request: Request, tokenizer: Any) -> str:
        if isinstance(request, str):
            return request
        messages = as_messages(request)
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages)

    def complete(self, request: Request, **params: Any) -> str:
        """Generate greedily (``temperature`` 0/absent) or by sampling; return the new text."""
        import torch

        params = check_params(params)
        try:
            model, tokenizer = self.load()
        except Exception as error:  # loading failures are backend failures, not crashes
            raise BackendUnavailable(f"cannot load model {self.model_source!r}: {error}") from error
        started = time.perf_counter()
        inputs = tokenizer(self._prompt_text(request, tokenizer), return_tensors="pt",
                           add_special_tokens=False).to(self.device)
        temperature = float(params.get("temperature", 0.0))
        options: dict[str, Any] = {"max_new_tokens": int(params.get("max_tokens", self.default_max_tokens)),
                                   "do_sample": temperature > 0,
                                   "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id}
        if temperature > 0:
            options.update(temperature=temperature, top_p=float(params.get("top_p", 1.0)))
        if params.get("stop"):
            stop = params["stop"]
            options.update(stop_strings=[stop] if isinstance(stop, str) else list(stop), tokenizer=tokenizer)
        if "seed" in params:
            torch.manual_seed(int(params["seed"]))
        try:
            with torch.no_grad():
                output = model.generate(**inputs, **options)
        except Exception as error:  # a generation failure is reported, never raised raw
            self.stats.add(failures=1)
            raise BackendError(f"generation failed: {error!r}") from error
        finally:
            self.stats.add(requests=1, seconds=time.perf_counter() - started)
        keep = self.keep_special_tokens if self.keep_special_tokens is not None else isinstance(request, str)
        text = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=not keep)
        return _strip_padding(text, tokenizer) if keep else text


def _strip_padding(text: str, tokenizer: Any) -> str:
    pad = getattr(tokenizer, "pad_token", None)
    return text.replace(pad, "") if pad else text


def make_backend(spec: Mapping[str, Any]) -> LLMBackend:
    """Build a backend from a config mapping: ``type`` is ``openai``, ``transformers`` or ``echo``.

    Remaining keys are the class's keyword arguments (``base_url``, ``model``, ``timeout``, ...).

    >>> make_backend({"type": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "m"}).model
    'm'
    >>> make_backend({"type": "gpt"})
    Traceback (most recent call last):
    ...
    ValueError: unknown backend type 'gpt'; use one of echo, openai, transformers
    """
    kinds: dict[str, type[LLMBackend]] = {"openai": OpenAIBackend, "transformers": TransformersBackend,
                                          "echo": EchoBackend}
    options = dict(spec)
    kind = options.pop("type", "openai")
    if kind not in kinds:
        raise ValueError(f"unknown backend type {kind!r}; use one of {', '.join(sorted(kinds))}")
    return kinds[kind](**options)
