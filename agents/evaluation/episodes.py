"""`evaluate_episodes`: agentic evaluation of multi-turn and tool envs, logged whole, resumable.

The loop, top to bottom: pick the task indices as `evaluate` does; build ``concurrency`` copies
of the env (each worker owns one: tool state never crosses episodes); queue every missing
``(task, sample)`` pair, task-major; each worker plays its episode to the end:

    reset(seed=episode_seed, options={"task": task})
    repeat: policy.act(conversation, tools, seed=turn_seed) -> env.step(action)
    until terminated or truncated

The policy sees the conversation in OpenAI form (`ToolEnv.chat`: assistant ``tool_calls`` as
objects, one ``tool`` message per result; other envs: their transcript) and, for JSON-format
tool envs, the tool schemas natively (``tools=[...]``). When the last episode of a task ends,
its ``n`` records are grouped into answer classes (maj@k) and appended to the JSONL log at once;
the metrics come from the log alone (`summarize`), as for single-turn runs.

A record holds the whole episode: ``messages`` (the conversation), ``turns`` (each action, its
native tool calls, the tool results, the observation, the step's reward and terms, token counts
and finish reason), the verdict, the return (``reward``, summed over turns) and its terms.

Resume and kill -9: records are written only for finished tasks, one complete line each
(`SampleLog`), so a kill loses only the episodes in flight; they are replayed from their seeds
(``episode_seed(seed, task, sample)`` for the env, ``turn_seed`` for each policy call) and, with
a policy that honours seeds, come out the same. Nothing is written twice.

Not guaranteed: reproducibility with a server that ignores seeds; the order of lines in the log
(workers finish in any order: read records by key).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from assay.agents.evaluation.policies import Action, ChatPolicy
from assay.agents.evaluation.records import SampleLog, read_log
from assay.agents.evaluation.runner import EvalConfig, answer_classes, reward_bounds, task_indices
from assay.agents.evaluation.summary import Summary, summarize
from assay.envs.base import SingleTurnEnv
from assay.envs.tools.calls import JsonCalls
from assay.envs.tools.env import FINAL_ANSWER, ToolEnv
from assay.errors import AssayError
from assay.registry import make
from assay.verifiers.base import Verdict

__all__ = ["episode_seed", "evaluate_episodes", "reward_bounds", "turn_seed"]


def episode_seed(seed: int, task_index: int, sample_index: int) -> int:
    """The env seed of episode ``(task_index, sample_index)`` of a run seeded with ``seed`` (31-bit)."""
    state = np.random.SeedSequence([seed, task_index, sample_index]).generate_state(1, dtype=np.uint32)
    return int(state[0] >> 1)


def turn_seed(seed: int, task_index: int, sample_index: int, turn: int) -> int:
    """The policy seed of turn ``turn`` (0-based) of that episode (31-bit)."""
    state = np.random.SeedSequence([seed, task_index, sample_index, turn + 1]).generate_state(
        1, dtype=np.uint32
    )
    return int(state[0] >> 1)


def _conversation(base: Any) -> list[dict[str, Any]]:
    chat = getattr(base, "chat", None)
    return chat() if callable(chat) else [dict(m) for m in base.transcript]


def _native_tools(base: Any) -> list[dict[str, Any]]:
    if isinstance(base, ToolEnv) and isinstance(base.call_format, JsonCalls):
        return base.tool_schemas()
    return []


def _final_completion(base: Any, turns: Sequence[Mapping[str, Any]]) -> str:
    """What the verifier judged: ``final_answer``'s argument as `ToolEnv.answer_completion`
    renders it, else the last action."""
    if not turns:
        return ""
    last = turns[-1]
    if isinstance(base, ToolEnv):
        for call in last.get("tool_calls") or []:
            args = call.get("arguments")
            if call.get("name") == FINAL_ANSWER and isinstance(args, dict) and "answer" in args:
                return base.answer_completion(str(args["answer"]))
    return str(last["action"])


async def _play(env: Any, policy: ChatPolicy, config: EvalConfig, t: int, j: int) -> dict[str, Any]:
    base = env.unwrapped
    task = base.task_at(t)
    eseed = episode_seed(config.seed, t, j)
    _, info = await asyncio.to_thread(env.reset, seed=eseed, options={"task": task})
    offered = [str(s["function"]["name"]) for s in info.get("tools") or []]
    tools = _native_tools(base)
    turns: list[dict[str, Any]] = []
    total = 0.0
    terms: dict[str, float] = {}
    terminated = truncated = False
    while not (terminated or truncated):
        action: Action = await policy.act(
            _conversation(base), tools, seed=turn_seed(config.seed, t, j, len(turns))
        )
        text = action.text
        observation, reward, terminated, truncated, info = await asyncio.to_thread(env.step, text)
        total += float(reward)
        step_terms = {k: float(v) for k, v in (info.get("reward_terms") or {}).items()}
        for k, v in step_terms.items():
            terms[k] = terms.get(k, 0.0) + v
        turns.append(
            {
                "action": text,
                "content": action.content,
                "native_tool_calls": action.tool_calls,
                "tool_calls": list(info.get("tool_calls") or []),
                "tool_results": list(info.get("tool_results") or []),
                "observation": observation if isinstance(observation, str) else str(observation),
                "reward": float(reward),
                "reward_terms": step_terms,
                "finish_reason": action.finish_reason,
                "prompt_tokens": action.prompt_tokens,
                "completion_tokens": action.completion_tokens,
            }
        )
    verdict = info.get("verdict")
    if not isinstance(verdict, Verdict):
        raise AssayError(f"{task.id}: the env's last step returned no verdict")
    return {
        "task_index": t,
        "task_id": task.id,
        "sample_index": j,
        "episode_seed": eseed,
        "prompt": task.prompt,
        "answer": task.answer,
        "completion": _final_completion(base, turns),
        "messages": _conversation(base),
        "tools": offered,
        "turns": turns,
        "num_turns": len(turns),
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "finish_reason": turns[-1]["finish_reason"] if turns else "",
        "num_tokens": sum(int(x["completion_tokens"]) for x in turns),
        "prompt_tokens": sum(int(x["prompt_tokens"]) for x in turns),
        "mean_logprob": None,
        "verdict": verdict.to_dict(),
        "reward": total,
        "reward_terms": terms,
        "select_score": None,
    }


async def _run(
    config: EvalConfig,
    policy: ChatPolicy,
    out: Any,
    concurrency: int,
    progress: Callable[[int, int], None] | None,
    meta: Mapping[str, Any] | None,
) -> tuple[list[int], tuple[float, float] | None]:
    first = make(config.env, **config.episode_env_kwargs())
    envs = [first]
    try:
        base = first.unwrapped
        if not isinstance(base, SingleTurnEnv):
            raise ValueError(f"{config.env} is not an assay text env")
        indices = task_indices(base, config.limit)
        bounds = reward_bounds(first)
        n = config.n
        with SampleLog.open(out, config.header(), meta={**dict(meta or {}), "reward_bounds": bounds}) as log:
            existing = {(int(r["task_index"]), int(r["sample_index"])): r for r in log.log.samples}
            missing = {t: [j for j in range(n) if (t, j) not in log.done] for t in indices}
            missing = {t: js for t, js in missing.items() if js}
            done_tasks = len(indices) - len(missing)
            if progress:
                progress(done_tasks, len(indices))
            queue: list[tuple[int, int]] = [(t, j) for t in indices for j in missing.get(t, [])]
            envs += [
                make(config.env, **config.episode_env_kwargs())
                for _ in range(min(concurrency, len(queue)) - 1)
            ]
            finished: dict[int, dict[int, dict[str, Any]]] = {t: {} for t in missing}
            cursor = iter(queue)
            lock = threading.Lock()

            def complete(t: int) -> None:
                nonlocal done_tasks
                records = [existing.get((t, j)) or finished[t][j] for j in range(n)]
                task = base.task_at(t)
                for r, cls in zip(records, answer_classes(records, base.verifier, task), strict=True):
                    if (t, int(r["sample_index"])) not in existing:
                        r["answer_class"] = cls
                log.append(r for r in records if (t, int(r["sample_index"])) not in existing)
                done_tasks += 1
                if progress:
                    progress(done_tasks, len(indices))

            async def worker(env: Any) -> None:
                while True:
                    with lock:
                        item = next(cursor, None)
                    if item is None:
                        return
                    t, j = item
                    finished[t][j] = await _play(env, policy, config, t, j)
                    if len(finished[t]) == len(missing[t]):
                        complete(t)

            jobs = [asyncio.ensure_future(worker(e)) for e in envs]
            try:
                await asyncio.gather(*jobs)
            except BaseException:
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
                raise
    finally:
        aclose = getattr(policy, "aclose", None)
        if aclose is not None:
            await aclose()
        for e in envs:
            await asyncio.to_thread(e.close)
    return indices, bounds


def evaluate_episodes(
    config: EvalConfig,
    policy: ChatPolicy,
    out: Any,
    *,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Summary:
    """Play ``config.n`` episodes of every task of ``config.env`` with ``policy``; log them to
    ``out`` (JSONL, resumed when it exists); return the metrics, computed from the log alone.

    ``concurrency`` episodes run at once (one env copy each). ``meta`` (e.g. the data's
    provenance) is stored in the log beside the header. A policy failure after its retries
    (`SamplerError`) stops the run; the finished tasks stay logged and a rerun resumes.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    coro = _run(config, policy, out, concurrency, progress, meta)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        indices, bounds = asyncio.run(coro)
    else:
        box: list[Any] = []

        def run() -> None:
            try:
                box.append(asyncio.run(coro))
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                box.append(e)

        worker = threading.Thread(target=run, name="assay-eval-episodes", daemon=True)
        worker.start()
        worker.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        indices, bounds = box[0]
    full = read_log(out)
    wanted = set(indices)
    return summarize(
        [r for r in full.samples if int(r["task_index"]) in wanted],
        n=config.n,
        ks=config.ks,
        config=full.config,
        reward_bounds=bounds,
    )
