"""A tiny local Llama and tokenizer for tests, smoke runs and benchmarks (no network).

The tokenizer is a byte-level BPE trained with ``tokenizers`` on the shipped raw samples
(``data/samples/raw/*.json``); the 19 Pleias tokens, the EOS ``<|end_of_text|>`` and a pad
token are *special* tokens, exactly as in the real Pleias models. The model is a randomly
initialised :class:`~transformers.LlamaForCausalLM` (hidden 64, 2 layers) saved with its
tokenizer, so ``from_pretrained(out_dir)`` and ``transformers serve`` both work on it.

Both builders are cache-friendly: a directory that already holds a finished build is reused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS
from pleias_rl.data.resources import RAW_SAMPLES

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "<|pad|>"
"""Padding token of the tiny tokenizer (distinct from EOS so padding never ends a sequence)."""

TINY_VOCAB_SIZE = 3000
"""Target vocabulary size of the tiny tokenizer (special tokens included)."""


CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['content'] }}{% endfor %}"
)
"""Plain concatenation: the Pleias prompt is the user message; needed by ``transformers serve``."""

_DONE_MARKER = "tiny_build.json"


def sample_texts(raw_dir: Path = RAW_SAMPLES) -> Iterator[str]:
    """Every question, title and passage of the shipped raw HotpotQA / MuSiQue samples.

    >>> any("Gallu" in text for text in sample_texts())
    True
    """
    for path in sorted(raw_dir.glob("*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            yield from _record_texts(record)


def _record_texts(record: dict) -> Iterator[str]:
    for key in ("question", "question_decomposition", "answer"):
        if isinstance(record.get(key), str):
            yield record[key]
    for title, sentences in record.get("context", []):
        yield title + "\n" + "".join(sentences)
    for paragraph in record.get("paragraphs", []):
        yield paragraph.get("title", "") + "\n" + paragraph.get("paragraph_text", "")


def build_tiny_tokenizer(out_dir: str | Path, vocab_size: int = TINY_VOCAB_SIZE) -> "PreTrainedTokenizerFast":
    """Train (or reload) the tiny byte-level BPE tokenizer and save it to ``out_dir``.

    >>> import tempfile
    >>> tok = build_tiny_tokenizer(tempfile.mkdtemp())
    >>> tok.eos_token, tok.pad_token, tok.convert_tokens_to_ids("<|answer_start|>") < len(tok)
    ('<|end_of_text|>', '<|pad|>', True)
    >>> len(tok.tokenize("<|answer_start|>Paris<|answer_end|>")) >= 3
    True
    """
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    if (out / "tokenizer.json").exists():
        return PreTrainedTokenizerFast.from_pretrained(out)
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = [PAD_TOKEN, EOS_TOKEN, *SPECIAL_TOKENS]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(sample_texts(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS_TOKEN,
                                   pad_token=PAD_TOKEN, additional_special_tokens=list(SPECIAL_TOKENS))
    fast.chat_template = CHAT_TEMPLATE
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return fast


def build_tiny_model(out_dir: str | Path, seed: int = 0, hidden_size: int = 64,
                     num_layers: int = 2) -> Path:
    """Build (or reuse) a tiny random Llama with the tiny tokenizer in ``out_dir``.

    The build goes to a temporary sibling directory first and is renamed into place, so a
    killed build never leaves a half-written model behind.

    >>> import tempfile
    >>> from transformers import AutoModelForCausalLM
    >>> path = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny")
    >>> model = AutoModelForCausalLM.from_pretrained(path)
    >>> model.config.hidden_size, model.generation_config.eos_token_id == model.config.eos_token_id
    (64, True)
    """
    out = Path(out_dir)
    if (out / _DONE_MARKER).exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        _write_tiny_model(staging, seed, hidden_size, num_layers)
        if (out / _DONE_MARKER).exists():  # a concurrent build finished first
            return out
        if out.exists():  # an unfinished earlier build
            shutil.rmtree(out)
        os.replace(staging, out)
    except OSError:
        if not (out / _DONE_MARKER).exists():  # not a concurrent build that won the race
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_tiny_model(out: Path, seed: int, hidden_size: int, num_layers: int) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer(out)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out)
    (out / _DONE_MARKER).write_text(json.dumps({"seed": seed, "hidden_size": hidden_size,
                                                "num_layers": num_layers}))
