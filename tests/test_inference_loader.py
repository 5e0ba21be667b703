"""The one policy loader and the in-process generator on a stand-in of the real Pleias-RAG layout
(vocab 65,536, tags 65517-65535, no eos/pad in the tokenizer config, <|end_of_text|> prepended)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pleias_rl.critics.loop import Policy
from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS, build_prompt
from pleias_rl.evaluation.cli import main as eval_main
from pleias_rl.inference.generator import GenerationSettings, LocalGenerator, TransformersBackend
from pleias_rl.inference.loader import check_single_ids, load_model_and_tokenizer
from rl_support import FIRST_TAG_ID, REAL_VOCAB_SIZE, pleias_standin_dir, rag_rows  # noqa: F401  (fixtures)

PROMPT = build_prompt("Who wrote it?", ["Ann wrote it."])


def test_a_model_with_the_tags_gets_nothing_added_and_eos_pad_from_the_conventions(pleias_standin_dir: Path):
    model, tokenizer = load_model_and_tokenizer(str(pleias_standin_dir))
    assert len(tokenizer) == REAL_VOCAB_SIZE == model.get_input_embeddings().weight.shape[0]
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == (EOS_TOKEN, 2)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("[PAD]", 3)
    assert model.generation_config.eos_token_id == 2 and model.generation_config.pad_token_id == 3
    ids = check_single_ids(tokenizer)
    assert [ids[tag] for tag in SPECIAL_TOKENS] == list(range(FIRST_TAG_ID, REAL_VOCAB_SIZE))


def test_prompts_keep_the_prepended_token_and_batches_pad(pleias_standin_dir: Path):
    generator = LocalGenerator.load(str(pleias_standin_dir), GenerationSettings(max_new_tokens=3))
    assert generator.tokenizer(PROMPT).input_ids[:2] == [2, FIRST_TAG_ID]  # as TRL and upstream see it
    generations = generator.generate([PROMPT, "<|query_start|>Who?<|query_end|>"])
    assert [g.completion_tokens <= 3 for g in generations] == [True, True]
    assert sum(g.truncated for g in generations) == sum(g.finish_reason == "length" for g in generations)
    with_token = generator.tokenizer(PROMPT, return_tensors="pt")
    without = generator.tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)
    greedy = {"max_new_tokens": 3, "do_sample": False, "pad_token_id": 3, "eos_token_id": generator.stop_ids}
    expected = [generator.tokenizer.decode(generator.model.generate(**ids, **greedy)[0, ids.input_ids.shape[1]:])
                for ids in (with_token, without)]
    assert expected[0] != expected[1], "the prepended token changes what the model writes"
    policy = Policy(TransformersBackend(pleias_standin_dir), max_tokens=3)
    assert policy.generate_many([PROMPT]) == [expected[0]] == [generations[0].completion]


def test_eval_model_runs_on_the_real_layout(pleias_standin_dir: Path, rag_rows, tmp_path: Path):
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("".join(json.dumps({k: row[k] for k in ("id", "query", "sources", "prompt")}) + "\n"
                               for row in rag_rows[:3]), encoding="utf-8")
    out = tmp_path / "run"
    assert eval_main(["--model", str(pleias_standin_dir), "--dataset", str(dataset), "--out-dir", str(out),
                      "--max-new-tokens", "4", "--quiet", "--no-plots"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and 0.0 <= summary["overall"]["truncation_rate"] <= 1.0
    generated = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert summary["overall"]["truncation_rate"] == pytest.approx(
        sum(row["finish_reason"] == "length" for row in generated) / 3)


def test_a_tag_that_splits_into_pieces_is_refused():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<|": 1, "|>": 2, **{tag: 3 + i for i, tag in enumerate((*SPECIAL_TOKENS, EOS_TOKEN))}}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()  # cuts "<|answer_start|>" into pieces
    with pytest.raises(ValueError, match="do not encode to their single id"):
        check_single_ids(PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]"))
