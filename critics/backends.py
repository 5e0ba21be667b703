"""The critics' backends: the inference layer's (:mod:`pleias_rl.inference`) built from a recipe.

Every backend answers ``complete(request, **params) -> str`` (``generate`` for the text with its
stop reason), ``complete_many(requests, **params)`` for a batch, and ``check()`` before any work;
see :mod:`pleias_rl.inference.backend`. Pick one from a config mapping with :func:`make_backend`::

    make_backend({"type": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "m"})
    make_backend({"type": "transformers", "model": "/path/to/model"})

>>> make_backend({"type": "echo"}).complete_many(["a", "b"])
['a', 'b']
"""

from __future__ import annotations

from typing import Any, Mapping

from pleias_rl.inference.backend import (BackendError, BackendTimeout, BackendUnavailable, BudgetExhausted,
                                         EchoBackend, Generation, LLMBackend, SpecialTokensDropped,
                                         as_messages)
from pleias_rl.inference.client import OpenAIBackend
from pleias_rl.inference.generator import TransformersBackend

__all__ = ["BackendError", "BackendTimeout", "BackendUnavailable", "BudgetExhausted", "EchoBackend",
           "Generation", "LLMBackend", "OpenAIBackend", "SpecialTokensDropped", "TransformersBackend",
           "as_messages", "make_backend"]


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
