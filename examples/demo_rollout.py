"""Roll out scripted policies on assay/Arithmetic-v0 through a vector env and tabulate the verdicts.

This is the placeholder main job until the agents issue lands a real trainer: it exercises the
whole path (registry, vector env with worker processes, verifier, rubric, info keys).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

import assay
from assay.envs import Task
from assay.envs.math.arithmetic import ArithmeticEnv

Policy = Callable[[Task, np.random.Generator], str]


def oracle(task: Task, rng: np.random.Generator) -> str:
    return f"Working it out... \\boxed{{{task.answer}}}"


def noisy(task: Task, rng: np.random.Generator) -> str:
    if rng.random() < 0.7:
        return oracle(task, rng)
    return f"I think it is {task.answer}1"  # a plausible-looking wrong answer


def hedging(task: Task, rng: np.random.Generator) -> str:
    return f"\\boxed{{{task.answer} or 0}}"  # lists several answers: never rewarded


def unformatted(task: Task, rng: np.random.Generator) -> str:
    return "I am not sure."


POLICIES: dict[str, Policy] = {
    "oracle": oracle,
    "noisy (70%)": noisy,
    "hedging": hedging,
    "silent": unformatted,
}


def main(num_envs: int = 8, rounds: int = 16, seed: int = 0) -> None:
    console = Console()
    envs = assay.make_vec("assay/Arithmetic-v0", num_envs=num_envs)
    tasks = ArithmeticEnv()  # to read the task behind each task_id
    table = Table(title=f"assay/Arithmetic-v0: {num_envs} envs x {rounds} rounds per policy")
    for col in ("policy", "episodes", "mean reward", "correct", "incorrect", "no_answer", "episodes/s"):
        table.add_column(col, justify="right" if col != "policy" else "left")
    rng = np.random.default_rng(seed)
    for name, policy in POLICIES.items():
        counts: Counter[str] = Counter()
        rewards: list[float] = []
        start = time.perf_counter()
        for r in range(rounds):
            _, info = envs.reset(seed=[seed * 10_000 + r * num_envs + i for i in range(num_envs)])
            actions = [policy(tasks.task_by_id(tid), rng) for tid in info["task_id"]]
            _, reward, _, _, info = envs.step(actions)
            rewards.extend(reward.tolist())
            counts.update(v.status.value for v in info["verdict"])
        elapsed = time.perf_counter() - start
        n = len(rewards)
        table.add_row(
            name,
            str(n),
            f"{np.mean(rewards):.3f}",
            str(counts["correct"]),
            str(counts["incorrect"]),
            str(counts["no_answer"]),
            f"{n / elapsed:,.0f}",
        )
    envs.close()
    console.print(table)


if __name__ == "__main__":
    main()
