"""``assay mcp serve`` driven by the official MCP client (stdio and streamable HTTP on loopback),
and by assay's own MCP tools (an env's tools served, then used from another ToolEnv)."""

import json
import os
import socket
import subprocess
import sys
import time

import anyio
import pytest

mcp = pytest.importorskip("mcp", reason='needs the mcp SDK: pip install "assay[mcp]"')

from assay.envs.tools.mcp_client import MCPServerConfig, mcp_tools  # noqa: E402 - after the importorskip

SERVE = [sys.executable, "-m", "assay.cli", "mcp", "serve"]
ENV = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PYTHONSAFEPATH": "1"}


def _texts(result):
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_the_official_client_lists_and_calls_tools_over_stdio():
    params = mcp.StdioServerParameters(
        command=SERVE[0], args=[*SERVE[1:], "--tools", "calculator,memory"], env=ENV
    )

    async def session():
        async with mcp.Client(params, cache=None, read_timeout_seconds=60) as client:
            listed = (await client.list_tools()).tools
            by_name = {t.name: t for t in listed}
            assert set(by_name) == {"calculator", "remember", "recall"}
            assert by_name["calculator"].input_schema["required"] == ["expression"]
            ok = await client.call_tool("calculator", {"expression": "6*7"})
            bad = await client.call_tool("calculator", {"expression": "__import__('os')"})
            wrong = await client.call_tool("calculator", {"expr": "1"})
            missing = await client.call_tool("nope", {})
            await client.call_tool("remember", {"key": "k", "value": "v"})
            recalled = await client.call_tool("recall", {"key": "k"})
            return ok, bad, wrong, missing, recalled

    ok, bad, wrong, missing, recalled = anyio.run(session)
    assert not ok.is_error and _texts(ok) == "42"
    assert bad.is_error and _texts(bad).startswith("error:")
    assert wrong.is_error and "invalid arguments" in _texts(wrong)
    assert missing.is_error and "unknown tool" in _texts(missing)
    assert _texts(recalled) == "v"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_official_client_over_streamable_http_on_loopback():
    port = _free_port()
    proc = subprocess.Popen(
        [*SERVE, "--tools", "calculator", "--transport", "http", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)

        async def session():
            async with mcp.Client(
                f"http://127.0.0.1:{port}/mcp", cache=None, read_timeout_seconds=60
            ) as client:
                return await client.call_tool("calculator", {"expression": "2**10"})

        assert _texts(anyio.run(session)) == "1024"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_an_envs_tools_served_over_mcp_drive_another_env():
    """Retail's world tools, served by `assay mcp serve --env`, used through `mcp_tools`."""
    config = MCPServerConfig(
        command=SERVE[0],
        args=(*SERVE[1:], "--env", "assay/Retail-v0", "--seed", "5"),
        env=ENV,
        startup_timeout_s=90,
    )
    tools = {t.name: t for t in mcp_tools(config)}
    try:
        assert {"find_customer", "get_order", "cancel_order"} <= set(tools)
        assert "final_answer" not in tools
        assert set(tools["cancel_order"].parameters["properties"]["reason"]["enum"]) == {
            "no longer needed", "ordered by mistake",
        }  # fmt: skip
        import assay

        env = assay.make("assay/Retail-v0").unwrapped
        env.reset(seed=5)  # the same world as the server's
        name, args = env.current_task().meta["gold_turns"][0]["calls"][0]
        assert tools[name](**args) == json.loads(json.dumps(env.runner.tools[name](**args)))
        env.close()
    finally:
        tools["find_customer"].state.close()
