"""One inference layer below critics and evaluation: loading a Pleias-ready policy, in-process generation and an OpenAI-compatible client."""
