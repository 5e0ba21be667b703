"""Backends and the LLM critic against a real ``transformers serve`` of the tiny local model.

The tiny model is random: whatever it writes is junk, which is exactly the malformed-answer case
(recorded as ``critic_error``, never a crash). Well-formed judgements are tested on literal text.
"""

from __future__ import annotations

import json
import time

import pytest

from pleias_rl.critics.backends import (BackendError, BackendTimeout, BackendUnavailable, BudgetExhausted,
                                       OpenAIBackend, SpecialTokensDropped, TransformersBackend, make_backend)
from pleias_rl.critics.llm import LLMCritic, critic_messages, parse_judgement
from pleias_rl.critics.loop import CritiqueLoop, LoopSettings, Policy
from pleias_rl.critics.rules import RuleCritic
from pleias_rl.data.format import parse_completion
from pleias_rl.data.targets import oracle_completion
from llm_server import serve_tiny_model, served_tiny_model, tiny_model_dir  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def test_backend_mechanics(served_tiny_model):
    backend = OpenAIBackend(served_tiny_model.base_url, served_tiny_model.model, timeout=60, concurrency=4)
    backend.check()
    text = backend.complete([{"role": "user", "content": "Hello"}], max_tokens=5, temperature=0.0)
    assert isinstance(text, str) and text
    texts = backend.complete_many([f"question {i}" for i in range(6)], max_tokens=4)
    assert len(texts) == 6 and all(isinstance(t, str) for t in texts)
    assert backend.stats.requests == 7 and backend.stats.failures == 0
    raw = OpenAIBackend(served_tiny_model.base_url, mode="text", keep_special_tokens=False).generate(
        "<|query_start|>Who?", max_tokens=4)
    assert isinstance(raw.completion, str) and raw.finish_reason in ("stop", "length")


def test_transformers_serve_cannot_keep_the_tags_and_says_so(served_tiny_model, hotpot_rows, tmp_path):
    """``transformers serve`` decodes with skip_special_tokens=True and answers 422 to vLLM's
    parameters: the critic with a --policy-url on it stops at the check with the fix (exit 3)."""
    from pleias_rl.critics.cli import main

    with pytest.raises(SpecialTokensDropped, match="rejects vLLM's skip_special_tokens"):
        OpenAIBackend(served_tiny_model.base_url, mode="text").check()
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(hotpot_rows[0]) + "\n", encoding="utf-8")
    assert main([str(rows), "--out-dir", str(tmp_path / "out"), "--policy-url", served_tiny_model.base_url,
                 "--no-progress"]) == 3


def test_unknown_parameter_is_a_clear_error(served_tiny_model):
    with pytest.raises(ValueError, match="max_new_tokens"):
        OpenAIBackend(served_tiny_model.base_url).complete("x", max_new_tokens=3)


def test_http_error_is_not_retried(served_tiny_model):
    backend = OpenAIBackend(served_tiny_model.base_url, model="some/other-model", max_retries=3)
    with pytest.raises(BackendError, match="HTTP 400"):
        backend.complete("x", max_tokens=2)
    assert backend.stats.requests == 1 and backend.stats.retries == 0


def test_timeout_retries_with_backoff_then_fails(served_tiny_model):
    backend = OpenAIBackend(served_tiny_model.base_url, timeout=0.05, max_retries=2, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(BackendTimeout):
        backend.complete("Tell me a long story " * 20, max_tokens=400)
    assert backend.stats.requests == 3 and backend.stats.retries == 2
    assert time.monotonic() - started < 10


def test_request_budget(served_tiny_model):
    backend = OpenAIBackend(served_tiny_model.base_url, max_requests=2, concurrency=3)
    results = backend.complete_many(["a", "b", "c"], max_tokens=2)
    assert sum(isinstance(r, str) for r in results) == 2
    assert sum(isinstance(r, BudgetExhausted) for r in results) == 1


def test_llm_critic_records_malformed_answers(served_tiny_model, hotpot_rows):
    critic = LLMCritic(OpenAIBackend(served_tiny_model.base_url, concurrency=4), max_tokens=24)
    pairs = [(row, oracle_completion(row)) for row in hotpot_rows[:4]]
    verdicts = critic.critique_many(pairs)
    assert [v.kinds for v in verdicts] == [["critic_error"]] * 4
    assert all("malformed critic answer" in v.issues[0].message for v in verdicts)
    assert all(v.revision is None and not v.passed for v in verdicts)


def test_well_formed_judgement_and_its_revision(hotpot_rows):
    row = hotpot_rows[0]
    completion = oracle_completion(row)
    parsed = parse_completion(completion)
    answer = json.dumps({"critique": "The claim is fine but the lead is wrong.", "verdict": "fail",
                         "issues": [{"kind": "wrong_answer", "ref": 1, "message": "wrong lead",
                                     "suggested_fix": "fix it"}],
                         "revision": parsed.answer.replace("The answer is", "It is")})
    verdict = parse_judgement("```json\n" + answer + "\n```", parsed)
    assert verdict.kinds == ["wrong_answer"] and verdict.issues[0].span == parsed.citations[0].span
    assert RuleCritic().critique(row, verdict.revision).passed
    assert "Sources:\n[1] " in critic_messages(row, parsed)[1]["content"]


def test_loop_with_llm_critic_end_to_end(served_tiny_model, hotpot_rows):
    critic = LLMCritic(OpenAIBackend(served_tiny_model.base_url, concurrency=4), max_tokens=16)
    rows = [(n, {**row, "prompt": "P", "completion": oracle_completion(row)}) for n, row in enumerate(hotpot_rows[:3])]
    strict = CritiqueLoop([RuleCritic(), critic], settings=LoopSettings(max_rounds=1)).run_batch(rows)
    assert [r.accepted for r in strict] == [False] * 3
    assert {(f["critic"], f["kind"]) for r in strict for f in r.failures} == {("llm", "critic_error")}
    lenient = CritiqueLoop([RuleCritic(), critic],
                           settings=LoopSettings(max_rounds=1, accept_on_critic_error=True)).run_batch(rows)
    assert [r.accepted for r in lenient] == [True] * 3


def test_policy_generates_and_loop_repairs(served_tiny_model, hotpot_rows):
    policy = Policy(OpenAIBackend(served_tiny_model.base_url, mode="text", concurrency=2,
                                  keep_special_tokens=False), max_tokens=12)
    rows = list(enumerate(hotpot_rows[:2]))
    results = CritiqueLoop([RuleCritic()], policy, LoopSettings(max_rounds=2)).run_batch(rows)
    for result, (_, row) in zip(results, rows):
        assert result.initial and result.failures  # junk from the tiny model fails the rules
        assert result.failures[0]["kind"] == "format"
        assert result.final == oracle_completion(row)  # repaired from the gold evidence


def test_transformers_backend_in_process(tiny_model_dir):
    backend = make_backend({"type": "transformers", "model": str(tiny_model_dir), "max_tokens": 4})
    backend.check()
    text = backend.complete("<|query_start|>Who?<|query_end|>\n<|language_start|>\n", seed=0)
    chat = backend.complete([{"role": "user", "content": "Who?"}], max_tokens=3)
    assert isinstance(text, str) and isinstance(chat, str)
    assert backend.stats.requests == 2
    with pytest.raises(BackendUnavailable):
        TransformersBackend("/nonexistent/model").check()


def test_server_dying_mid_run_is_recorded_not_fatal(hotpot_rows):
    with serve_tiny_model() as served:
        backend = OpenAIBackend(served.base_url, timeout=30, max_retries=2, backoff=0.1, concurrency=2)
        loop = CritiqueLoop([RuleCritic(), LLMCritic(backend, max_tokens=8)], settings=LoopSettings(max_rounds=0))
        rows = [(n, {**row, "prompt": "P", "completion": oracle_completion(row)}) for n, row in enumerate(hotpot_rows[:6])]
        before = loop.run_batch(rows[:3])
        served.kill()
        started = time.monotonic()
        after = loop.run_batch(rows[3:])
        elapsed = time.monotonic() - started
    assert all("malformed" in r.failures[0]["detail"] for r in before)
    details = [f["detail"] for r in after for f in r.failures]
    assert len(details) == 3 and all(d.startswith("BackendUnavailable") for d in details), details
    assert elapsed < 5  # after the first failure the dead server costs one attempt per request
    with pytest.raises(BackendUnavailable):
        backend.check()


def test_policy_regenerates_with_feedback_and_a_repeat_stops_the_rounds(served_tiny_model, hotpot_rows):
    backend = OpenAIBackend(served_tiny_model.base_url, mode="text", concurrency=2, keep_special_tokens=False)
    policy = Policy(backend, max_tokens=8)
    loop = CritiqueLoop([RuleCritic(repair_with_gold=False)], policy, LoopSettings(max_rounds=3))
    results = loop.run_batch(list(enumerate(hotpot_rows[:2])))
    # per example: the initial generation, then one regeneration with the critique as feedback;
    # the greedy tiny model writes the same junk again, which cannot pass, so the rounds stop
    assert backend.stats.requests == 4
    for result in results:
        assert not result.accepted and result.rounds == 0
        assert result.failures and {failure["round"] for failure in result.failures} == {0}
    prompt = policy.feedback_prompt(hotpot_rows[0], "1. [format] missing section answer")
    assert "rejected for these problems:\n1. [format] missing section answer<|query_end|>" in prompt
