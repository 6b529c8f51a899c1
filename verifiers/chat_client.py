"""`ChatClient`: one chat turn against an OpenAI-compatible server, with native tool calls.

Built on the official ``openai`` SDK's ``AsyncOpenAI`` (typed responses, its retries with
backoff on connection errors, 408/409/429/5xx, and its per-request timeout). One call of
`ChatClient.complete` sends the conversation so far (OpenAI message form, assistant
``tool_calls`` included) and the ``tools=[...]`` schemas, and returns a `ChatTurn`: the
assistant's text, its tool calls as plain dicts, the finish reason and the token counts the
server reported.

Guarantees: each attempt is cut after ``timeout_s``; at most ``max_retries`` retries; a failure
after them (or a non-retryable HTTP error, or a reply without a choice) raises `SamplerError`
with the server's message. The tool-call arguments are returned as the server sent them (a
JSON string); nothing here parses or runs them.

Not guaranteed: reproducibility. The ``seed`` is sent; whether the server honours it is the
server's business (vLLM does per request; hosted APIs mostly do not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.verifiers.sampler import SamplerError

__all__ = ["ChatClient", "ChatSampling", "ChatTurn"]


@dataclass(frozen=True, slots=True)
class ChatSampling:
    """The sampling parameters of one chat turn (sent as the API's fields of the same names)."""

    temperature: float = 1.0
    top_p: float | None = None
    max_tokens: int = 512
    """The API's ``max_tokens``: the cap on one turn's generated tokens."""
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One assistant turn.

    Attributes:
        content: The text ("" when the turn only calls tools).
        tool_calls: ``{"id", "type": "function", "function": {"name", "arguments"}}`` dicts,
            ``arguments`` the JSON string the model wrote.
        finish_reason: ``"stop"``, ``"length"``, ``"tool_calls"``, ... as the server says.
        prompt_tokens: Tokens of the request's prompt (0 when the server reports no usage).
        completion_tokens: Tokens of this turn (0 when unreported).
    """

    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _openai() -> Any:
    try:
        import openai
    except ImportError as e:  # pragma: no cover - depends on the install
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('chat endpoints need the openai SDK: pip install "assay[eval]"') from e
    return openai


class ChatClient:
    """A chat-completions client for one model on one OpenAI-compatible server.

    Args:
        base_url: The server root (``/v1`` is appended when missing).
        model: The served model name.
        api_key: Bearer token (``"EMPTY"`` when None: local servers ignore it).
        timeout_s: Limit on one attempt.
        max_retries: The SDK's retries after a retryable failure.
        extra_body: Merged into every request (server-specific fields, e.g. vLLM's ``top_k``).

    The client owns an ``AsyncOpenAI`` bound to the event loop it is first used on; `aclose` it
    (or use ``async with``) when done.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else root + "/v1"
        self.model = model
        self.api_key = api_key
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.extra_body = dict(extra_body or {})
        self._client: Any = None

    def __repr__(self) -> str:
        return f"ChatClient({self.base_url!r}, model={self.model!r})"

    def _sdk(self) -> Any:
        if self._client is None:
            openai = _openai()
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key or "EMPTY",
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        sampling: ChatSampling | None = None,
        seed: int | None = None,
    ) -> ChatTurn:
        """One assistant turn for ``messages`` (with ``tools`` offered natively when given)."""
        openai = _openai()
        sampling = sampling or ChatSampling()
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
        }
        if tools:
            kwargs["tools"] = [dict(t) for t in tools]
        if sampling.top_p is not None:
            kwargs["top_p"] = sampling.top_p
        if sampling.stop:
            kwargs["stop"] = list(sampling.stop)
        if seed is not None:
            kwargs["seed"] = seed
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        try:
            response = await self._sdk().chat.completions.create(**kwargs)
        except openai.APIError as e:
            raise SamplerError(f"POST {self.base_url}/chat/completions: {type(e).__name__}: {e}") from e
        if not response.choices:
            raise SamplerError(f"{self.base_url}/chat/completions returned no choice")
        choice = response.choices[0]
        message = choice.message
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments or ""},
            }
            for c in (message.tool_calls or [])
            if getattr(c, "function", None) is not None
        ]
        usage = response.usage
        return ChatTurn(
            content=message.content or "",
            tool_calls=calls,
            finish_reason=str(choice.finish_reason or ""),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    async def aclose(self) -> None:
        """Close the SDK's HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
