"""Fixtures and helpers shared by the ``tests/test_rl_*.py`` files (tiny model, small data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "grpo" / "smoke.yaml"
WARMSTART = REPO / "configs" / "sft" / "warmstart.yaml"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama of rl/tiny.py (tokenizer with the 19 Pleias tokens as special tokens)."""
    from pleias_rl.rl.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("rl") / "tiny-model")


@pytest.fixture(scope="session")
def rag_rows() -> list[dict[str, Any]]:
    """12 short-prompt HotpotQA/MuSiQue rows with oracle completions (pleias_rl.data.build, no exercises)."""
    from pleias_rl.data.build import BuildOptions, build_rows, file_records
    from pleias_rl.data.exercises import ExerciseOptions

    raw = sorted((REPO / "data" / "samples" / "raw").glob("*.json"))
    options = BuildOptions(max_prompt_tokens=300, sft=True, limit=12, exercises=ExerciseOptions.none())
    return list(build_rows(file_records(raw), options))


@pytest.fixture(scope="session")
def rl_jsonl(rag_rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rows as a contracts-schema JSONL file (completions kept: GRPO must ignore them)."""
    path = tmp_path_factory.mktemp("rl") / "rl.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rag_rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def critic_dir(rag_rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A critic-loop output directory: ``sft.jsonl`` with ``id, prompt, completion`` rows."""
    out = tmp_path_factory.mktemp("critique")
    lines = [json.dumps({"id": row["id"], "prompt": row["prompt"], "completion": row["completion"]})
             for row in rag_rows]
    (out / "sft.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def overrides(**values: object) -> list[str]:
    """``--key value`` flags for the TRL parsers."""
    flags: list[str] = []
    for key, value in values.items():
        flags += [f"--{key}", str(value)]
    return flags


def weights(path: Path) -> dict[str, Any]:
    """The tensors of a saved model or adapter directory."""
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    assert files, f"no safetensors in {path}"
    tensors: dict[str, Any] = {}
    for file in files:
        tensors.update(load_file(str(file)))
    return tensors


def logged_keys(trainer: Any) -> set[str]:
    """Every metric name the trainer logged during training."""
    return {key for entry in trainer.state.log_history for key in entry}


class StopAfterFirstSave:
    """A trainer callback that kills the run right after its first checkpoint is written."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed after checkpoint")


REAL_VOCAB_SIZE = 65_536
"""Vocabulary size of the real Pleias-RAG tokenizer."""

FIRST_TAG_ID = 65_517
"""Id of the first of the 19 Pleias tags in the real tokenizer (they fill 65517-65535)."""


def build_pleias_standin(out_dir: Path) -> Path:
    """A checkpoint with the real Pleias-RAG tokenizer's layout, built locally (no download):
    vocab 65,536; ``[UNK]``=0, ``<|begin_of_text|>``=1, ``<|end_of_text|>``=2, ``[PAD]``=3; the 19
    tags as special tokens 65517-65535; ``<|end_of_text|>`` prepended by the post-processor; no
    eos/pad in tokenizer_config.json; generation_config.json with eos 2; a 1-layer Llama."""
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS
    from pleias_rl.rl.tiny import sample_texts

    heads = ["[UNK]", "<|begin_of_text|>", EOS_TOKEN, "[PAD]"]
    words = list(dict.fromkeys(word for text in sample_texts() for word in text.split()))
    filler = FIRST_TAG_ID - len(heads)
    words = (words + [f"w{i}" for i in range(filler)])[:filler]
    vocab = {token: i for i, token in enumerate([*heads, *words, *SPECIAL_TOKENS])}
    assert len(vocab) == REAL_VOCAB_SIZE and vocab[SPECIAL_TOKENS[0]] == FIRST_TAG_ID
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    raw.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    raw.add_special_tokens([AddedToken(token, special=True, normalized=False)
                            for token in [*heads, *SPECIAL_TOKENS]])
    raw.post_processor = processors.TemplateProcessing(single=f"{EOS_TOKEN} $A", pair=f"{EOS_TOKEN} $A $B",
                                                       special_tokens=[(EOS_TOKEN, 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=REAL_VOCAB_SIZE, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         bos_token_id=1, eos_token_id=2, pad_token_id=None))
    model.generation_config = GenerationConfig(eos_token_id=2)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("eos_token", "pad_token", "bos_token"):
        config.pop(key, None)
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out_dir


@pytest.fixture(scope="session")
def pleias_standin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in of the real Pleias-RAG checkpoint layout (:func:`build_pleias_standin`)."""
    return build_pleias_standin(tmp_path_factory.mktemp("standin") / "pleias-standin")
