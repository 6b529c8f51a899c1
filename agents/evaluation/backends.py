"""`load_sampler`: turn ``assay eval --model`` into a sampler.

- ``http://host:port`` (or ``https://``): an OpenAI-compatible server (``vllm serve``, ...),
  through `assay.verifiers.sampler.OpenAISampler`. The served model name is asked from
  ``GET /v1/models`` unless given.
- a local directory (``save_pretrained`` layout): run with transformers (`HFSampler`, the
  default engine) or in-process vLLM (`VLLMSampler`, ``engine="vllm"``).
- ``import:package.module:name``: ``name`` is a sampler, or a zero-argument callable that
  returns one (custom backends, scripted samplers in tests).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from assay.errors import AssayError
from assay.verifiers.sampler import served_model

__all__ = ["Engine", "judge_selector", "load_policy", "load_sampler"]

Engine = Literal["hf", "vllm"]


def load_sampler(
    model: str,
    *,
    engine: Engine = "hf",
    model_name: str | None = None,
    api_key: str | None = None,
    chat: bool = False,
    timeout_s: float = 120.0,
    concurrency: int = 16,
    batch_size: int | None = None,
    max_model_len: int | None = None,
    top_p: float | None = None,
    stop: tuple[str, ...] = (),
    prompt_format: str = "auto",
    system_prompt: str | None = None,
    system_override: str | None = None,
) -> Any:
    """A sampler for ``model`` (see the module docstring for the accepted forms).

    ``top_p`` and ``stop`` are sent to URL models; the local engines sample with plain
    temperature (their log-probs are then the policy's own) and stop only at end-of-sequence or
    ``max_new_tokens``, so they refuse both.

    Chat: a local model's prompts go through its chat template (`assay.agents.chat.ChatSampler`)
    when ``prompt_format`` resolves to chat (``auto``: the tokenizer has a template); a URL
    model in ``chat`` mode sends the system message itself. The system message is
    ``system_override`` (``--system-prompt``) if given, else ``system_prompt`` (the env's).
    """
    url = model.startswith(("http://", "https://"))
    if top_p is not None and not url:
        raise ValueError(
            "top_p is supported for URL models only (local engines use plain temperature sampling)"
        )
    if stop and not url:
        raise ValueError("stop strings for single-turn envs are supported for URL models only")
    if url:
        from assay.verifiers.sampler import OpenAISampler

        if system_override is not None and not chat:
            raise ValueError("a system prompt needs chat mode for a URL model: add --chat")
        name = model_name or served_model(model, api_key, timeout_s=min(timeout_s, 30.0))
        extra: dict[str, Any] = {} if top_p is None else {"top_p": top_p}
        if stop:
            extra["stop"] = list(stop)
        return OpenAISampler(
            model,
            name,
            chat=chat,
            system_prompt=(system_override if system_override is not None else system_prompt)
            if chat
            else None,
            api_key=api_key,
            timeout_s=timeout_s,
            concurrency=concurrency,
            extra_body=extra or None,
        )
    if model.startswith("import:"):
        module, _, attr = model.removeprefix("import:").partition(":")
        if not module or not attr:
            raise ValueError(f"expected import:package.module:name, got {model!r}")
        obj = getattr(importlib.import_module(module), attr)
        return obj() if isinstance(obj, type) or not hasattr(obj, "sample") else obj
    path = Path(model)
    if not path.is_dir():
        raise ValueError(
            f"--model {model!r} is neither an http(s) URL, an import: path nor a local directory"
        )
    if engine == "vllm":
        try:
            from assay.agents.sampler import VLLMSampler
        except ImportError as e:  # pragma: no cover - depends on the agents issue
            raise AssayError(f"the vLLM sampler is unavailable: {e}") from e
        engine_sampler = (
            VLLMSampler(str(path))
            if max_model_len is None
            else VLLMSampler(str(path), max_model_len=max_model_len)
        )
        return _chat(engine_sampler, engine_sampler.tokenizer, prompt_format, system_prompt, system_override)
    if engine == "hf":
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from assay.agents.sampler import HFSampler
        except ImportError as e:
            from gymnasium.error import DependencyNotInstalled

            raise DependencyNotInstalled(
                f'local models need the train extra: pip install "assay[train]" ({e})'
            ) from e
        tokenizer = AutoTokenizer.from_pretrained(path)
        policy = AutoModelForCausalLM.from_pretrained(path)
        return _chat(
            HFSampler(policy, tokenizer, batch_size=batch_size),
            tokenizer,
            prompt_format,
            system_prompt,
            system_override,
        )
    raise ValueError(f"engine must be 'hf' or 'vllm', got {engine!r}")


def load_policy(
    model: str,
    *,
    engine: Engine = "hf",
    model_name: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
    max_retries: int = 2,
    temperature: float = 1.0,
    top_p: float | None = None,
    max_new_tokens: int = 512,
    stop: tuple[str, ...] = (),
    max_model_len: int | None = None,
    prompt_format: str = "auto",
) -> Any:
    """A `ChatPolicy` for ``model``, for multi-turn and tool envs.

    The system prompt is not set here: the env carries it (``assay eval --system-prompt``
    passes it to the env), so every policy sees the same conversation. ``prompt_format`` is
    for local models and samplers (`SamplerPolicy` renders through `assay.agents.chat`).

    - a URL: `EndpointPolicy` (the ``openai`` SDK's async client, native tool calls);
    - ``import:module:name``: an object with ``act`` is the policy; one with ``sample`` (a
      sampler) is wrapped in `SamplerPolicy` (its ``tokenizer`` attribute, when present, renders
      the chat);
    - a local directory: the ``hf`` or ``vllm`` sampler with the model's tokenizer and chat
      template, in `SamplerPolicy` (``top_p`` refused, as for single-turn).
    """
    from assay.agents.evaluation.policies import EndpointPolicy, SamplerPolicy
    from assay.verifiers.chat_client import ChatClient, ChatSampling

    if model.startswith(("http://", "https://")):
        name = model_name or served_model(model, api_key, timeout_s=min(timeout_s, 30.0))
        client = ChatClient(model, name, api_key=api_key, timeout_s=timeout_s, max_retries=max_retries)
        return EndpointPolicy(client, ChatSampling(temperature, top_p, max_new_tokens, tuple(stop)))
    if model.startswith("import:"):
        module, _, attr = model.removeprefix("import:").partition(":")
        if not module or not attr:
            raise ValueError(f"expected import:package.module:name, got {model!r}")
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, type) or not (hasattr(obj, "act") or hasattr(obj, "sample")):
            obj = obj()
        if hasattr(obj, "act"):
            return obj
        return SamplerPolicy(
            obj,
            getattr(obj, "tokenizer", None),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            stop=stop,
            prompt_format=prompt_format,
        )
    # the raw engine: SamplerPolicy renders the whole conversation itself
    sampler = load_sampler(
        model, engine=engine, top_p=top_p, max_model_len=max_model_len, prompt_format="text"
    )
    tokenizer = getattr(sampler, "tokenizer", None)
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model)
    return SamplerPolicy(
        sampler,
        tokenizer,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        stop=stop,
        prompt_format=prompt_format,
    )


def _chat(
    sampler: Any, tokenizer: Any, prompt_format: str, system_prompt: str | None, system_override: str | None
) -> Any:
    """``sampler`` behind the chat template when ``prompt_format`` resolves to chat, else as is."""
    from assay.agents.chat import ChatSampler, chat_format

    chat = chat_format(tokenizer, prompt_format, system_override)
    if chat is None and system_override is not None:
        raise ValueError("a system prompt needs the chat format: this tokenizer has no chat template")
    return sampler if chat is None else ChatSampler(sampler, chat, system_prompt=system_prompt)


JUDGE_CRITERIA = "The response solves the problem correctly, with sound reasoning and one clear final answer."


def judge_selector(
    url: str,
    *,
    model_name: str | None = None,
    api_key: str | None = None,
    criteria: str = JUDGE_CRITERIA,
    timeout_s: float = 120.0,
) -> Callable[..., float | None]:
    """A best-of-N selector: an LLM judge (`assay.rewards.judge.Judge`) behind an
    OpenAI-compatible ``url`` scores each completion in ``[0, 1]``.

    The judge sees the prompt and the completion, never the reference answer (a selector stands
    for what you would have at inference time). A judge that fails or gives no parsable score
    leaves the sample unscored (None).
    """
    from assay.rewards.judge import Judge, rubric_template
    from assay.verifiers.base import Status, Task
    from assay.verifiers.sampler import OpenAISampler

    name = model_name or served_model(url, api_key, timeout_s=min(timeout_s, 30.0))
    sampler = OpenAISampler(url, name, api_key=api_key, timeout_s=timeout_s, logprobs=False)
    judge = Judge(sampler, template=rubric_template(criteria))

    def select(completion: str, task: Task) -> float | None:
        verdict = judge(completion, dataclasses.replace(task, answer=None))
        return None if verdict.status is Status.ERROR else verdict.score

    return select
