"""Rollouts: run a `Sampler` against a Gymnasium vector env of assay text envs.

`collect_episodes` plays one episode per sub-env. Single-turn envs take one step. Multi-turn
envs (`assay.envs.MultiTurnEnv`, tool envs) alternate: the policy's action, then the env's
observation, until every episode has ended. The conversation is kept as token ids: the sampled
ids go in verbatim (including the end-of-sequence token that ended the turn) and each
observation is tokenised once and appended, so nothing is re-tokenised between turns (a sampler
with ``accepts_token_ids = True`` gets the ids themselves as the next prompt). Observation
tokens carry ``mask == 0``, so they are context for the policy but never in its loss.

GRPO groups: reset with ``seeds=assay.group_seeds(seed, num_prompts, G)`` and
``group_size=G``; the first turn then samples ``G`` completions of each distinct prompt in one
sampler call (``n=G``).

Truncation: an episode the env truncates (``max_turns``) ends with the env's reward; one whose
context would outgrow ``max_context_tokens`` is ended by the rollout with ``truncated=True``
and the reward collected so far; an action that hit ``max_new_tokens`` without stopping is
flagged ``overlong`` (GRPO can mask or penalise it).

Chat format (``chat=`` a `assay.agents.chat.ChatFormat`): the first prompt is the env's
transcript (system prompt, user turn; tool schemas through ``tools=`` for tool envs) rendered
with the tokenizer's chat template; each later observation is the env's new transcript messages
(tool results, feedback) rendered as the template places them after an assistant turn
(`ChatFormat.turn_ids`) and appended to the sampled ids. The episode's ``messages`` hold the
conversation. Without ``chat`` prompts and observations are plain text (base models).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from assay.agents.chat import ChatFormat
from assay.verifiers.sampler import Sample, Sampler

__all__ = ["Batch", "Episode", "collect_episodes", "step_seed", "to_batch"]


def step_seed(seed: int, step: int) -> int:
    """A 31-bit seed for ``step`` of a run seeded with ``seed`` (distinct across steps)."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class Episode:
    """One episode as token ids, ready for a policy-gradient loss.

    Attributes:
        task_id: The env's ``task_id``.
        group: Index of the GRPO group (sub-env index // group size).
        prompt_ids: Token ids of the first observation (the prompt).
        ids: Every token after the prompt: actions and observations, in order.
        mask: Per token of ``ids``: 1 where the policy sampled it, 0 for observation tokens.
        logprobs: Per token of ``ids``: the sampler's log-prob (0.0 at observation tokens).
        reward: Sum of the env's rewards over the episode.
        turns: Actions taken.
        terminated: The env ended the episode (a final answer).
        truncated: The env truncated it (e.g. ``max_turns``) or the rollout cut it
            (``max_context_tokens`` / ``max_turns`` of the rollout).
        overlong: Some action hit ``max_new_tokens`` without an end-of-sequence token.
        status: The final verdict's status value (``"correct"``, ...), ``""`` if none.
        actions: The text of each action.
        action_tokens: The number of tokens of each action.
        messages: Chat format only: the conversation as messages (system, user, then each
            assistant turn and the env's replies); empty in text format.
        tools: Chat format only: the tool schemas rendered into the prompt (None: no tools).
    """

    task_id: str
    group: int
    prompt_ids: list[int]
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    reward: float = 0.0
    turns: int = 0
    terminated: bool = False
    truncated: bool = False
    overlong: bool = False
    status: str = ""
    actions: list[str] = field(default_factory=list)
    action_tokens: list[int] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None

    @property
    def num_action_tokens(self) -> int:
        """Tokens the policy sampled (the ones in the loss)."""
        return sum(self.mask)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _sample(
    sampler: Sampler,
    prompts: Sequence[str | list[int]],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
) -> list[list[Sample]]:
    out = sampler.sample(prompts, n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)  # type: ignore[arg-type]
    if len(out) != len(prompts) or any(len(g) != n for g in out):
        raise RuntimeError(
            f"sampler returned {[len(g) for g in out]} samples for {len(prompts)} prompts x n={n}"
        )
    return out


def collect_episodes(
    envs: VectorEnv[Any, Any, Any],
    sampler: Sampler,
    tokenizer: Any,
    *,
    seeds: Sequence[int] | None = None,
    options: dict[str, Any] | None = None,
    group_size: int = 1,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    seed: int = 0,
    max_turns: int = 64,
    max_context_tokens: int | None = None,
    format_observation: Callable[[str], str] = lambda obs: obs,
    chat: ChatFormat | None = None,
) -> list[Episode]:
    """Play one episode in each sub-env of ``envs`` and return them in sub-env order.

    Args:
        envs: A vector env with autoreset disabled (as `assay.make_vec` builds).
        sampler: The policy. Its samples' ``token_ids`` must come from ``tokenizer``.
        tokenizer: Encodes prompts and observations.
        seeds: Reset seeds, one per sub-env (e.g. `assay.group_seeds`).
        options: Reset options (e.g. ``{"task_id": ...}``).
        group_size: Sub-envs ``[g*G, (g+1)*G)`` hold the same task; their first turn is one
            sampler call with ``n=G`` per group.
        max_new_tokens: Token budget per action.
        temperature: Sampling temperature.
        seed: Sampling seed (turn ``k`` uses ``seed + k``).
        max_turns: The rollout stops any episode still running after this many actions.
        max_context_tokens: Episodes whose prompt, actions and observations would exceed this
            many tokens are cut (``truncated=True``) before the next action.
        format_observation: Text placed in the context for an observation (text format only).
        chat: Render prompts and observations with this chat template (see the module
            docstring); None: plain text.
    """
    n = envs.num_envs
    if group_size < 1 or n % group_size:
        raise ValueError(f"num_envs={n} is not a multiple of group_size={group_size}")
    reset_seeds: Any = list(seeds) if seeds is not None else None  # vector envs take a list
    obs, info = envs.reset(seed=reset_seeds, options=options)
    if chat is not None:
        transcripts = _transcripts(envs)
        tools = _tools(info, n)
        conversations = [chat.messages(t) for t in transcripts]
        # a group key only (the model sees the rendered template)
        prompts = [
            json.dumps([c, tools[i]], sort_keys=True, default=str) for i, c in enumerate(conversations)
        ]
    else:
        prompts = [_text(o) for o in obs]
    for g in range(0, n, group_size):
        if len(set(prompts[g : g + group_size])) != 1:
            raise ValueError(f"sub-envs {g}..{g + group_size - 1} do not share a prompt: use group_seeds")
    encoded: dict[str, list[int]] = {}  # each distinct prompt is tokenised once
    for i, p in enumerate(prompts):
        if p not in encoded:
            encoded[p] = chat.prompt_ids(conversations[i], tools=tools[i]) if chat else _encode(tokenizer, p)
    eps = [
        Episode(task_id=str(info["task_id"][i]), group=i // group_size, prompt_ids=list(encoded[prompts[i]]))
        for i in range(n)
    ]
    if chat is not None:
        for i, ep in enumerate(eps):
            ep.messages, ep.tools = [dict(m) for m in conversations[i]], tools[i]
        seen = [len(t) for t in transcripts]  # transcript messages already in each episode
    active = np.ones(n, dtype=bool)
    stale = np.zeros(n, dtype=bool)  # ended sub-envs: reset (masked) before the next vector step
    token_prompts = bool(getattr(sampler, "accepts_token_ids", False))
    for turn in range(max_turns):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        if turn == 0:
            unique: list[str | list[int]] = [
                list(encoded[p]) if token_prompts else (tokenizer.decode(encoded[p]) if chat else p)
                for p in prompts[::group_size]
            ]
            grouped = _sample(
                sampler,
                unique,
                n=group_size,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
            )
            samples = {i: grouped[i // group_size][i % group_size] for i in range(n)}
        else:
            contexts: list[str | list[int]] = []
            for j in idx:
                ctx = eps[int(j)].prompt_ids + eps[int(j)].ids
                contexts.append(ctx if token_prompts else tokenizer.decode(ctx))
            got = _sample(
                sampler,
                contexts,
                n=1,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed + turn,
            )
            samples = {int(i): g[0] for i, g in zip(idx, got, strict=True)}
        actions = [""] * n
        for i, s in samples.items():
            ep = eps[i]
            if len(s.logprobs) != len(s.token_ids):
                raise RuntimeError("sampler returned no per-token log-probs; a trainer needs them")
            ep.ids += s.token_ids
            ep.mask += [1] * len(s.token_ids)
            ep.logprobs += [float(x) for x in s.logprobs]
            ep.overlong |= s.finish_reason == "length"
            ep.turns += 1
            ep.actions.append(s.text)
            ep.action_tokens.append(len(s.token_ids))
            actions[i] = s.text
        if stale.any():
            envs.reset(options={"reset_mask": stale.copy()})
            stale[:] = False
        obs, reward, terminated, truncated, info = envs.step(tuple(actions))
        if chat is not None and not all(bool(terminated[k] or truncated[k]) for k in idx):
            transcripts = _transcripts(envs)
        for k in idx:
            i = int(k)
            ep = eps[i]
            ep.reward += float(reward[i])
            if terminated[i] or truncated[i]:
                ep.terminated, ep.truncated = bool(terminated[i]), bool(truncated[i])
                verdict = info["verdict"][i] if "verdict" in info else None
                ep.status = verdict.status.value if verdict is not None else ""
                if chat is not None:
                    ep.messages.append({"role": "assistant", "content": samples[i].text})
                active[i], stale[i] = False, True
                continue
            if chat is None:
                obs_ids = _encode(tokenizer, format_observation(_text(obs[i])))
            else:
                obs_ids = _chat_turn(chat, ep, transcripts[i], seen[i], samples[i])
                seen[i] = len(transcripts[i])
            ep.ids += obs_ids
            ep.mask += [0] * len(obs_ids)
            ep.logprobs += [0.0] * len(obs_ids)
            if (
                max_context_tokens is not None
                and len(ep.prompt_ids) + len(ep.ids) + max_new_tokens > max_context_tokens
            ):
                ep.truncated, active[i], stale[i] = True, False, True
    for k in np.flatnonzero(active):  # still running after max_turns
        eps[int(k)].truncated = True
    return eps


def _text(observation: Any) -> str:
    """A text-format observation: a ``str``, never the repr of messages (those need ``chat``)."""
    if not isinstance(observation, str):
        raise TypeError(
            f"observation is a {type(observation).__name__}, not text: roll out chat observations "
            "with chat=ChatFormat(tokenizer) (prompt_format='chat')"
        )
    return observation


def _transcripts(envs: Any) -> list[Any]:
    """Each sub-env's ``transcript`` (the conversation as messages, `assay.envs.TextEnv`)."""
    get = getattr(envs, "get_attr", None)
    if get is None:
        raise TypeError(f"chat rollouts read sub-env transcripts: {type(envs).__name__} has no get_attr")
    return list(get("transcript"))


def _tools(info: dict[str, Any], n: int) -> list[list[dict[str, Any]] | None]:
    """Each sub-env's tool schemas from its reset ``info["tools"]`` (tool envs), else None."""
    if "tools" not in info:
        return [None] * n
    present = info.get("_tools", np.ones(n, dtype=bool))
    return [list(info["tools"][i]) if present[i] and info["tools"][i] else None for i in range(n)]


def _chat_turn(
    chat: ChatFormat, ep: Episode, transcript: Sequence[Any], seen: int, sample: Sample
) -> list[int]:
    """The ids of the env's reply to ``ep``'s last action: the transcript's messages after the
    ``seen`` already in the episode (the env's copy of the action skipped), rendered after it."""
    new = [dict(m) for m in transcript[seen:]]
    if new and new[0].get("role") == "assistant":
        new = new[1:]
    ep.messages.append({"role": "assistant", "content": sample.text})
    ids = chat.turn_ids(ep.messages, new, sample.token_ids, tools=ep.tools)
    ep.messages.extend(new)
    return ids


@dataclass
class Batch:
    """Episodes as right-padded tensors, aligned on next-token targets.

    ``input_ids``/``attention_mask`` are ``(N, T)``; ``loss_mask``, ``sampler_logprobs`` are
    ``(N, T-1)`` with entry ``j`` about the token ``input_ids[:, j+1]`` (predicted at ``j``).
    ``rewards`` is ``(N,)``.
    """

    input_ids: Any
    attention_mask: Any
    loss_mask: Any
    sampler_logprobs: Any
    rewards: Any

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, index: Any) -> Batch:
        """The sub-batch of rows ``index`` (a slice, list or index tensor)."""
        return Batch(
            self.input_ids[index],
            self.attention_mask[index],
            self.loss_mask[index],
            self.sampler_logprobs[index],
            self.rewards[index],
        )


def to_batch(episodes: Sequence[Episode], pad_id: int, *, rewards: Sequence[float] | None = None) -> Batch:
    """Pad ``episodes`` into a `Batch` (``rewards`` overrides the episodes' own rewards)."""
    import torch

    if not episodes:
        raise ValueError("no episodes")
    if any(not e.prompt_ids for e in episodes):
        raise ValueError("an episode has no prompt tokens")
    width = max(len(e.prompt_ids) + len(e.ids) for e in episodes)
    ids_rows, attn_rows, mask_rows, lp_rows = [], [], [], []
    for e in episodes:  # padded Python rows, then one tensor per field
        seq = e.prompt_ids + e.ids
        pad = width - len(seq)
        head = [0.0] * (len(e.prompt_ids) - 1)
        tail = [0.0] * pad
        ids_rows.append(seq + [pad_id] * pad)
        attn_rows.append([1] * len(seq) + [0] * pad)
        mask_rows.append(head + [float(m) for m in e.mask] + tail)
        lp_rows.append(head + [float(x) for x in e.logprobs] + tail)
    input_ids = torch.tensor(ids_rows, dtype=torch.long)
    attention = torch.tensor(attn_rows, dtype=torch.long)
    loss_mask = torch.tensor(mask_rows, dtype=torch.float32)
    logprobs = torch.tensor(lp_rows, dtype=torch.float32)
    r = torch.tensor([e.reward for e in episodes] if rewards is None else list(rewards), dtype=torch.float32)
    return Batch(input_ids, attention, loss_mask, logprobs, r)
