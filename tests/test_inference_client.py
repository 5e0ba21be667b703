"""The one OpenAI-compatible client against a vLLM-like stub on 127.0.0.1 (tests/http_stub.py):
vLLM's special-token parameters, one recorded failure per transport failure kind, and a server
dying with requests in flight."""

from __future__ import annotations

import time

import pytest

from http_stub import JSONHandler, VLLMScript, serve, serve_vllm, stub_tokens
from pleias_rl.data.format import render_completion
from pleias_rl.inference.backend import (BackendError, BackendTimeout, BackendUnavailable, Generation,
                                         SpecialTokensDropped)
from pleias_rl.inference.client import OpenAIBackend

PERFECT = render_completion(language="English", query_analysis="Simple.", query_report="Trivial",
                            answer="Yes.")


def test_text_requests_keep_the_pleias_tags_on_a_vllm_server():
    script = VLLMScript(completion=lambda prompt: PERFECT)
    with serve_vllm(script) as url:
        kept = OpenAIBackend(url, mode="text").generate("<|query_start|>q", max_tokens=64)
        dropped = OpenAIBackend(url, mode="text", keep_special_tokens=False).generate("q", max_tokens=64)
    assert kept == Generation(PERFECT, "stop", len(stub_tokens(PERFECT)))
    assert script.bodies[0]["skip_special_tokens"] is False
    assert script.bodies[0]["spaces_between_special_tokens"] is False
    assert "<|" not in dropped.completion and dropped.completion.startswith("English\nSimple.")


def test_untagged_completions_fail_loudly_with_the_fix():
    script = VLLMScript(completion=lambda prompt: PERFECT, honours_keep=False)
    with serve_vllm(script) as url:
        backend = OpenAIBackend(url, mode="text")
        with pytest.raises(SpecialTokensDropped, match="drops special tokens.*vLLM.*--backend transformers"):
            backend.generate_many(["a", "b"], max_tokens=64)


class RejectsUnknownFields(JSONHandler):
    """Answers as ``transformers serve`` does to fields it does not know (HTTP 422)."""

    def do_GET(self) -> None:
        self.reply(200, {"status": "ok"})

    def do_POST(self) -> None:
        unknown = sorted(set(self.read_json()) - {"model", "prompt", "max_tokens", "temperature"})
        self.reply(422, {"detail": f"Unexpected fields in the request: {unknown}"})


def test_a_server_rejecting_the_parameters_fails_the_check():
    with serve(RejectsUnknownFields) as url:
        with pytest.raises(SpecialTokensDropped, match="rejects vLLM's skip_special_tokens"):
            OpenAIBackend(url + "/v1", mode="text").check()
        OpenAIBackend(url + "/v1", mode="text", keep_special_tokens=False).check()


def test_truncation_is_counted():
    with serve_vllm(VLLMScript(completion=lambda prompt: PERFECT)) as url:
        backend = OpenAIBackend(url, mode="text")
        replies = backend.generate_many(["a", "b"], max_tokens=3)
    assert [reply.finish_reason for reply in replies] == ["length", "length"]
    assert backend.stats.truncated == 2


@pytest.mark.parametrize("fault, error, message", [
    ("cut", BackendError, "RemoteProtocolError"),
    ("bad_status", BackendError, "RemoteProtocolError"),
    ("reset", BackendError, "transport failure"),
    ("503", BackendError, "HTTP 503"),
    ("slow", BackendTimeout, "timed out"),
])
def test_each_transport_failure_is_one_recorded_error_and_the_batch_goes_on(fault, error, message):
    script = VLLMScript(completion=lambda prompt: PERFECT, faults=[fault])
    with serve_vllm(script) as url:
        backend = OpenAIBackend(url, mode="text", timeout=1.0, max_retries=0, concurrency=1)
        replies = backend.generate_many(["first", "second", "third"], max_tokens=64)
        retried = OpenAIBackend(url, mode="text", timeout=1.0, max_retries=1, backoff=0.01)
        script.faults.append(fault)
        recovered = retried.generate("again", max_tokens=64)
    assert isinstance(replies[0], error) and message in str(replies[0]), replies[0]
    assert [reply.completion for reply in replies[1:]] == [PERFECT, PERFECT]
    assert backend.stats.failures == 1 and backend.stats.requests == 3
    assert recovered.completion == PERFECT and retried.stats.retries == 1


def test_a_server_dying_with_requests_in_flight():
    script = VLLMScript(completion=lambda prompt: PERFECT, faults=["die"], delay=0.3)
    with serve_vllm(script) as url:
        backend = OpenAIBackend(url, mode="text", timeout=5, max_retries=1, backoff=0.01, concurrency=4)
        started = time.monotonic()
        replies = backend.generate_many([f"p{i}" for i in range(8)], max_tokens=64)
        elapsed = time.monotonic() - started
    assert all(isinstance(reply, BackendError) for reply in replies), replies
    assert any(isinstance(reply, BackendUnavailable) for reply in replies)
    assert elapsed < 10
    assert backend.stats.failures == 8


def test_the_layer_imports_only_downward_and_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, pleias_rl.inference.loader, pleias_rl.inference.generator, pleias_rl.inference.client\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'httpx2')\n"
            "             or m.split('.')[:2] in (['pleias_rl', 'critics'], ['pleias_rl', 'evaluation'],\n"
            "                                     ['pleias_rl', 'rl'])))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
