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
3. **assay eval** (the CLI, in its own process, as ``vf-eval`` is): ``python -m assay.cli eval``
   with the same env, limit, n, concurrency and temperature, log and no plots/report.
4. **verifiers vf-eval** (0.2.0, the last release with the legacy ``vf-eval`` /
   ``vf.ToolEnv`` stack; 0.4 ships only its v1 stack, whose tools are MCP servers started per
   rollout and whose tasksets are installed packages): `benchmarks/vf_multihop_env.py`, a
   ``vf.StatefulToolEnv`` copy of MultiHopQA, is copied to a temp dir with a JSON export of
   assay's tasks, tool definitions and tool outputs (recorded by playing the gold episodes in
   assay's env), and ``vf-eval`` runs it against the same server: same model name, episodes,
   concurrency (``-c 16 -r 2``: verifiers schedules groups, 8 groups x 2 rollouts), temperature,
   results saved (``-s``), its default env server on (rollouts in a spawned worker process
   behind ZMQ), and again with ``--disable-env-server`` (rollouts in the CLI's own process). Its own "Evaluation
   completed in" time is printed beside the process wall time.

The verifiers venv is found at ``$ASSAY_VERIFIERS02_VENV`` (default ``/work/venvs/verifiers02``);
without it, row 4 says how to create it (``make bench-venvs``)::

    python3 -m venv /work/venvs/verifiers02
    /work/venvs/verifiers02/bin/pip install "verifiers==0.2.0" "datasets>=4,<4.7"

Rows 1 and 2 run in the benchmark's process and share its GIL with the stub server; the CLI
rows (3, 4) run in processes of their own and do not. Process wall time includes each CLI's
start-up (imports, env loading, for vf-eval's default the env server's worker processes). With ``--rounds 2``
(default) every side runs twice, in alternating order (A B C D, then D C B A).

Both measured sides share this machine's cores with the stub server; read the ratio.

    python benchmarks/eval.py            # 200 episodes, concurrency 16, 2 rounds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import assay
from assay.agents.evaluation import EvalConfig
from assay.agents.evaluation.episodes import evaluate_episodes
from assay.agents.evaluation.policies import EndpointPolicy, action_text
from assay.envs.tools.chat import ToolChat
from assay.testing import GoldAgent, OpenAIStub
from assay.verifiers.chat_client import ChatClient

ENV = "assay/MultiHopQA-v0"
VF_VENV = Path(os.environ.get("ASSAY_VERIFIERS02_VENV", "/work/venvs/verifiers02"))
VF_MODULE = "assay_multihop_vf"
HERE = Path(__file__).resolve().parent


def run_assay(url: str, tasks: int, n: int, concurrency: int, out: Path) -> tuple[float, float]:
    out.unlink(missing_ok=True)  # an existing log would be resumed, not rerun
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


def run_assay_cli(url: str, tasks: int, n: int, concurrency: int, out: Path) -> tuple[float, float]:
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "assay.cli", "eval", "--env", ENV, "--limit", str(tasks), "-n", str(n)]
    cmd += ["--model", url, "--model-name", "stub", "--concurrency", str(concurrency), "--temperature", "0"]
    cmd += ["--out", str(out), "--no-plots", "--no-report", "--no-progress"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    rewards = [float(r["reward"]) for r in records if "reward" in r]  # the header lines have none
    if len(rewards) != tasks * n:
        raise RuntimeError(f"assay eval logged {len(rewards)} episodes, expected {tasks * n}")
    return wall, sum(rewards) / len(rewards)


def export_multihop(tasks: int, path: Path) -> int:
    """Play each task's gold episode in assay's env and write what the verifiers copy needs:
    prompts, answers, assay's tool definitions and every tool output seen. Returns the count of
    recorded tool outputs."""
    env = ToolChat(assay.make(ENV))
    base = env.unwrapped
    outputs: dict[str, str] = {}
    rows = []
    tools = []
    try:
        for t in range(tasks):
            task = base.task_at(t)
            obs, _ = env.reset(options={"task": task})
            tools = obs["tools"]
            rows.append({"prompt": task.prompt, "answer": task.answer})
            for turn, calls in enumerate(base.gold_plan(task)):
                native = [
                    {
                        "id": f"c{turn}_{i}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args)},
                    }
                    for i, (name, args) in enumerate(calls)
                ]
                obs, *_ = env.step(action_text("", native))
                results = obs["messages"][-len(calls) :]
                for (name, args), message in zip(calls, results, strict=True):
                    outputs[name + " " + json.dumps(args, sort_keys=True)] = message["content"]
        path.write_text(
            json.dumps({"tasks": rows, "tools": tools, "outputs": outputs, "max_turns": base.max_turns}),
            encoding="utf-8",
        )
    finally:
        env.close()
    return len(outputs)


def vf_unavailable() -> str | None:
    if not (VF_VENV / "bin" / "vf-eval").exists():
        return (
            f"no verifiers venv at {VF_VENV}: make bench-venvs "
            "(or set ASSAY_VERIFIERS02_VENV to a venv with verifiers==0.2.0)"
        )
    return None


def run_vf(
    url: str, tasks: int, n: int, concurrency: int, work: Path, *extra: str
) -> tuple[float, float, float | None]:
    """``vf-eval`` in the verifiers venv; returns process wall s, mean reward, vf's own eval time."""
    out = work / "vf-out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        str(VF_VENV / "bin" / "vf-eval"),
        VF_MODULE,
        "-a",
        json.dumps({"data_path": str(work / "multihop.json")}),
    ]
    cmd += ["-m", "stub", "-b", url + "/v1", "-k", "ASSAY_BENCH_KEY", "-n", str(tasks), "-r", str(n)]
    cmd += ["-c", str(concurrency), "-T", "0", "-s", "-o", str(out), "-d", *extra]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(work), ASSAY_BENCH_KEY="EMPTY", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"vf-eval failed ({proc.returncode}):\n{log[-4000:]}")
    results = list(out.rglob("results.jsonl"))
    if len(results) != 1:
        raise RuntimeError(f"vf-eval wrote {len(results)} results.jsonl files under {out}:\n{log[-4000:]}")
    rewards = [json.loads(line)["reward"] for line in results[0].read_text().splitlines() if line.strip()]
    if len(rewards) != tasks * n:
        raise RuntimeError(f"vf-eval returned {len(rewards)} rollouts, expected {tasks * n}")
    found = re.search(r"Evaluation completed in ([0-9.]+) seconds", log)
    return wall, sum(rewards) / len(rewards), float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("-n", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="Runs of each side, in alternating order.")
    args = parser.parse_args()
    env = assay.make(ENV)
    agent = GoldAgent(env, range(args.tasks), wrong=range(0, args.tasks, 4))
    env.close()
    episodes = args.tasks * args.n
    tasks, n, conc = args.tasks, args.n, args.concurrency
    vf_reason = vf_unavailable()
    work = Path(tempfile.mkdtemp(prefix="assay-bench-eval-"))
    runs: dict[str, list[tuple[float, int, float, str]]] = {}
    try:
        recorded = export_multihop(tasks, work / "multihop.json")
        shutil.copy(HERE / "vf_multihop_env.py", work / f"{VF_MODULE}.py")
        with OpenAIStub(agent) as stub:
            url = stub.url

            def vf_side(*extra: str) -> Callable[[], tuple[float, float, str]]:
                def side() -> tuple[float, float, str]:
                    wall, score, own = run_vf(url, tasks, n, conc, work, *extra)
                    return (
                        wall,
                        score,
                        "its own eval time " + (f"{own:.2f} s" if own is not None else "not printed"),
                    )

                return side

            sides: dict[str, Callable[[], tuple[float, float, str]]] = {
                "assay evaluate_episodes (in process)": lambda: (
                    *run_assay(url, tasks, n, conc, work / "run.jsonl"),
                    "whole episodes in JSONL",
                ),
                "hand loop: AsyncOpenAI + ToolChat": lambda: (
                    *run_hand(url, tasks, n, conc),
                    "nothing logged",
                ),
                "assay eval (CLI process)": lambda: (
                    *run_assay_cli(url, tasks, n, conc, work / "cli.jsonl"),
                    "whole episodes in JSONL",
                ),
            }
            if vf_reason is None:
                sides["verifiers 0.2.0 vf-eval (CLI process)"] = vf_side()
                sides["vf-eval --disable-env-server"] = vf_side("--disable-env-server")
            run_hand(url, 4, 1, 2)  # warm: imports, first tool workers
            run_assay(url, 4, 1, 2, work / "warm.jsonl")
            order = list(sides)
            for r in range(args.rounds):
                for name in order if r % 2 == 0 else order[::-1]:
                    calls0 = agent.calls
                    t, score, note = sides[name]()
                    runs.setdefault(name, []).append((t, agent.calls - calls0, score, note))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{episodes} multi-turn tool episodes ({ENV}, {tasks} tasks x {n}), concurrency {conc}, "
        f"{args.rounds} rounds in alternating order; verifiers env replays {recorded} recorded tool outputs"
    )
    print(f"{'side':40} {'round':>5} {'wall s':>8} {'episodes/s':>11} {'requests':>9}  {'score':>6}  note")
    for name, rows in runs.items():
        for i, (t, calls, score, note) in enumerate(rows, 1):
            print(f"{name:40} {i:5d} {t:8.2f} {episodes / t:11.1f} {calls:9d}  {score:6.3f}  {note}")
    if vf_reason is not None:
        print(
            f"{'verifiers vf-eval':40} {'-':>5} {'-':>8} {'-':>11} {'-':>9}  {'-':>6}  not measured: {vf_reason}"
        )

    def best(name: str) -> float:
        return min(t for t, *_ in runs[name])

    print(
        "assay in process / hand loop (best of rounds): "
        f"{best('assay evaluate_episodes (in process)') / best('hand loop: AsyncOpenAI + ToolChat'):.2f}x"
    )
    if vf_reason is None:
        vf = "verifiers 0.2.0 vf-eval (CLI process)"
        print(
            f"assay eval CLI / vf-eval CLI (best of rounds): {best('assay eval (CLI process)') / best(vf):.2f}x"
        )
        scores = {name: {round(s, 6) for *_, s, _ in rows} for name, rows in runs.items()}
        agree = len(set().union(*scores.values())) == 1
        print(f"scores agree across sides and rounds: {agree} {sorted(set().union(*scores.values()))}")


if __name__ == "__main__":
    main()
