"""The one interface of every model backend, its errors, its counters and its generation result.

Every backend answers ``generate(request, **params) -> Generation`` (and ``complete`` for the
text alone), where ``request`` is either a list of chat messages
(``[{"role": "user", "content": "..."}]``) or a plain prompt string; ``generate_many`` and
``complete_many`` run a batch and return, in order, the result or the :class:`BackendError` of
each request (one failure never sinks the batch). ``check()`` probes the backend and raises
:class:`BackendUnavailable` so a run fails fast before any work. Generation parameters use the
OpenAI names: ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``.

>>> backend = EchoBackend()
>>> backend.complete([{"role": "user", "content": "hello"}])
'hello'
>>> backend.generate_many(["a", "b"])
[Generation(completion='a', finish_reason=None, completion_tokens=None), Generation(completion='b', finish_reason=None, completion_tokens=None)]

Only the standard library is imported here.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

Message = Mapping[str, str]
Request = Union[str, Sequence[Message]]
"""A chat message list or a plain prompt string."""

GENERATION_PARAMS: frozenset[str] = frozenset({"max_tokens", "temperature", "top_p", "stop", "seed"})
"""Generation parameters every backend understands (OpenAI names)."""


@dataclass(frozen=True)
class Generation:
    """One generated completion: its text, why it stopped (``stop``, ``length``, or ``None`` when
    the backend cannot tell) and its token count when known.

    >>> Generation("English<|language_end|>", "length", 5).truncated
    True
    """

    completion: str
    finish_reason: str | None
    completion_tokens: int | None = None

    @property
    def truncated(self) -> bool:
        """True when generation stopped at the token limit (the completion is cut)."""
        return self.finish_reason == "length"


class BackendError(RuntimeError):
    """A request failed for good (after retries): bad status, cut or unreadable answer, ...

    >>> isinstance(BackendTimeout("slow"), BackendError)
    True
    """


class BackendUnavailable(BackendError):
    """The backend cannot be reached or cannot serve (connection refused, server down)."""


class BackendTimeout(BackendError):
    """Every attempt of a request timed out."""


class BudgetExhausted(BackendError):
    """The backend's request budget (``max_requests``) is spent; no request was sent."""


class SpecialTokensDropped(BackendUnavailable):
    """The server returns Pleias completions without their special-token sections (it skips
    special tokens when decoding and ignores, or rejects, the request to keep them)."""


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
    """Counters of a backend: requests sent (retries included), retries, failures, completions
    cut at the token limit, seconds.

    >>> BackendStats().as_dict()
    {'requests': 0, 'retries': 0, 'failures': 0, 'truncated': 0, 'seconds': 0.0}
    """

    requests: int = 0
    retries: int = 0
    failures: int = 0
    truncated: int = 0
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
                "truncated": self.truncated, "seconds": round(self.seconds, 3)}


class LLMBackend:
    """Base class: subclasses implement :meth:`generate` (or just :meth:`complete`), and
    :meth:`check` when remote.

    ``concurrency`` bounds the threads of :meth:`generate_many`.

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
        """The generated text of one request; raise :class:`BackendError` on failure."""
        return self.generate(request, **params).completion

    def generate(self, request: Request, **params: Any) -> Generation:
        """The generation of one request (default: :meth:`complete`'s text, stop reason unknown)."""
        if type(self).complete is LLMBackend.complete:
            raise NotImplementedError(f"{type(self).__name__} implements neither generate nor complete")
        return Generation(self.complete(request, **params), None)

    def check(self) -> None:
        """Raise :class:`BackendUnavailable` when the backend cannot serve (default: fine)."""

    def generate_many(self, requests: Sequence[Request], **params: Any) -> list[Generation | BackendError]:
        """Run requests concurrently (``concurrency`` threads); keep input order.

        Each entry is the :class:`Generation`, or the :class:`BackendError` that request ended with.

        >>> EchoBackend(fail_on="b").generate_many(["a", "b"])[1]
        BackendError('refusing b')
        """
        def one(request: Request) -> Generation | BackendError:
            try:
                return self.generate(request, **params)
            except BackendError as error:
                return error

        if self.concurrency <= 1 or len(requests) <= 1:
            return [one(request) for request in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(one, requests))

    def complete_many(self, requests: Sequence[Request], **params: Any) -> list[str | BackendError]:
        """:meth:`generate_many`, keeping only the text of each generation.

        >>> EchoBackend(fail_on="b").complete_many(["a", "b"])
        ['a', BackendError('refusing b')]
        """
        return [reply.completion if isinstance(reply, Generation) else reply
                for reply in self.generate_many(requests, **params)]


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
