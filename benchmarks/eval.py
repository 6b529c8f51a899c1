"""Agentic evaluation: wall time of 200 multi-turn tool episodes through one scripted server.

What it measures, in one run, on this machine: ``assay/MultiHopQA-v0`` (search tool over the
shipped corpus, 3 to 5 turns an episode), 100 tasks x 2 episodes, played against the same
scripted OpenAI-compatible server on loopback (`assay.testing.OpenAIStub` + `GoldAgent`,
native tool calls), at the same concurrency:

1. **assay**: `evaluate_episodes` (what ``assay eval`` runs): the ``openai`` SDK's async
   client, one env per worker, every episode logged whole to JSONL (fsync per task), answer
   classes, the summary.
2. **hand loop**: what a user writes without ``assay eval`` (the issue's "write the loop by
   hand"): ``AsyncOpenAI`` + `ToolChat` + ``env.step`` in asyncio workers, nothing logged; the
   floor for the same work.
3. **verifiers 0.4** (``vf-eval`` in /work/venvs/verifiers): not measured here, see the
   printed reason. Its v1 stack serves each rollout's tools from an MCP server launched per
   rollout (`Toolset`), drives the model through a harness plugin, and loads tasksets as
   installed packages; an equivalent env was not built in this round.

Both measured sides share this machine's cores with the stub server; read the ratio.

    python benchmarks/eval.py            # 200 episodes, concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import assay
from assay.agents.evaluation import EvalConfig
from assay.agents.evaluation.episodes import evaluate_episodes
from assay.agents.evaluation.policies import EndpointPolicy, action_text
from assay.envs.tools.chat import ToolChat
from assay.testing import GoldAgent, OpenAIStub
from assay.verifiers.chat_client import ChatClient

ENV = "assay/MultiHopQA-v0"


def run_assay(url: str, tasks: int, n: int, concurrency: int, out: Path) -> tuple[float, float]:
    config = EvalConfig(env=ENV, model=url, n=n, limit=tasks, temperature=0.0)
    start = time.perf_counter()
    summary = evaluate_episodes(config, EndpointPolicy(ChatClient(url, "stub")), out, concurrency=concurrency)
    return time.perf_counter() - start, summary.metrics["pass@1"].mean


async def _hand(url: str, tasks: int, n: int, concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="EMPTY")
    queue = [(t, j) for t in range(tasks) for j in range(n)]
    rewards: list[float] = []

    async def worker() -> None:
        env = ToolChat(assay.make(ENV))
        base = env.unwrapped
        try:
            while queue:
                t, _ = queue.pop()
                obs, _ = await asyncio.to_thread(env.reset, options={"task": base.task_at(t)})
                done = False
                while not done:
                    r = await client.chat.completions.create(
                        model="stub", messages=obs["messages"], tools=obs["tools"], temperature=0.0
                    )
                    m = r.choices[0].message
                    calls = [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.function.name, "arguments": c.function.arguments},
                        }
                        for c in m.tool_calls or []
                    ]
                    obs, reward, term, trunc, _ = await asyncio.to_thread(
                        env.step, action_text(m.content or "", calls)
                    )
                    done = term or trunc
                rewards.append(float(reward))
        finally:
            env.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.close()
    return sum(rewards) / len(rewards)


def run_hand(url: str, tasks: int, n: int, concurrency: int) -> tuple[float, float]:
    start = time.perf_counter()
    score = asyncio.run(_hand(url, tasks, n, concurrency))
    return time.perf_counter() - start, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("-n", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    env = assay.make(ENV)
    agent = GoldAgent(env, range(args.tasks), wrong=range(0, args.tasks, 4))
    env.close()
    episodes = args.tasks * args.n
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="assay-bench-eval-"))
    try:
        with OpenAIStub(agent) as stub:
            run_hand(stub.url, 4, 1, 2)  # warm: imports, first tool workers
            run_assay(stub.url, 4, 1, 2, tmp / "warm.jsonl")
            calls0 = agent.calls
            t_hand, s_hand = run_hand(stub.url, args.tasks, args.n, args.concurrency)
            calls_hand = agent.calls - calls0
            calls0 = agent.calls
            t_assay, s_assay = run_assay(stub.url, args.tasks, args.n, args.concurrency, tmp / "run.jsonl")
            calls_assay = agent.calls - calls0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows.append(
        (
            "assay evaluate_episodes (assay eval)",
            t_assay,
            calls_assay,
            f"pass@1 {s_assay:.3f}",
            "whole episodes in JSONL",
        )
    )
    rows.append(
        ("hand loop: AsyncOpenAI + ToolChat", t_hand, calls_hand, f"reward {s_hand:.3f}", "nothing logged")
    )
    vf = Path("/work/venvs/verifiers/bin/vf-eval")
    reason = "installed, equivalent MCP toolset env not built" if vf.exists() else "not installed"
    print(
        f"{episodes} multi-turn tool episodes ({ENV}, {args.tasks} tasks x {args.n}), concurrency {args.concurrency}"
    )
    print(f"{'side':40} {'wall s':>8} {'episodes/s':>11} {'requests':>9}  {'score':14} note")
    for name, t, calls, score, note in rows:
        print(f"{name:40} {t:8.2f} {episodes / t:11.1f} {calls:9d}  {score:14} {note}")
    print(f"{'verifiers 0.4 vf-eval':40} {'-':>8} {'-':>11} {'-':>9}  {'-':14} not measured: {reason}")
    print(f"assay / hand loop wall time: {t_assay / t_hand:.2f}x")


if __name__ == "__main__":
    main()
