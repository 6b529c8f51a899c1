"""Samplers: where text comes from. The policy's rollouts and an LLM judge's verdicts both use one.

`Sampler` is the protocol: ``sample(prompts, n=..., max_new_tokens=..., temperature=..., seed=...)``
returns, for each prompt, ``n`` `Sample`s (text, token ids, per-token log-probs). It lives in the
verifiers layer because an LLM judge is a verifier; the agents layer builds its policy samplers
on the same protocol.

- `ScriptedSampler`: canned replies, for tests (a scripted policy puts probability 1 on its text,
  so its log-probs are 0.0; its token ids are the UTF-8 bytes).
- `OpenAISampler`: any OpenAI-compatible HTTP server (``vllm serve``, SGLang, llama.cpp, a hosted
  API) through ``/v1/completions`` or ``/v1/chat/completions``, with a concurrency limit, a hard
  per-attempt timeout and retries. Token ids and log-probs are returned when the server provides
  them (vLLM: ``return_tokens_as_token_ids`` or ``return_token_ids``), else left empty.

Failure is an exception (`SamplerError`), raised after retries; it carries the per-prompt results
that did succeed in ``partial`` so that a batch consumer (the judge) can keep them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from assay.errors import AssayError
from assay.verifiers.retry import Retryable, RetryPolicy

__all__ = ["OpenAISampler", "Sample", "Sampler", "SamplerError", "ScriptedSampler", "served_model"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled continuation.

    Attributes:
        text: The generated text (the prompt not included).
        token_ids: Its token ids, when the backend reports them (else empty).
        logprobs: The behaviour policy's log-probability of each token in ``token_ids`` (same
            length), for importance ratios; empty when the backend does not report them.
        finish_reason: Why generation stopped, as the backend says it (``"stop"``, ``"length"``,
            ...); ``""`` when unknown. ``"length"`` means the text was cut at ``max_new_tokens``.
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str = ""


@runtime_checkable
class Sampler(Protocol):
    """Anything that continues prompts: ``n`` samples per prompt, in prompt order."""

    def sample(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        max_new_tokens: int,
        temperature: float,
        seed: int,
    ) -> list[list[Sample]]: ...


class SamplerError(AssayError):
    """The backend failed (unreachable, erroring, too slow) after retries.

    Attributes:
        partial: One entry per prompt: its samples, or the exception that ended its requests.
            Empty when the failure happened before any request (e.g. bad configuration).
    """

    def __init__(self, message: str, partial: Sequence[list[Sample] | BaseException] = ()) -> None:
        super().__init__(message)
        self.partial: list[list[Sample] | BaseException] = list(partial)


def check_sample_args(prompts: Sequence[Any], n: int, max_new_tokens: int, temperature: float) -> None:
    """The `Sampler.sample` argument checks every sampler shares (a clear error, not a crash)."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of str, not a single str")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")


class ScriptedSampler:
    """Canned replies, for tests: like a mock client, but behind the real `Sampler` protocol.

    ``replies`` maps a prompt to the texts to return for it, cycled in order across calls and
    across the ``n`` samples of one call; a callable gets the prompt and returns the texts. A
    prompt with no script uses ``default`` (or raises ``KeyError`` when there is none). Every
    prompt received is appended to `calls`.
    """

    def __init__(
        self,
        replies: Mapping[str, Sequence[str]] | Callable[[str], Sequence[str] | str],
        *,
        default: Sequence[str] | str | None = None,
    ) -> None:
        self.replies = replies
        self.default = [default] if isinstance(default, str) else default
        self.calls: list[str] = []
        self._cursor: dict[str, int] = {}
        self._lock = threading.Lock()

    def _script(self, prompt: str) -> Sequence[str]:
        if callable(self.replies):
            found: Sequence[str] | str | None = self.replies(prompt)
        else:
            found = self.replies.get(prompt)
        if found is None:
            found = self.default
        if found is None:
            raise KeyError(f"ScriptedSampler has no reply for prompt {prompt[:80]!r}")
        script = [found] if isinstance(found, str) else list(found)
        if not script:
            raise ValueError(f"empty script for prompt {prompt[:80]!r}")
        return script

    def sample(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[list[Sample]]:
        check_sample_args(prompts, n, max_new_tokens, temperature)
        out: list[list[Sample]] = []
        with self._lock:
            for prompt in prompts:
                self.calls.append(prompt)
                script = self._script(prompt)
                group = []
                for _ in range(n):
                    k = self._cursor.get(prompt, 0)
                    self._cursor[prompt] = k + 1
                    text = script[k % len(script)]
                    ids = list(text.encode("utf-8", "surrogatepass"))[:max_new_tokens]
                    cut = len(ids) < len(text.encode("utf-8", "surrogatepass"))
                    if cut:
                        text = bytes(ids).decode("utf-8", "ignore")
                    group.append(Sample(text, ids, [0.0] * len(ids), "length" if cut else "stop"))
                out.append(group)
        return out


_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAISampler:
    """A client for an OpenAI-compatible server (``/v1/completions`` or ``/v1/chat/completions``).

    Guarantees: at most ``concurrency`` requests in flight per `sample` call; each attempt is cut
    off after ``timeout_s`` of wall-clock time, however slowly the server trickles bytes; an
    attempt that times out, cannot connect or gets HTTP 408/409/425/429/5xx is retried up to
    ``max_retries`` times with jittered exponential backoff (``backoff_s`` doubling, capped at
    4 s); other HTTP errors are not retried. So one prompt costs at most about
    ``(max_retries + 1) * timeout_s`` plus backoff, and a batch at most that times
    ``ceil(len(prompts) / concurrency)``. Failure raises `SamplerError` with the per-prompt
    results in ``partial``. ``max_retries`` and ``backoff_s`` become the sampler's ``retry``
    (a `RetryPolicy`).

    Prompt ``i`` is sent with ``seed + i`` (so equal prompts in one batch are independent draws,
    and the same call reproduces on a server that honours seeds).

    Args:
        base_url: The server root, e.g. ``"http://127.0.0.1:8000"`` (``/v1`` is appended when
            missing).
        model: The served model name.
        chat: Use ``/v1/chat/completions`` with the prompt as one user message (after
            ``system_prompt`` when set) instead of ``/v1/completions``.
        api_key: Sent as a bearer token when set.
        timeout_s: Hard wall-clock limit on one attempt.
        max_retries: Extra attempts after a retryable failure.
        backoff_s: First backoff; doubles each retry (with jitter), capped at 4 s.
        concurrency: Requests in flight at once.
        logprobs: Ask for per-token log-probs (and token ids, see ``vllm_token_ids``).
        vllm_token_ids: Add vLLM's ``return_tokens_as_token_ids`` so token ids come back; turn
            off for servers that reject unknown fields.
        extra_body: Merged into every request body (e.g. ``{"top_p": 0.95}``).
        system_prompt: The system message in chat mode.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        chat: bool = False,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        backoff_s: float = 0.25,
        concurrency: int = 16,
        logprobs: bool = True,
        vllm_token_ids: bool = True,
        extra_body: Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        retry = RetryPolicy(max_retries, backoff_s, 4.0, (0.5, 1.0), _RETRY_STATUS)
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else root + "/v1"
        self.model = model
        self.chat = chat
        self.api_key = api_key
        self.timeout_s = float(timeout_s)
        self.retry = retry
        self.concurrency = concurrency
        self.logprobs = logprobs
        self.vllm_token_ids = vllm_token_ids
        self.extra_body = dict(extra_body or {})
        self.system_prompt = system_prompt

    def __repr__(self) -> str:
        mode = "chat" if self.chat else "completions"
        return f"OpenAISampler({self.base_url!r}, model={self.model!r}, {mode})"

    # -- the protocol -------------------------------------------------------------------------

    def sample(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[list[Sample]]:
        """Blocking: runs `asample` on a private event loop (in a helper thread when the caller
        is itself inside a running loop)."""
        coro_args = (list(prompts), n, max_new_tokens, temperature, seed)
        check_sample_args(prompts, n, max_new_tokens, temperature)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.asample(*coro_args))
        box: list[Any] = []

        def run() -> None:
            try:
                box.append(asyncio.run(self.asample(*coro_args)))
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                box.append(e)

        worker = threading.Thread(target=run, name="assay-openai-sampler", daemon=True)
        worker.start()
        worker.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        result: list[list[Sample]] = box[0]
        return result

    async def asample(
        self,
        prompts: Sequence[str],
        n: int = 1,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[list[Sample]]:
        """The async form of `sample` (same arguments, same guarantees)."""
        check_sample_args(prompts, n, max_new_tokens, temperature)
        httpx = _import_httpx()
        limit = asyncio.Semaphore(self.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=self.timeout_s, limits=limits
        ) as client:

            async def one(i: int, prompt: str) -> list[Sample]:
                body = self._body(prompt, n, max_new_tokens, temperature, seed + i)
                async with limit:
                    return await self._post_with_retries(client, body, n)

            results = await asyncio.gather(
                *(one(i, p) for i, p in enumerate(prompts)), return_exceptions=True
            )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            for r in failed:  # expected failures are SamplerErrors; anything else is a bug
                if not isinstance(r, SamplerError):
                    raise r
            raise SamplerError(
                f"{len(failed)} of {len(prompts)} prompts failed; first: {failed[0]}", partial=results
            )
        return [r for r in results if not isinstance(r, BaseException)]

    # -- requests -----------------------------------------------------------------------------

    def _body(
        self, prompt: str, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        if self.chat:
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            body["messages"] = [*messages, {"role": "user", "content": prompt}]
            if self.logprobs:
                body["logprobs"] = True
        else:
            body["prompt"] = prompt
            if self.logprobs:
                body["logprobs"] = 1
        if self.logprobs and self.vllm_token_ids:
            body["return_tokens_as_token_ids"] = True
        body.update(self.extra_body)
        return body

    async def _post_with_retries(self, client: Any, body: dict[str, Any], n: int) -> list[Sample]:
        path = "/chat/completions" if self.chat else "/completions"
        retries = self.retry.retries()
        while True:
            try:
                return await asyncio.wait_for(self._post(client, path, body, n), self.timeout_s)
            except (Retryable, TimeoutError) as e:
                wait = retries.next_wait()
                if wait is None:
                    reason = "timed out" if isinstance(e, TimeoutError) else str(e)
                    raise SamplerError(f"POST {path}: {reason} after {retries.attempts} attempt(s)") from e
                await asyncio.sleep(wait)

    async def _post(self, client: Any, path: str, body: dict[str, Any], n: int) -> list[Sample]:
        httpx = _import_httpx()
        try:
            response = await client.post(path, json=body)
        except httpx.TransportError as e:  # connect/read errors, httpx's own timeouts
            raise Retryable(f"{type(e).__name__}: {e}") from e
        if self.retry.retryable(response.status_code):
            raise Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise SamplerError(f"POST {path}: HTTP {response.status_code}: {response.text[:500]}")
        try:
            payload = response.json()
            return self._parse(payload, n)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise Retryable(f"malformed response ({type(e).__name__}: {e}): {response.text[:200]}") from e

    def _parse(self, payload: Mapping[str, Any], n: int) -> list[Sample]:
        choices = sorted(payload["choices"], key=lambda c: c.get("index", 0))
        if len(choices) < n:
            raise ValueError(f"asked for n={n} samples, server returned {len(choices)}")
        return [self._parse_choice(c) for c in choices[:n]]

    def _parse_choice(self, choice: Mapping[str, Any]) -> Sample:
        if self.chat:
            message = choice.get("message") or {}
            text = message.get("content") or ""
            entries = ((choice.get("logprobs") or {}).get("content")) or []
            tokens = [e.get("token", "") for e in entries]
            logprobs = [float(e.get("logprob", 0.0)) for e in entries]
        else:
            text = choice.get("text") or ""
            lp = choice.get("logprobs") or {}
            tokens = list(lp.get("tokens") or [])
            logprobs = [float(x) if x is not None else 0.0 for x in (lp.get("token_logprobs") or [])]
        if not isinstance(text, str):
            raise TypeError(f"choice text is {type(text).__name__}, not str")
        ids = choice.get("token_ids")
        if ids is not None:
            token_ids = [int(t) for t in ids]
        elif tokens and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
            token_ids = [int(t.split(":", 1)[1]) for t in tokens]
        else:
            token_ids = []
        if len(logprobs) != len(token_ids):
            logprobs = logprobs if not token_ids else []
        return Sample(text, token_ids, logprobs if token_ids else [], str(choice.get("finish_reason") or ""))


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError as e:  # pragma: no cover - depends on the install
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('OpenAISampler needs httpx: pip install "assay[serve]"') from e
    return httpx


def served_model(base_url: str, api_key: str | None, timeout_s: float) -> str:
    """The first model an OpenAI-compatible server lists at ``GET /v1/models``."""
    httpx = _import_httpx()

    root = base_url.rstrip("/")
    url = (root if root.endswith("/v1") else root + "/v1") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(url, headers=headers, timeout=timeout_s)
        r.raise_for_status()
        data = r.json().get("data") or []
    except (httpx.HTTPError, ValueError) as e:
        raise AssayError(f"cannot list models at {url} ({e}); pass the model name") from None
    if not data:
        raise AssayError(f"{url} lists no models; pass the model name")
    return str(data[0]["id"])
