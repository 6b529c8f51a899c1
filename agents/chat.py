"""Chat rendering: env observations -> chat messages -> token ids, through the tokenizer's template.

`ChatFormat` is the one place where the trainers, the rollouts, ``assay eval`` and the
preference data turn a conversation into the ids a chat model was trained on:

- `ChatFormat.messages`: a prompt (a ``str``, a message list such as `assay.envs.ChatObservation`
  gives, or a `assay.envs.tools.chat.ToolChat` request) -> OpenAI-style messages, with the
  system prompt from the config (``system_prompt``, which replaces the env's own) or the env.
  Messages are never written as a Python repr: a prompt that is neither text nor messages is a
  ``TypeError``.
- `ChatFormat.prompt_ids`: messages -> ids of ``apply_chat_template(..., tools=...,
  add_generation_prompt=True)`` (the first turn of an episode, an eval prompt, an SFT prompt).
- `ChatFormat.turn_ids`: the ids to append after a sampled assistant turn so that the next
  turn can be sampled: the rest of the template's end-of-assistant-turn, then the env's new
  messages (tool results, feedback) and the generation prompt, exactly as the template places
  them after an assistant turn. Earlier turns are never re-tokenised: a multi-turn episode is
  the prompt's ids, then each turn's sampled ids verbatim, then these ids, and so on.

Where the incremental ids differ from rendering the whole conversation at once (`render_ids`),
by design: (1) the sampled end-of-sequence token stays where the model put it; when the
template closes an assistant turn with a different marker (the tiny model: ``<eos>`` sampled,
``\\n<|end|>\\n`` written by the template) both are in the incremental ids. (2) The assistant turn
is the model's own tokens, while a whole render rewrites it from the message (templates trim
whitespace, drop earlier reasoning, or re-serialise structured ``tool_calls``). (3) A BPE
tokenizer may merge characters across the boundary between a sampled turn and the appended
text differently than it would in one string. The trainer always trains on the incremental
ids, which are the ones the policy was conditioned on when it sampled.

``prompt_format``: ``"chat"`` renders with the template (an error when the tokenizer has none),
``"text"`` keeps the plain prompt (base models; the env's system prompt is then not shown),
``"auto"`` is chat when the tokenizer has a template. Not guaranteed: that a template written
for a model's own tool-call syntax parses the env's JSON calls; the env reads the model's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ChatFormat",
    "ChatSampler",
    "PromptFormat",
    "chat_format",
    "chat_prompts",
    "render_ids",
    "resolve_prompt_format",
]

PromptFormat = Literal["chat", "text", "auto"]
"""How prompts reach a model: through its chat template, as plain text, or chat when it has one."""

_MARK = "\x00assay-turn\x00"
"""A placeholder assistant content, used to find what the template writes after a turn."""


def resolve_prompt_format(tokenizer: Any, prompt_format: str) -> Literal["chat", "text"]:
    """``"chat"`` or ``"text"`` for ``tokenizer``: ``"auto"`` is chat when it has a template.

    Raises ``ValueError`` for an unknown format, or ``"chat"`` with a tokenizer without template.
    """
    if prompt_format not in ("chat", "text", "auto"):
        raise ValueError(f"prompt_format must be chat, text or auto, got {prompt_format!r}")
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if prompt_format == "chat" and not has_template:
        raise ValueError(
            "prompt_format='chat' needs a tokenizer with a chat template (this one has none): "
            "use prompt_format='text' for a base model"
        )
    if prompt_format == "auto":
        return "chat" if has_template else "text"
    return "chat" if prompt_format == "chat" else "text"


def _ids(out: Any) -> list[int]:
    """Token ids from ``apply_chat_template(tokenize=True)`` (a list, or a ``BatchEncoding``)."""
    if isinstance(out, Mapping) or hasattr(out, "input_ids"):
        out = out["input_ids"]
    return [int(t) for t in out]


def render_ids(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    add_generation_prompt: bool = False,
) -> list[int]:
    """The whole conversation rendered at once with ``tokenizer``'s template, as token ids.

    The reference a multi-turn rollout's incremental ids are compared against (see the module
    docstring for where and why they differ).
    """
    text = tokenizer.apply_chat_template(
        [dict(m) for m in messages],
        tools=list(tools) if tools else None,
        add_generation_prompt=add_generation_prompt,
        tokenize=False,
    )
    return [int(t) for t in tokenizer(str(text), add_special_tokens=False)["input_ids"]]


@dataclass(frozen=True)
class ChatFormat:
    """Renders conversations with a tokenizer's chat template (see the module docstring).

    Attributes:
        tokenizer: A transformers tokenizer with a ``chat_template``.
        system_prompt: Replaces the conversation's system message (or is inserted as one);
            None keeps the env's own.
    """

    tokenizer: Any
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        resolve_prompt_format(self.tokenizer, "chat")

    # -- messages -----------------------------------------------------------------------

    def messages(self, prompt: Any, *, system_prompt: str | None = None) -> list[dict[str, Any]]:
        """``prompt`` as chat messages, with the system prompt applied.

        ``prompt`` is a ``str`` (one user message), a sequence of ``{"role", "content", ...}``
        dicts, or a ``{"messages": [...], "tools": [...]}`` request (its messages). The system
        message is ``self.system_prompt`` if set, else ``system_prompt`` if given, else the
        prompt's own (if any). Raises ``TypeError`` for anything else: an observation is never
        turned into text by ``str()``.
        """
        if isinstance(prompt, str):
            messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, Mapping) and "messages" in prompt:
            messages = [dict(m) for m in prompt["messages"]]
        elif isinstance(prompt, Sequence) and all(isinstance(m, Mapping) and "role" in m for m in prompt):
            messages = [dict(m) for m in prompt]
        else:
            raise TypeError(
                f"a chat prompt is a str, a list of messages or a chat request, got {type(prompt).__name__}"
            )
        system = self.system_prompt if self.system_prompt is not None else system_prompt
        if system is not None:
            if messages and messages[0].get("role") == "system":
                messages = messages[1:]
            if system:
                messages = [{"role": "system", "content": system}, *messages]
        return messages

    # -- ids ----------------------------------------------------------------------------

    def prompt_ids(
        self, messages: Sequence[Mapping[str, Any]], *, tools: Sequence[Any] | None = None
    ) -> list[int]:
        """Ids of ``messages`` with the generation prompt (an assistant turn opened)."""
        ids = render_ids(self.tokenizer, messages, tools=tools, add_generation_prompt=True)
        if not ids:
            raise ValueError("the chat template rendered an empty prompt")
        return ids

    def prompt_text(
        self, messages: Sequence[Mapping[str, Any]], *, tools: Sequence[Any] | None = None
    ) -> str:
        """The text of `prompt_ids` (for logs and text-only samplers)."""
        return str(
            self.tokenizer.apply_chat_template(
                [dict(m) for m in messages],
                tools=list(tools) if tools else None,
                add_generation_prompt=True,
                tokenize=False,
            )
        )

    def turn_ids(
        self,
        history: Sequence[Mapping[str, Any]],
        new: Sequence[Mapping[str, Any]],
        sampled: Sequence[int],
        *,
        tools: Sequence[Any] | None = None,
    ) -> list[int]:
        """Ids to append after an assistant turn whose sampled ids are ``sampled``.

        ``history`` is the conversation up to and including that assistant message; ``new`` the
        messages that follow it (tool results, env feedback). Returns the rest of the template's
        end-of-assistant-turn (what the sampled end-of-sequence token does not already spell),
        then ``new`` and the generation prompt, as the template renders them after an assistant
        turn. Raises ``ValueError`` when the template renders earlier turns differently once
        ``new`` follows them, even in a two-message stand-in conversation (no suffix to append).
        """
        suffix = self._suffix(history, new, tools)
        close = self._close(tools)
        eos = getattr(self.tokenizer, "eos_token_id", None)
        if sampled and eos is not None and int(sampled[-1]) == int(eos):
            eos_text = str(self.tokenizer.decode([int(eos)], skip_special_tokens=False))
            if eos_text and close.startswith(eos_text):
                close = close[len(eos_text) :]
        text = close + suffix
        return [int(t) for t in self.tokenizer(text, add_special_tokens=False)["input_ids"]] if text else []

    def _render(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Any] | None, gen: bool) -> str:
        return str(
            self.tokenizer.apply_chat_template(
                [dict(m) for m in messages],
                tools=list(tools) if tools else None,
                add_generation_prompt=gen,
                tokenize=False,
            )
        )

    def _suffix(
        self,
        history: Sequence[Mapping[str, Any]],
        new: Sequence[Mapping[str, Any]],
        tools: Sequence[Any] | None,
    ) -> str:
        """What the template writes after the assistant turn: ``new``, then the generation prompt."""
        for head in (
            list(history),
            [{"role": "user", "content": "."}, {"role": "assistant", "content": "."}],
        ):
            before = self._render(head, tools, False)
            after = self._render([*head, *new], tools, True)
            if after.startswith(before):
                return after[len(before) :]
        raise ValueError(
            "the chat template re-renders earlier turns when a new message follows an assistant "
            "turn: a multi-turn conversation cannot be extended token by token with it"
        )

    def _close(self, tools: Sequence[Any] | None) -> str:
        """The text the template writes after an assistant message's content (its turn end)."""
        head = [{"role": "user", "content": "."}, {"role": "assistant", "content": _MARK}]
        text = self._render(head, tools, False)
        at = text.rfind(_MARK)
        return text[at + len(_MARK) :] if at >= 0 else ""


def chat_format(tokenizer: Any, prompt_format: str, system_prompt: str | None = None) -> ChatFormat | None:
    """A `ChatFormat` when ``prompt_format`` resolves to chat for ``tokenizer``, else None (text)."""
    if resolve_prompt_format(tokenizer, prompt_format) == "text":
        return None
    return ChatFormat(tokenizer, system_prompt)


def chat_prompts(
    chat: ChatFormat,
    prompts: Sequence[Any],
    *,
    system_prompt: str | None = None,
    tools: Sequence[Any] | None = None,
) -> list[list[int]]:
    """Token ids of each prompt (text or messages) rendered with ``chat`` and a generation prompt.

    ``system_prompt`` is the env's own (``chat.system_prompt``, the config's, wins over it);
    ``tools`` go to every prompt. What an evaluation or data pipeline calls to turn task prompts
    into what a chat model sees.
    """
    return [chat.prompt_ids(chat.messages(p, system_prompt=system_prompt), tools=tools) for p in prompts]


class ChatSampler:
    """A sampler whose text prompts are rendered through a chat template first.

    Wraps a sampler that takes token-id prompts (`assay.agents.sampler.HFSampler`,
    `assay.agents.sampler.VLLMSampler`): each prompt (a task's text, or messages) becomes
    `chat_prompts` ids, and the samples come back unchanged (their text is the reply alone).

    Args:
        sampler: The inner sampler (``accepts_token_ids``).
        chat: The renderer (its ``system_prompt``, if set, replaces ``system_prompt``).
        system_prompt: The env's system prompt.
        tools: Tool schemas for every prompt (tool envs).
    """

    accepts_token_ids = True
    """Token-id prompts pass through unrendered (already a conversation's ids)."""

    def __init__(
        self,
        sampler: Any,
        chat: ChatFormat,
        *,
        system_prompt: str | None = None,
        tools: Sequence[Any] | None = None,
    ) -> None:
        if not getattr(sampler, "accepts_token_ids", False):
            raise TypeError(
                f"{type(sampler).__name__} does not take token-id prompts: it cannot sample chat ids"
            )
        self.sampler = sampler
        self.chat = chat
        self.system_prompt = system_prompt
        self.tools = list(tools) if tools else None

    def __repr__(self) -> str:
        return f"ChatSampler({self.sampler!r})"

    def sample(
        self,
        prompts: Sequence[Any],
        *,
        n: int = 1,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> Any:
        """``sampler.sample`` on the rendered prompts (same arguments, same samples)."""
        ids = [
            [int(t) for t in p]
            if not isinstance(p, str | Mapping) and p and isinstance(p[0], int)
            else chat_prompts(self.chat, [p], system_prompt=self.system_prompt, tools=self.tools)[0]
            for p in prompts
        ]
        return self.sampler.sample(
            ids, n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
        )
