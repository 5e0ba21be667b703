"""The OpenAI-compatible translator against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from pleias_rl.data.exercises import ExerciseOptions, apply_exercises
from pleias_rl.data.translate import ChatTranslator, TranslationError
from http_stub import JSONHandler, serve
from llm_server import served_tiny_model, tiny_model_dir  # noqa: F401  (pytest fixtures)


class ChatHandler(JSONHandler):
    """``/v1/chat/completions``: answers ``«Language» text`` deterministically; logs requests."""

    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802  (http.server naming)
        body = self.read_json()
        type(self).requests.append({"path": self.path, "body": body,
                                    "auth": self.headers.get("Authorization")})
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        if user == "FAIL":
            self.send_error(500, "boom")
            return
        language = re.search(r"into (\w+)\.", system).group(1)
        self.reply(200, {"choices": [{"message": {"role": "assistant",
                                                  "content": f" «{language}» {user}\n"}}]})


@pytest.fixture()
def chat_server() -> Iterator[str]:
    ChatHandler.requests = []
    with serve(ChatHandler) as url:
        yield url


def test_translates_over_http_and_keeps_outer_whitespace(chat_server: str) -> None:
    translator = ChatTranslator(chat_server, model="m", api_key="secret")
    assert translator(" Who founded Rome? ", "fr") == " «French» Who founded Rome? "
    (request,) = ChatHandler.requests
    assert request["body"]["model"] == "m" and request["body"]["temperature"] == 0.0
    assert request["body"]["messages"][1]["content"] == "Who founded Rome?"
    assert request["auth"] == "Bearer secret"


def test_cache_on_disk_avoids_second_request(chat_server: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    first = ChatTranslator(chat_server + "/v1", model="m", cache_path=cache)
    assert first("Hello there.", "de") == "«German» Hello there."
    assert first("Hello there.", "de") == "«German» Hello there."
    assert first.requests == 1
    second = ChatTranslator(chat_server, model="m", cache_path=cache)
    assert second("Hello there.", "de") == "«German» Hello there." and second.requests == 0
    assert second("Hello there.", "it") == "«Italian» Hello there." and second.requests == 1
    assert len(cache.read_text().splitlines()) == 2
    other_model = ChatTranslator(chat_server, model="other", cache_path=cache)
    other_model("Hello there.", "de")
    assert other_model.requests == 1


def test_server_errors_raise_translation_error(chat_server: str) -> None:
    with pytest.raises(TranslationError, match="HTTP 500"):
        ChatTranslator(chat_server, model="m")("FAIL", "fr")
    with pytest.raises(TranslationError, match="127.0.0.1:9/v1/chat/completions"):
        ChatTranslator("http://127.0.0.1:9", model="m", timeout=2)("Hello", "fr")


def test_language_switching_through_the_http_translator(chat_server: str, hotpot_rows: list[dict],
                                                        tmp_path: Path) -> None:
    translator = ChatTranslator(chat_server, model="m", cache_path=tmp_path / "c.jsonl")
    options = ExerciseOptions(language_rate=1.0, refusal_rate=0.0, max_sources=3, translator=translator)
    rows = list(apply_exercises(hotpot_rows[:10], options))
    for row in rows:
        translation = row["meta"]["translation"]
        if translation["query"]:
            assert row["query"].startswith("«")
        for source_id, sentence in row["meta"]["supporting_sentences"]:
            assert sentence in row["sources"][source_id - 1]["text"]
    requests = translator.requests
    again = list(apply_exercises(hotpot_rows[:10], ExerciseOptions(
        language_rate=1.0, refusal_rate=0.0, max_sources=3,
        translator=ChatTranslator(chat_server, model="m", cache_path=tmp_path / "c.jsonl"))))
    assert again == rows and requests == len(ChatHandler.requests)


@pytest.mark.slow
def test_translator_against_transformers_serve(served_tiny_model) -> None:  # noqa: F811
    translator = ChatTranslator(served_tiny_model.base_url, model=served_tiny_model.model,
                                max_tokens=8, timeout=120)
    translated = translator("The village lies near the river.", "fr")
    assert isinstance(translated, str) and translated.strip()
    assert translator.requests == 1
