"""Loading a Pleias-ready policy for training: a re-export of :mod:`pleias_rl.inference.loader`,
the one loader every path uses (GRPO, SFT, the pipeline, eval, the critic's policy).

``python -m pleias_rl.rl.model SRC OUT`` still saves a Pleias-ready plain checkpoint of SRC.

>>> from pleias_rl.inference import loader
>>> load_model_and_tokenizer is loader.load_model_and_tokenizer
True
"""

from pleias_rl.inference.loader import (BUNDLED_GGUF_ALIAS, bundled_gguf_path, ensure_pleias_tokens,
                                        load_model_and_tokenizer, load_tokenizer, main, prepare_checkpoint,
                                        resolve_model_source, stop_token_ids)

__all__ = ["BUNDLED_GGUF_ALIAS", "bundled_gguf_path", "ensure_pleias_tokens", "load_model_and_tokenizer",
           "load_tokenizer", "main", "prepare_checkpoint", "resolve_model_source", "stop_token_ids"]

if __name__ == "__main__":
    raise SystemExit(main())
