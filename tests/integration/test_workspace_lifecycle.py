"""Workspaces leave nothing behind: not when their owner is killed with SIGKILL, not after many
episodes through a vector env (processes, containers, mounts, dirs, fds, cgroups)."""

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from tiers import docker_or_skip

import assay

MARK = "4242.125"  # a `sleep` argument nothing else on the machine uses


def _procs_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def _wait_until(predicate, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


OWNER = textwrap.dedent(
    """
    import sys, time
    from assay.sandboxes import LocalSandbox
    kind = sys.argv[1]
    if kind == "local":
        box = LocalSandbox(workers=1, workspaces=2)
    else:
        from assay.sandboxes.docker import DockerSandbox
        box = DockerSandbox(workers=1, workspaces=2)
    ws = box.workspace()
    ws.exec("sleep {mark} > /dev/null 2>&1 &")
    ws.python("import time; x = 1")
    ws.exec("echo data > f.txt")
    print("ready", flush=True)
    time.sleep(600)
    """
).format(mark=MARK)


@pytest.mark.parametrize("kind", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_killed_owner_leaves_no_process_container_mount_dir_or_cgroup(kind, tmp_path):
    if kind == "docker":
        docker_or_skip()
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = subprocess.Popen(
        [sys.executable, str(script), kind], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready"
        assert _procs_with(MARK), "the background process should be running"
        pid = owner.pid
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert _wait_until(lambda: not _procs_with(MARK), 15.0), "a workspace process outlived its owner"
        mounts = Path("/proc/self/mountinfo").read_text()
        assert f"assay-root-{pid}-" not in mounts
        if kind == "docker":
            import docker

            client = docker.from_env()
            try:

                def gone():
                    label = f"assay.sandbox.owner={__import__('socket').gethostname()}:{pid}"
                    return not client.containers.list(all=True, filters={"label": label}, ignore_removed=True)

                assert _wait_until(gone, 20.0), "a container outlived its owner"
            finally:
                client.close()
        else:
            # the dead owner's host dirs and cgroups are removed by the next sandbox made here
            from assay.sandboxes import LocalSandbox

            LocalSandbox(workers=1).close()
            assert not glob.glob(os.path.join(tempfile.gettempdir(), f"assay-root-{pid}-*"))
            assert not glob.glob(f"/sys/fs/cgroup/memory/assay-{pid}-*")
            assert not glob.glob(f"/sys/fs/cgroup/assay-{pid}-*")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def _containers_in(pools: set[str]) -> list[str]:
    """Containers (running or not) of the Docker sandboxes with these pool ids."""
    import docker

    from assay.sandboxes.docker import POOL_LABEL

    client = docker.from_env()
    try:
        return [
            c.id
            for p in pools
            for c in client.containers.list(
                all=True, filters={"label": f"{POOL_LABEL}={p}"}, ignore_removed=True
            )
        ]
    finally:
        client.close()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_1000_episodes_through_make_vec_leave_nothing(kind):
    """1,000 episodes with ``ASSAY_WORKSPACE_ROUNDS=250`` (``make soak``; measured here, 2 cores
    shared with other jobs: local and Docker together 617 s); CI runs 100 (25 rounds)."""
    if kind == "docker":
        docker_or_skip()
    n_envs, rounds = 4, int(os.environ.get("ASSAY_WORKSPACE_ROUNDS", "25"))  # 250 rounds: 1,000 episodes
    before_fds = _fds()
    # Other tests in this worker process may still hold sandboxes of their own: only new dirs count.
    before_dirs = set(glob.glob(os.path.join(tempfile.gettempdir(), f"assay-root-{os.getpid()}-*")))
    envs = assay.make_vec("assay/Terminal-v0", num_envs=n_envs, vectorization_mode="sync", sandbox=kind)
    try:
        call = {"function": {"name": "bash", "arguments": {"command": f"sleep {MARK} & ls"}}}
        action = json.dumps({"tool_calls": [call]})
        for r in range(rounds):
            envs.reset(seed=r)
            envs.step([action] * n_envs)  # a background process per episode
            envs.step(["done"] * n_envs)  # ends the episode (no tool call)
        assert len(_procs_with(MARK)) <= n_envs  # at most the still-open last episode of each env
        pools = {e.unwrapped.episode.sandbox.pool_id for e in envs.envs} if kind == "docker" else set()
        assert kind != "docker" or _containers_in(pools)  # the query sees them while open
    finally:
        envs.close()
    assert _wait_until(lambda: not _procs_with(MARK), 15.0)
    assert _wait_until(lambda: _fds() <= before_fds + 2, 20.0), (
        before_fds,
        _fds(),
    )  # workers close on threads
    mounts = Path("/proc/self/mountinfo").read_text()
    after_dirs = set(glob.glob(os.path.join(tempfile.gettempdir(), f"assay-root-{os.getpid()}-*")))
    assert not after_dirs - before_dirs
    assert not [d for d in after_dirs - before_dirs if os.path.basename(d) in mounts]
    if kind == "docker":
        # only these envs' containers: a shared sandbox of another test in this process has its own
        assert len(pools) == n_envs
        assert _wait_until(lambda: not _containers_in(pools), 20.0), _containers_in(pools)
