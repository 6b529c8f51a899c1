"""1,000 tool-use episodes through a vector env leave no process, container or file descriptor behind."""

import gc
import os
import shutil
import subprocess
import time

import gymnasium as gym
import pytest
from tiers import docker_or_skip

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


def _containers() -> dict[str, int]:
    """Sandbox containers on this daemon: id -> the pid of the process that owns it."""
    if shutil.which("docker") is None:
        return {}
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            "label=assay.sandbox",
            "--format",
            '{{.ID}} {{.Label "assay.sandbox.owner"}}',
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = {}
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        cid, _, owner = line.partition(" ")
        pid = owner.rpartition(":")[2]
        found[cid] = int(pid) if pid.isdigit() else -1
    return found


def _docker_or_skip() -> None:
    docker_or_skip()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("mode", "episodes", "sandbox", "num_envs"),
    [
        ("async", EPISODES, "local", NUM_ENVS),
        ("sync", 96, "local", NUM_ENVS),
        pytest.param("async", 200, "docker", 4, marks=pytest.mark.docker),
    ],
)
def test_thousand_episodes_leave_nothing_behind(mode, episodes, sandbox, num_envs):
    """Async (the default): 1,000 episodes in worker processes; sync: fewer, all in this process;
    Docker: each worker's python tool owns a container pool, gone after close."""
    if sandbox == "docker":
        _docker_or_skip()
    assert ID in gym.registry
    reference = PythonMathEnv()
    before = (_descendants(os.getpid()), _fds(), _containers())
    envs = assay.make_vec(ID, num_envs=num_envs, vectorization_mode=mode, sandbox=sandbox)
    done, rewards = 0, []
    try:
        for round_ in range(episodes // num_envs):
            _, info = envs.reset(seed=[round_ * num_envs + i for i in range(num_envs)])
            plans = [reference.gold_actions(reference.task_by_id(str(t))) for t in info["task_id"]]
            assert len({len(p) for p in plans}) == 1  # every kind's gold episode has 3 actions
            for step in range(len(plans[0])):
                _, reward, terminated, truncated, info = envs.step([p[step] for p in plans])
            assert terminated.all() and not truncated.any()
            rewards += reward.tolist()
            done += num_envs
        during = _descendants(os.getpid())
        ours = {
            cid for cid, pid in _containers().items() if pid in during
        }  # other test runs may share the daemon
        if sandbox == "docker":
            assert len(ours) >= num_envs  # the containers did exist
    finally:
        envs.close()
        reference.close()
        del envs  # Gymnasium's worker pipes are released with the vector env object
        gc.collect()
    assert done == episodes and rewards == [1.0] * episodes
    if mode == "async":
        assert len(during - before[0]) >= num_envs  # the workers (and their tool processes) did exist
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _descendants(os.getpid()) - before[0]:
        time.sleep(0.1)
    leaked = _descendants(os.getpid()) - before[0]
    assert not leaked, leaked
    assert _fds() <= before[1]  # a leak adds descriptors; other tests in this worker may close some
    left = _containers()
    assert not ours & set(left) and not [c for c, pid in left.items() if pid in during]
