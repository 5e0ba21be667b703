"""Critic loop: deterministic and LLM critics, revision, corrective SFT and preference data.

- :mod:`critics.base`: ``Critic``, ``Verdict``, ``Issue`` and the failure taxonomy ``FAILURE_KINDS``.
- :mod:`critics.rules`: ``RuleCritic``, deterministic checks on the rewards' diagnostics, with repairs.
- :mod:`critics.llm`: ``LLMCritic``, a stronger model judging in strict JSON.
- :mod:`critics.backends`: ``LLMBackend`` (``complete``/``complete_many``/``check``),
  ``OpenAIBackend`` (any OpenAI-compatible server), ``TransformersBackend`` (in process),
  ``make_backend``, and the errors ``BackendError``/``BackendUnavailable``/``BackendTimeout``/
  ``BudgetExhausted``.
- :mod:`critics.loop`: ``CritiqueLoop``, ``Policy``, ``LoopSettings``.
- :mod:`critics.output`, :mod:`critics.report`, :mod:`critics.cli`: ``pleias-rl critique``.
"""
