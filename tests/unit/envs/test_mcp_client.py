"""MCP servers as ToolEnv tools: a real MCP server (the SDK's MCPServer, FastMCP's successor)
written here, over stdio and streamable HTTP on loopback; errors, hangs, deaths as observations."""

import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

pytest.importorskip("mcp", reason='needs the mcp SDK: pip install "assay[mcp]"')

from assay.envs import Status, Task
from assay.envs.tools import ToolEnv
from assay.envs.tools.mcp_client import MCPServerConfig, MCPUnavailable, mcp_tools
from assay.verifiers.extract import tagged
from assay.verifiers.match import NumberMatch

SERVER = '''
import os, sys, time
from mcp.server.mcpserver import MCPServer

app = MCPServer("assay-test", log_level="WARNING")
COUNT = {"n": 0}


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@app.tool()
def bump() -> int:
    """Count calls to this server process."""
    COUNT["n"] += 1
    return COUNT["n"]


@app.tool()
def nap(seconds: float) -> str:
    """Sleep for a while."""
    time.sleep(seconds)
    return "slept"


@app.tool()
def die() -> str:
    """Exit the server process at once."""
    os._exit(3)


@app.tool()
def garbage() -> str:
    """Write non-JSON-RPC text to stdout, then answer."""
    sys.stdout.write("this is not json\\n{{{\\n")
    sys.stdout.flush()
    return "after garbage"


@app.tool(name="dotted.name")
def dotted() -> str:
    """A tool whose name has a dot."""
    return "dotted"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
    else:
        app.run()
'''

TASK = Task(id="sum/0", prompt="What is 20 + 22?", answer="42")


@pytest.fixture(scope="module")
def server_py(tmp_path_factory):
    path = tmp_path_factory.mktemp("mcp") / "server.py"
    path.write_text(SERVER)
    return str(path)


def stdio(server_py, **kw):
    return MCPServerConfig(command=sys.executable, args=(server_py,), **kw)


class SumEnv(ToolEnv):
    num_tasks = 1

    def __init__(self, **kwargs):
        super().__init__([], NumberMatch(extract=tagged("answer")), **kwargs)

    def task_at(self, index):
        return TASK


@pytest.fixture(scope="module")
def tools(server_py):
    made = mcp_tools(stdio(server_py, call_timeout_s=2.0))
    yield {t.name: t for t in made}
    made[0].state.close()


def test_tools_are_listed_with_their_json_schemas(tools):
    assert {"add", "bump", "nap", "die", "garbage", "dotted_name"} <= set(tools)
    schema = tools["add"].parameters
    assert schema["type"] == "object" and schema["required"] == ["a", "b"]
    assert schema["properties"]["a"]["type"] == "integer"
    assert tools["add"].description == "Add two integers."
    assert tools["add"].validate({"a": "x", "b": 1})  # validated before the call, by our schema


def test_a_call_returns_the_servers_result(tools):
    assert tools["add"](a=20, b=22) == "42"
    assert tools["dotted_name"]() == "dotted"  # renamed for the policy, called by its server name


def test_garbage_on_stdout_is_not_a_crash(tools):
    assert tools["garbage"]() == "after garbage"
    assert tools["add"](a=1, b=2) == "3"


def test_the_env_runs_mcp_tools_and_closes_the_server(server_py):
    env = SumEnv(mcp_servers=[{"command": sys.executable, "args": [server_py], "call_timeout_s": 5}])
    env.reset(seed=0)
    conn = env.tool_list[0].state.connection
    thread = conn._thread
    assert {s["function"]["name"] for s in env.tool_schemas()} >= {"add", "final_answer"}
    call = env.call_format.render_calls([("add", {"a": 20, "b": 22})], turn=1)
    obs, reward, terminated, _, info = env.step(call)
    assert info["tool_results"][0]["content"] == "42" and not terminated
    bad = env.call_format.render_calls([("add", {"a": "x", "b": 1})], turn=2)
    _, _, terminated, _, info = env.step(bad)
    assert info["tool_results"][0]["ok"] is False and "integer" in info["tool_results"][0]["content"]
    _, reward, terminated, _, info = env.step("<answer>42</answer>")
    assert reward == 1.0 and terminated and info["verdict"].status is Status.CORRECT
    env.close()
    assert conn._thread is None and not conn.alive()
    assert not thread.is_alive() and thread not in threading.enumerate()


def test_a_hung_call_times_out_and_a_dead_server_is_restarted(server_py):
    made = {t.name: t for t in mcp_tools(stdio(server_py, call_timeout_s=1.0))}
    env = SumEnv(call_format="tag")
    env.runner.tools.update(made)  # the runner's view: ToolResult, never an exception
    from assay.envs.tools.calls import ToolCall

    def run(name, **args):
        return env.runner.run(ToolCall(id="c", name=name, arguments=args))

    try:
        assert run("bump").content == "1"
        start = time.monotonic()
        result = run("nap", seconds=30)
        assert not result.ok and "timed out after 1 s" in result.content
        assert time.monotonic() - start < 5
        assert run("add", a=1, b=1).content == "2"  # the hung server was replaced
        result = run("die")
        assert not result.ok and result.content.startswith("error: die:")
        assert run("bump").content == "1"  # a fresh server process
        assert made["add"].state.connection.restarts == 2
    finally:
        made["add"].state.close()
        env.close()


def test_fresh_per_episode_restarts_the_server_on_reset(server_py):
    env = SumEnv(mcp_servers=[stdio(server_py, fresh_per_episode=True)])
    try:
        env.reset(seed=0)
        bump = env.runner.tools["bump"]
        assert [bump(), bump()] == ["1", "2"]
        env.reset(seed=1)
        assert bump() == "1"
    finally:
        env.close()


def test_shared_servers_are_one_connection_closed_by_the_last_env(server_py):
    config = stdio(server_py, shared=True)
    a, b = SumEnv(mcp_servers=[config]), SumEnv(mcp_servers=[config])
    conn = a.tool_list[0].state.connection
    assert b.tool_list[0].state.connection is conn
    assert a.runner.tools["bump"]() == "1" and b.runner.tools["bump"]() == "2"
    a.close()
    assert conn.alive()
    b.close()
    assert not conn.alive()


def test_a_server_that_cannot_start_is_a_clear_error():
    with pytest.raises(MCPUnavailable, match="did not start"):
        mcp_tools(
            MCPServerConfig(
                command=sys.executable, args=("-c", "import sys; sys.exit(1)"), startup_timeout_s=10
            )
        )
    with pytest.raises(ValueError, match="exactly one"):
        MCPServerConfig()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http_on_loopback(server_py):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, server_py, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/mcp", timeout=1)
            except urllib.error.HTTPError:
                break  # up: it answers (405/406 for a plain GET)
            except OSError:
                time.sleep(0.2)
        made = {t.name: t for t in mcp_tools(f"http://127.0.0.1:{port}/mcp")}
        try:
            assert made["add"](a=2, b=3) == "5"
        finally:
            made["add"].state.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
