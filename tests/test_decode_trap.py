"""The decode trap: TRL decodes with ``skip_special_tokens=True`` and the Pleias structure vanishes.

With the tiny tokenizer (the 19 Pleias tokens and EOS are SPECIAL tokens, as in the real
models), the text TRL hands to reward functions has lost every section marker, so the format
reward is about 0.05 (no answer, no sections) for a perfect output. Passing ``completion_ids`` and giving the reward the
tokenizer re-decodes with special tokens kept and restores the clean score.
"""

from __future__ import annotations

import pytest

from pleias_rl.data.format import SPECIAL_TOKENS, format_ref, render_completion
from pleias_rl.rewards.registry import get_reward

SOURCES = ["Helsby is a village in Cheshire, England.", "Shotwick is a hamlet."]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from pleias_rl.rl.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer(tmp_path_factory.mktemp("tiny_tokenizer"))


@pytest.fixture(scope="module")
def completion():
    return render_completion(
        language="English", query_analysis="A lookup.", query_report="Trivial",
        answer="The village is Helsby" + format_ref(1, "Helsby is a village in Cheshire") + ".")


def test_pleias_tokens_are_special(tokenizer):
    assert set(SPECIAL_TOKENS) <= set(tokenizer.all_special_tokens)
    ids = tokenizer("<|answer_start|>x<|answer_end|>", add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|answer_start|>")


def test_trl_style_decode_loses_the_structure(tokenizer, completion):
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    trl_text = tokenizer.decode(ids, skip_special_tokens=True)
    assert "<|answer_start|>" not in trl_text and "<|source_id|>" not in trl_text
    assert get_reward("format")(completions=[trl_text]) == [pytest.approx(0.04841)]  # no structure left


@pytest.mark.parametrize("name", ["format", "citation", "answer"])
def test_reward_with_tokenizer_recovers_the_clean_score(tokenizer, completion, name):
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    trl_text = tokenizer.decode(ids, skip_special_tokens=True)
    columns = dict(sources=[SOURCES], query=["Which village?"], answer=["Helsby"])
    expected = get_reward(name)(completions=[completion], **columns)
    trapped = get_reward(name)(completions=[trl_text], **columns)
    fixed = get_reward(name, tokenizer=tokenizer)(completions=[trl_text], completion_ids=[ids], **columns)
    assert fixed == expected
    assert expected[0] >= 0.95
    assert trapped[0] <= 0.05


def test_the_rewards_of_a_step_decode_and_parse_its_batch_once(tokenizer, completion, monkeypatch):
    from pleias_rl.rewards import base

    completion = completion.replace("A lookup.", "A lookup no batch had.")
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    trl_text = tokenizer.decode(ids, skip_special_tokens=True)
    decoded, parsed = [], []
    monkeypatch.setattr(tokenizer, "decode", lambda sequence, **kw: decoded.append(kw) or completion)
    parse = base.parse_completion
    monkeypatch.setattr(base, "parse_completion", lambda text: parsed.append(text) or parse(text))
    columns = dict(sources=[SOURCES] * 2, query=["Which village?"] * 2)
    rewards = [get_reward(name, tokenizer=tokenizer) for name in ("format", "citation", "language")]
    scores = [reward(completions=[trl_text] * 2, completion_ids=[ids, ids[:-1]], **columns)
              for reward in rewards]
    assert decoded == [{"skip_special_tokens": False}] * 2  # two completions, decoded once
    assert parsed == [completion]  # one text, parsed once for the three rewards
    assert scores[0] == scores[1] == [1.0, 1.0]
    assert rewards[0](completions=[trl_text], completion_ids=[ids[:-2]], **columns) == [1.0]
    assert len(decoded) == 3  # a new batch is decoded again


def test_the_rewards_of_a_step_share_work_by_content_and_see_a_changed_column():
    columns = dict(sources=[SOURCES] * 2, query=["Which village?"] * 2, answerable=[True, False])
    citation = get_reward("citation")
    text = render_completion(language="English", query_analysis="A lookup.", query_report="Trivial",
                             answer="Helsby.")
    assert citation(completions=[text] * 2, **columns) == [0.0, None]  # no refs: unanswerable is None
    columns["answerable"][1] = True  # the same list, changed in place
    assert citation(completions=[text] * 2, **columns) == [0.0, 0.0]
    assert citation(completions=[text] * 2, **{**columns, "answerable": [0, 0]}) == [0.0, 0.0]  # 0 is not False
    columns["answerable"][0] = False
    assert citation(completions=[text] * 2, **columns) == [None, 0.0]
    cited = text.replace("Helsby.", "Helsby" + format_ref(1, "Helsby is a village in Cheshire") + ".")
    changed = [["Chester is a city.", "Shotwick is a hamlet."]] * 2  # other source texts
    assert citation(completions=[cited] * 2, **columns) == [1.0, 1.0]
    assert max(citation(completions=[cited] * 2, **{**columns, "sources": changed})) < 0.1  # a paraphrase at best
