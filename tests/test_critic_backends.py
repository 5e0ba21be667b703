"""OpenAIBackend retry, backoff, budget, concurrency and health-probe rules, against a scripted
local HTTP server (a real socket server whose answers the test chooses: 503, 429, 400, slow)."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from typing import Iterator

import pytest

from pleias_rl.critics.backends import (BackendError, BackendUnavailable, BudgetExhausted, EchoBackend,
                              OpenAIBackend, as_messages, make_backend)
from http_stub import JSONHandler, serve


class Script:
    """What the server answers: a queue of statuses (then 200), a delay, and what it received."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.delay = 0.0
        self.bodies: list[dict] = []
        self.health = 200


def make_handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(JSONHandler):
        def do_GET(self) -> None:
            status = script.health if self.path == "/health" else 200
            self.reply(status, {"status": "ok"} if status == 200 else {"error": "nope"})

        def do_POST(self) -> None:
            body = self.read_json()
            script.bodies.append(body)
            time.sleep(script.delay)
            status = script.statuses.pop(0) if script.statuses else 200
            if status != 200:
                self.reply(status, {"error": f"status {status}"})
            elif "messages" in body:
                self.reply(200, {"choices": [{"message": {"content": "chat:" + body["messages"][-1]["content"]}}]})
            else:
                self.reply(200, {"choices": [{"text": "text:" + body["prompt"]}]})
    return Handler


@pytest.fixture()
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    with serve(make_handler(script)) as url:
        yield url + "/v1", script


def test_chat_and_text_modes_send_openai_payloads(server):
    url, script = server
    assert OpenAIBackend(url, "m").complete("hi", max_tokens=3) == "chat:hi"
    assert OpenAIBackend(url, mode="text").complete("<|query_start|>q", temperature=0) == "text:<|query_start|>q"
    assert script.bodies[0] == {"max_tokens": 3, "model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert script.bodies[1] == {"temperature": 0, "prompt": "<|query_start|>q",  # vLLM keeps the tags
                                "skip_special_tokens": False, "spaces_between_special_tokens": False}


def test_5xx_and_429_are_retried_with_backoff(server):
    url, script = server
    script.statuses = [503, 429]
    backend = OpenAIBackend(url, max_retries=3, backoff=0.1)
    started = time.monotonic()
    assert backend.complete("x") == "chat:x"
    assert backend.stats.as_dict()["retries"] == 2 and backend.stats.requests == 3
    assert time.monotonic() - started >= 0.1 * 0.5 + 0.2 * 0.5  # jittered 0.1 s then 0.2 s


def test_retries_run_out(server):
    url, script = server
    script.statuses = [500] * 5
    backend = OpenAIBackend(url, max_retries=2, backoff=0.01)
    with pytest.raises(BackendError, match="HTTP 500"):
        backend.complete("x")
    assert backend.stats.requests == 3 and backend.stats.failures == 1


def test_client_errors_fail_at_once(server):
    url, script = server
    script.statuses = [400]
    backend = OpenAIBackend(url, max_retries=3)
    with pytest.raises(BackendError, match="HTTP 400"):
        backend.complete("x")
    assert backend.stats.requests == 1


def test_budget_counts_retries(server):
    url, script = server
    script.statuses = [503, 503]
    backend = OpenAIBackend(url, max_retries=5, backoff=0.01, max_requests=2)
    with pytest.raises(BudgetExhausted, match="budget of 2"):
        backend.complete("x")
    assert len(script.bodies) == 2


def test_requests_in_flight_overlap(server):
    url, script = server
    script.delay = 0.3
    backend = OpenAIBackend(url, concurrency=4)
    started = time.monotonic()
    assert backend.complete_many(["a", "b", "c", "d"]) == ["chat:a", "chat:b", "chat:c", "chat:d"]
    assert time.monotonic() - started < 0.3 * 4 * 0.75  # overlapped, not 1.2 s in a row


def test_health_probe_falls_back_to_models(server):
    url, script = server
    script.health = 404  # an API without /health still answers /v1/models
    OpenAIBackend(url).check()


def test_dead_server_costs_one_attempt_per_request_after_the_first_failure():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", max_retries=3, backoff=0.05, timeout=1)
    with pytest.raises(BackendUnavailable):
        backend.complete("x")
    assert backend.stats.requests == 4
    with pytest.raises(BackendUnavailable):
        backend.complete("y")
    assert backend.stats.requests == 5


def test_small_helpers():
    assert as_messages("q") == [{"role": "user", "content": "q"}]
    assert isinstance(make_backend({"type": "echo"}), EchoBackend)
    with pytest.raises(ValueError, match="mode must be"):
        OpenAIBackend("http://x/v1", mode="json")
