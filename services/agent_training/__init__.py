"""Fine-tunes the LLM agents (interests, tags, explanations) from behaviour: SFT, self-training and GRPO.

Adapters are LoRA in PEFT format under `<var>/adapters/<agent>/<version>/` (see `artefact`), trained on the
model the platform serves, from prompts built by the agents' own prompt builders.
"""
