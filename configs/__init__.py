"""The shipped YAML recipes (grpo/, sft/, critic/, accelerate/), found by pleias_rl.data.resources."""
