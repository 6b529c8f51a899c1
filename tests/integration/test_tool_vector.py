"""1,000 tool-use episodes through a vector env leave no process, container or file descriptor behind."""

import gc
import os
import shutil
import subprocess
import time

import gymnasium as gym
import pytest

import assay
from assay.envs.tools.python_math import PythonMathEnv

ID = "assay/PythonMath-v0"
EPISODES = 1_000
NUM_ENVS = 8


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _containers() -> set[str]:
    if shutil.which("docker") is None:
        return set()
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=assay.sandbox"],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(out.stdout.split()) if out.returncode == 0 else set()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(("mode", "episodes"), [("async", EPISODES), ("sync", 96)])
def test_thousand_episodes_leave_nothing_behind(mode, episodes):
    """Async (the default): 1,000 episodes in worker processes; sync: fewer, all in this process."""
    assert ID in gym.registry
    reference = PythonMathEnv()
    before = (_descendants(os.getpid()), _fds(), _containers())
    envs = assay.make_vec(ID, num_envs=NUM_ENVS, vectorization_mode=mode)
    done, rewards = 0, []
    try:
        for round_ in range(episodes // NUM_ENVS):
            _, info = envs.reset(seed=[round_ * NUM_ENVS + i for i in range(NUM_ENVS)])
            plans = [reference.gold_actions(reference.task_by_id(str(t))) for t in info["task_id"]]
            assert len({len(p) for p in plans}) == 1  # every kind's gold episode has 3 actions
            for step in range(len(plans[0])):
                _, reward, terminated, truncated, info = envs.step([p[step] for p in plans])
            assert terminated.all() and not truncated.any()
            rewards += reward.tolist()
            done += NUM_ENVS
        during = _descendants(os.getpid())
    finally:
        envs.close()
        reference.close()
        del envs  # Gymnasium's worker pipes are released with the vector env object
        gc.collect()
    assert done == episodes and rewards == [1.0] * episodes
    if mode == "async":
        assert len(during - before[0]) >= NUM_ENVS  # the workers (and their tool processes) did exist
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _descendants(os.getpid()) - before[0]:
        time.sleep(0.1)
    leaked = _descendants(os.getpid()) - before[0]
    assert not leaked, leaked
    assert _fds() == before[1]
    assert _containers() == before[2]
