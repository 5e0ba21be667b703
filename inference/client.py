"""The one OpenAI-compatible client (vLLM, ``transformers serve``, hosted APIs), on ``httpx2``.

Why ``httpx2`` and not the ``openai`` client (both are installed; ``openai`` is itself built on
``httpx2``): every HTTP attempt must count against the request budget and the stats, and every
transport failure must become one recorded :class:`~pleias_rl.inference.backend.BackendError`;
the ``openai`` client retries internally (attempts we could not count) and wraps the transport
errors we classify here, for a ~10x slower import (0.41 s against 0.04 s, measured with
``python -X importtime``). ``httpx2`` gives a thread-safe pooled client, per-phase timeouts and one
exception family: connection refused (:class:`BackendUnavailable`), timeout
(:class:`BackendTimeout`), reset, cut body or bad status line (:class:`BackendError`).

Pleias completions are special-token sections. vLLM skips special tokens by default, so text
requests that keep them (``mode="text"``, the default there) send vLLM's extra parameters
:data:`KEEP_SPECIAL_TOKENS`; a server that rejects them, or answers completions without any
Pleias tag, raises :class:`SpecialTokensDropped` with the fix instead of scores of 0.

>>> backend = OpenAIBackend("http://127.0.0.1:9/v1", timeout=0.5, max_retries=0)
>>> try:
...     backend.check()
... except BackendUnavailable as error:
...     print(type(error).__name__, str(error).split(" is ")[1][:11])
BackendUnavailable unreachable
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS
from pleias_rl.inference.backend import (BackendError, BackendStats, BackendTimeout, BackendUnavailable,
                                         BudgetExhausted, Generation, LLMBackend, Request,
                                         SpecialTokensDropped, as_messages, check_params)

if TYPE_CHECKING:
    import httpx2

KEEP_SPECIAL_TOKENS: dict[str, bool] = {"skip_special_tokens": False, "spaces_between_special_tokens": False}
"""vLLM's extra sampling parameters that keep the Pleias tags in the returned text."""

SPECIAL_TOKENS_FIX = ("the server drops special tokens, so every Pleias section would score 0. Serve the "
                      "model with vLLM, which honours skip_special_tokens=false and "
                      "spaces_between_special_tokens=false (sent with every request), or generate in "
                      "process (pleias-rl eval --backend transformers; pleias-rl critique --policy-model DIR). "
                      "A model that never writes the Pleias sections (a base model) is evaluated in process.")
"""What to do when an endpoint loses the Pleias tags."""


def has_pleias_tag(text: str) -> bool:
    """True when ``text`` holds any Pleias special token (a section tag or ``<|end_of_text|>``).

    >>> has_pleias_tag("English<|language_end|>"), has_pleias_tag("English\\n\\nThe query asks")
    (True, False)
    """
    return "<|" in text and any(token in text for token in (*SPECIAL_TOKENS, EOS_TOKEN))


class TagWatch:
    """Fails loudly when a server's Pleias completions come back without a single tag.

    Watches until one completion holds a tag (then the server keeps them); a batch whose
    completions of ``min_chars`` or more all lack tags raises :class:`SpecialTokensDropped`.

    >>> watch = TagWatch("http://127.0.0.1:8000/v1")
    >>> watch.check([Generation("short", "stop")])
    >>> try:
    ...     watch.check([Generation("English\\n\\nThe query asks for a date.", "stop")])
    ... except SpecialTokensDropped as error:
    ...     print(str(error)[:68])
    http://127.0.0.1:8000/v1 returned 1 completion(s) without any Pleias
    """

    def __init__(self, source: str, min_chars: int = 24) -> None:
        self.source = source
        self.min_chars = min_chars
        self.seen_tag = False

    def check(self, replies: Sequence[Generation | BackendError]) -> None:
        """Raise :class:`SpecialTokensDropped` when no completion so far kept a tag."""
        if self.seen_tag:
            return
        texts = [reply.completion for reply in replies if isinstance(reply, Generation)]
        if any(has_pleias_tag(text) for text in texts):
            self.seen_tag = True
            return
        untagged = [text for text in texts if len(text) >= self.min_chars]
        if untagged:
            raise SpecialTokensDropped(f"{self.source} returned {len(untagged)} completion(s) without any "
                                       f"Pleias tag (first: {untagged[0][:80]!r}): {SPECIAL_TOKENS_FIX}")


class _Retryable(Exception):
    """Internal: a failure worth retrying, with the error class to raise if retries run out."""

    def __init__(self, kind: type[BackendError], message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def as_backend_error(self) -> BackendError:
        return self.kind(str(self))


class OpenAIBackend(LLMBackend):
    """Client of any OpenAI-compatible server.

    - ``base_url``: up to and including ``/v1`` (``http://127.0.0.1:8000/v1``).
    - ``model``: the model name sent with each request (``None``: let a pinned server choose).
    - ``mode``: ``"chat"`` posts to ``/chat/completions``; ``"text"`` posts a string prompt
      as-is to ``/completions`` (a Pleias prompt needs no chat template).
    - ``keep_special_tokens`` (default: True in text mode): send :data:`KEEP_SPECIAL_TOKENS` and
      watch the answers (:class:`TagWatch`); ``check()`` then probes that the server accepts them.
    - ``timeout`` seconds per attempt; ``max_retries`` extra attempts after a connection
      error, a timeout, a reset or cut response, a non-JSON body, HTTP 408/409/429 or 5xx,
      waiting ``backoff * 2**attempt`` seconds (capped at ``max_backoff``, with jitter); other
      4xx fail at once.
    - ``max_requests``: budget of HTTP requests (retries count); then :class:`BudgetExhausted`.
    - ``concurrency``: threads of :meth:`generate_many` (and pooled connections).
    - Once the server is found unreachable, later requests make a single attempt until one
      succeeds again, so a dead server costs seconds, not minutes of backoff per request.

    >>> OpenAIBackend("http://127.0.0.1:8000/v1", mode="text").keep_special_tokens
    True
    """

    name = "openai"
    RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

    def __init__(self, base_url: str, model: str | None = None, *, api_key: str | None = None,
                 mode: str = "chat", timeout: float = 60.0, max_retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 8.0, max_requests: int | None = None,
                 concurrency: int = 4, default_params: Mapping[str, Any] | None = None,
                 keep_special_tokens: bool | None = None) -> None:
        if mode not in ("chat", "text"):
            raise ValueError(f"mode must be 'chat' or 'text', got {mode!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.mode = mode
        self.keep_special_tokens = mode == "text" if keep_special_tokens is None else keep_special_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_requests = max_requests
        self.concurrency = max(1, concurrency)
        self.default_params = check_params(default_params or {})
        self.stats = BackendStats()
        self.tag_watch = TagWatch(self.base_url)
        self._lock = threading.Lock()
        self._budget_used = 0
        self._unreachable = False
        self._http: httpx2.Client | None = None

    def http(self) -> "httpx2.Client":
        """The pooled, thread-safe HTTP client (created on first use)."""
        with self._lock:
            if self._http is None:
                import httpx2

                headers = {"Accept": "application/json"}
                if self.api_key:
                    headers["Authorization"] = f"Bearer {self.api_key}"
                self._http = httpx2.Client(timeout=self.timeout, headers=headers,
                                           limits=httpx2.Limits(max_connections=self.concurrency))
            return self._http

    def check(self) -> None:
        """Probe ``/health`` (then ``/models``); raise :class:`BackendUnavailable` if neither
        answers. When keeping special tokens, also send a one-token completion: a server that
        rejects vLLM's parameters raises :class:`SpecialTokensDropped`."""
        import httpx2

        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        last: Exception | None = None
        for url in (root + "/health", self.base_url + "/models"):
            try:
                if self.http().get(url).status_code == 200:
                    self._unreachable = False
                    break
            except httpx2.HTTPError as error:
                last = error
        else:
            raise BackendUnavailable(f"{self.base_url} is unreachable: {last}")
        if self.keep_special_tokens:  # a probe outside the stats and the budget
            try:
                self._post(*self._payload(SPECIAL_TOKENS[0], {"max_tokens": 1}))
            except (_Retryable, BackendError) as error:
                if isinstance(error, SpecialTokensDropped):
                    raise
                raise BackendUnavailable(f"{self.base_url} failed a one-token completion: {error}") from error

    def generate(self, request: Request, **params: Any) -> Generation:
        """Send one request with retries and backoff; return the generation.

        Raises :class:`BackendUnavailable`, :class:`BackendTimeout`, :class:`BudgetExhausted`,
        :class:`SpecialTokensDropped` or :class:`BackendError`.
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
                generation = self._generation(self._post(path, payload))
            except _Retryable as error:
                last = error.as_backend_error()
                continue
            except BackendError:
                self.stats.add(failures=1)
                raise
            finally:
                self.stats.add(requests=1, seconds=time.perf_counter() - started)
            self._unreachable = False
            self.stats.add(truncated=int(generation.truncated))
            return generation
        self._unreachable = isinstance(last, BackendUnavailable)
        self.stats.add(failures=1)
        raise last

    def generate_many(self, requests: Sequence[Request], **params: Any) -> list[Generation | BackendError]:
        """Concurrent requests in order (see the base class); with ``keep_special_tokens``,
        raise :class:`SpecialTokensDropped` when the answers lost every tag."""
        replies = super().generate_many(requests, **params)
        if self.keep_special_tokens:
            self.tag_watch.check(replies)
        return replies

    def _payload(self, request: Request, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = dict(params)
        if self.model is not None:
            payload["model"] = self.model
        if self.keep_special_tokens:
            payload.update(KEEP_SPECIAL_TOKENS)
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

    def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        import httpx2

        url = self.base_url + path
        try:
            response = self.http().post(url, json=payload)
        except httpx2.TimeoutException as error:
            raise _Retryable(BackendTimeout, f"{url} timed out after {self.timeout}s") from error
        except httpx2.ConnectError as error:
            raise _Retryable(BackendUnavailable, f"{url} is unreachable: {error}") from error
        except httpx2.TransportError as error:  # reset, cut body, bad status line, server gone
            raise _Retryable(BackendError, f"{url}: transport failure {type(error).__name__}: {error}") from error
        if response.status_code != 200:
            self._refuse(url, response.status_code, response.text[:300])
        try:
            return response.json()
        except ValueError as error:
            raise _Retryable(BackendError, f"{url} answered non-JSON: {response.text[:200]!r}") from error

    def _refuse(self, url: str, status: int, detail: str) -> None:
        message = f"HTTP {status} from {url}: {detail}"
        if status in self.RETRY_STATUSES:
            raise _Retryable(BackendError, message)
        if self.keep_special_tokens and any(name in detail for name in KEEP_SPECIAL_TOKENS):
            raise SpecialTokensDropped(f"{message}\n{url} rejects vLLM's skip_special_tokens: {SPECIAL_TOKENS_FIX}")
        raise BackendError(message)

    @staticmethod
    def _generation(body: Any) -> Generation:
        try:
            choice = body["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (KeyError, IndexError, TypeError) as error:
            raise BackendError(f"unexpected answer shape: {str(body)[:200]}") from error
        usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
        tokens = usage.get("completion_tokens")
        return Generation(text if isinstance(text, str) else "", choice.get("finish_reason"),
                          tokens if isinstance(tokens, int) else None)
