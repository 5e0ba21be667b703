"""Translators for the language-switching exercise.

A translator is any callable ``translator(text, language) -> str`` where ``language`` is an
ISO 639-1 code. :class:`ChatTranslator` calls any OpenAI-compatible chat endpoint (vLLM,
``transformers serve``, llama.cpp server, a hosted API) over plain HTTP with ``urllib`` and
caches every translation on disk, so a rebuild never asks twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from pleias_rl.data.schema import ISO_LANGUAGES, write_jsonl_line

Translator = Callable[[str, str], str]
"""``translator(text, iso_language) -> translated text``."""

SYSTEM_PROMPT = (
    "You are a professional translator. Translate the user's text into {language}. "
    "Keep names, numbers, dates and punctuation. Reply with the translation only."
)
"""The system message sent with every translation request (``{language}``: English name)."""


class TranslationError(RuntimeError):
    """A translation request failed; the message names the endpoint and the reason.

    >>> str(TranslationError("http://x/v1/chat/completions: HTTP 500"))
    'http://x/v1/chat/completions: HTTP 500'
    """


def chat_completions_url(base_url: str) -> str:
    """The ``/v1/chat/completions`` URL of a server, whichever prefix is given.

    >>> chat_completions_url("http://127.0.0.1:8000"), chat_completions_url("http://h/v1/")
    ('http://127.0.0.1:8000/v1/chat/completions', 'http://h/v1/chat/completions')
    """
    url = base_url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


class ChatTranslator:
    """Translate through an OpenAI-compatible chat endpoint, with an on-disk JSONL cache.

    The cache key is a hash of model, target language and text; the cache file only grows
    (one JSON line per new translation) and is read once when the translator is created.
    Empty or whitespace-only text is returned unchanged without a request.

    >>> translator = ChatTranslator("http://127.0.0.1:9", model="m")
    >>> translator("  ", "fr")
    '  '
    """

    def __init__(self, base_url: str, model: str, cache_path: str | Path | None = None, *,
                 api_key: str | None = None, timeout: float = 120.0, max_tokens: int = 1024) -> None:
        self.url = chat_completions_url(base_url)
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.cache_path = Path(cache_path) if cache_path else None
        self.cache: dict[str, str] = self._load_cache()
        self.requests = 0
        self._lock = threading.Lock()

    def _load_cache(self) -> dict[str, str]:
        if self.cache_path is None or not self.cache_path.exists():
            return {}
        with open(self.cache_path, encoding="utf-8") as handle:
            entries = (json.loads(line) for line in handle if line.strip())
            return {entry["key"]: entry["translation"] for entry in entries}

    def cache_key(self, text: str, language: str) -> str:
        """The cache key of one translation.

        >>> ChatTranslator("http://h", "m").cache_key("Hello", "fr")[:12]
        'e87dd3aa39bb'
        """
        return hashlib.sha256(f"{self.model}\n{language}\n{text}".encode()).hexdigest()

    def __call__(self, text: str, language: str) -> str:
        if not text.strip():
            return text
        key = self.cache_key(text, language)
        if key in self.cache:
            return self.cache[key]
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()):]
        translation = lead + self.request(text.strip(), language) + trail
        with self._lock:
            self.cache[key] = translation
            if self.cache_path is not None:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.cache_path, "a", encoding="utf-8") as handle:
                    write_jsonl_line(handle, {"key": key, "language": language,
                                              "text": text, "translation": translation})
        return translation

    def request(self, text: str, language: str) -> str:
        """Ask the endpoint for one translation (no cache); raises :class:`TranslationError`."""
        name = ISO_LANGUAGES.get(language, language)
        body = {"model": self.model, "temperature": 0.0, "max_tokens": self.max_tokens,
                "messages": [{"role": "system", "content": SYSTEM_PROMPT.format(language=name)},
                             {"role": "user", "content": text}]}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers)
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload: Any = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise TranslationError(f"{self.url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as error:
            raise TranslationError(f"{self.url}: {error}") from None
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise TranslationError(f"{self.url}: no choices[0].message.content in the reply") from None
        if not isinstance(content, str) or not content.strip():
            raise TranslationError(f"{self.url}: empty translation")
        return content.strip()
