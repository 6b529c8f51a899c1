"""Prompt templates for the math envs.

``template`` names one of `TEMPLATES`, or is a format string with a ``{problem}`` field:

- ``"boxed"`` (default): the problem, then "Put your final answer in \\boxed{}."
- ``"think"``: reason inside ``<think>...</think>``, then give the final answer in ``\\boxed{}``.
- ``"plain"``: the problem alone (the verifier still finds "the answer is ...", ``####``, or a
  completion that is the bare answer and nothing else).
- ``"chat"``: the problem alone as the user turn, and the boxed instruction as the env's
  ``system_prompt`` (read it with `assay.envs.ChatObservation`).
"""

from __future__ import annotations

__all__ = ["BOXED_INSTRUCTION", "TEMPLATES", "render"]

BOXED_INSTRUCTION = "Put your final answer in \\boxed{}."
THINK_INSTRUCTION = "Think step by step inside <think> and </think>, then give only the final answer in \\boxed{} after </think>."

TEMPLATES = {
    "boxed": "{problem}\n" + BOXED_INSTRUCTION,
    "think": "{problem}\n" + THINK_INSTRUCTION,
    "plain": "{problem}",
    "chat": "{problem}",
}


def render(template: str, problem: str) -> str:
    """The prompt for ``problem`` under ``template`` (a name in `TEMPLATES` or a format string)."""
    fmt = TEMPLATES.get(template, template)
    if "{problem}" not in fmt:
        raise ValueError(
            f"template must be one of {sorted(TEMPLATES)} or contain '{{problem}}', got {template!r}"
        )
    return fmt.replace("{problem}", problem)


def system_prompt_for(template: str, system_prompt: str | None) -> str | None:
    """The ``chat`` template moves the format instruction into the system prompt."""
    if template == "chat" and system_prompt is None:
        return BOXED_INSTRUCTION
    return system_prompt
