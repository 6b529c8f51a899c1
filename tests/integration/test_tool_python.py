"""The python tool: state lives for one episode; tool code reaches neither the network nor the host.

Runs on the local sandbox always and on the Docker sandbox when its daemon and image are ready
(the docker tier: skipped on a laptop without them, required in CI with ASSAY_REQUIRE_DOCKER=1).
"""

import json
import os
import socket
import time
from pathlib import Path

import pytest
from tiers import docker_or_skip

from assay.envs.tools import ToolEnv, ToolResult
from assay.envs.tools.python import PythonTool
from assay.envs.tools.python_math import PythonMathEnv
from assay.verifiers.base import Task
from assay.verifiers.extract import tagged
from assay.verifiers.match import NumberMatch

TASK = Task(id="py/0", prompt="Compute something.", answer="42")


def _sandbox_kinds():
    return ["local", pytest.param("docker", marks=pytest.mark.docker)]


@pytest.fixture(params=_sandbox_kinds())
def sandbox_kind(request):
    if request.param == "docker":
        docker_or_skip()
    return request.param


@pytest.fixture(params=["json", "tag"])
def env(request, sandbox_kind):
    python = PythonTool(sandbox_kind, timeout_s=3.0)
    e = ToolEnv(
        [python.tool()], NumberMatch(extract=tagged("answer")), call_format=request.param, max_turns=12
    )
    yield e
    e.close()


def run(env, code, turn=1):
    action = env.call_format.render_calls([("python", {"code": code})], turn=turn)
    _, _, terminated, truncated, info = env.step(action)
    assert not terminated and not truncated
    (result,) = info["tool_results"]
    return ToolResult(**result)


def test_state_persists_within_an_episode_and_is_gone_in_the_next(env):
    env.reset(options={"task": TASK})
    assert run(env, "x = 40\ndef f(y):\n    return x + y").content == "(no output)"
    assert run(env, "f(2)", turn=2).content.strip() == "42"
    assert run(env, "import math\nz = math.factorial(30)", turn=3).ok
    assert (
        run(env, "print(z % 1000003, f(1))", turn=4).content.strip()
        == f"{2**0 * 265252859812191058636308480000000 % 1000003} 41"
    )
    assert env.step("<answer>42</answer>")[1] == 1.0
    env.reset(options={"task": TASK})
    gone = run(env, "print(x)")
    assert not gone.ok and "NameError: name 'x' is not defined" in gone.content


def test_a_failing_cell_is_reported_and_what_ran_before_the_error_is_kept(env):
    """A live interpreter (not replay): like a notebook, the statements before the error ran."""
    env.reset(options={"task": TASK})
    run(env, "counter = 1")
    failed = run(env, "counter += 1\n1 / 0", turn=2)
    assert (
        not failed.ok
        and "ZeroDivisionError" in failed.content
        and 'File "<cell 1>", line 2' in failed.content
    )
    assert run(env, "counter", turn=3).content.strip() == "2"


def test_a_cell_that_loops_forever_times_out_and_the_episode_goes_on(env):
    env.reset(options={"task": TASK})
    run(env, "kept = 7")
    start = time.monotonic()
    looped = run(env, "while True:\n    pass", turn=2)
    assert time.monotonic() - start < 3.0 + 3
    assert not looped.ok and "timed out after 3 s" in looped.content
    assert run(env, "kept * 6", turn=3).content.strip() == "42"


def test_tool_code_cannot_reach_the_network(env):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    env.reset(options={"task": TASK})
    probe = (
        "import socket\n"
        "out = []\n"
        "for host in ('127.0.0.1', '10.0.0.1', '8.8.8.8'):\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=1).close()\n"
        "        out.append('connected ' + host)\n"
        "    except OSError as e:\n"
        "        out.append('refused ' + host)\n"
        "print(out)\n"
        "print(sorted(name for _, name in socket.if_nameindex()))"
    )
    result = run(env, probe)
    assert result.ok, result.content
    assert "connected" not in result.content
    assert result.content.strip().splitlines()[-1] == "['lo']"
    with pytest.raises(TimeoutError):
        server.accept()  # nothing reached the host's listener
    server.close()


def test_tool_code_cannot_see_host_files_processes_or_environment(env, tmp_path, monkeypatch):
    secret = tmp_path / "host_secret.txt"
    secret.write_text("the host's secret")
    monkeypatch.setenv("ASSAY_HOST_SECRET", "hunter2")
    env.reset(options={"task": TASK})
    probe = (
        "import os\n"
        f"print(os.path.exists({str(secret)!r}), os.path.exists({os.getcwd()!r}))\n"
        f"print(os.path.exists('/proc/{os.getpid()}/cmdline') and 'pytest' in open('/proc/{os.getpid()}/cmdline').read())\n"
        "print('ASSAY_HOST_SECRET' in os.environ)\n"
        "print(os.getuid() != 0 or open('/proc/self/status').read().count('CapEff:\\t0000000000000000'))"
    )
    result = run(env, probe)
    assert result.ok, result.content
    assert result.content.strip().splitlines() == ["False False", "False", "False", "True"]


@pytest.mark.parametrize("call_format", ["json", "tag"])
def test_python_math_gold_code_computes_the_reference_answers(call_format):
    env = PythonMathEnv(call_format=call_format)
    try:
        for index in range(8):
            env.reset(options={"index": index})
            task = env.current_task()
            printed = []
            for action in env.gold_actions(task):
                obs, reward, terminated, _, info = env.step(action)
                printed += [r["content"].strip() for r in info["tool_results"]]
            assert printed[-1] == task.answer and reward == 1.0 and terminated
            if call_format == "json":
                assert json.loads(env.gold_actions(task)[0])["tool_calls"][0]["function"]["name"] == "python"
    finally:
        env.close()


def test_nothing_carries_over_between_episodes_ipc_and_keyrings(sandbox_kind):
    """Trust item 6 in tool sessions: what one episode's code leaves in IPC is gone in the next."""
    from assay.sandboxes import LocalSandbox
    from assay.sandboxes.docker import DockerSandbox

    programs = Path(__file__).with_name("programs")
    # one worker: both episodes run on it
    sandbox = LocalSandbox(workers=1) if sandbox_kind == "local" else DockerSandbox(workers=1)
    python = PythonTool(sandbox, timeout_s=5.0)
    env = ToolEnv([python.tool()], NumberMatch(extract=tagged("answer")), call_format="json", max_turns=4)
    try:
        for _ in range(2):
            env.reset(options={"task": TASK})
            planted = run(env, (programs / "ipc_plant.py").read_text())
            assert "('mq', True" in planted.content, planted.content
            env.reset(options={"task": TASK})
            assert run(env, (programs / "ipc_read.py").read_text()).content.strip() == "FOUND []"
    finally:
        env.close()
        sandbox.close()
