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


def _serve_http(port, token=None):
    env = {**os.environ}
    env.pop("ASSAY_MCP_TOKEN", None)
    if token is not None:
        env["ASSAY_MCP_TOKEN"] = token
    proc = subprocess.Popen(
        [*SERVE, "--tools", "calculator", "--transport", "http", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("assay mcp serve did not listen")


def test_a_token_guards_the_http_server():
    """With ``ASSAY_MCP_TOKEN`` set, a request without that bearer token gets 401; assay's MCP
    client sends it through ``MCPServerConfig(headers=...)``."""
    import httpx

    from assay.envs.tools.mcp_client import MCPUnavailable

    port = _free_port()
    proc = _serve_http(port, token="s3cret")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        accept = {"Accept": "application/json, text/event-stream"}
        assert httpx.post(url, json=hello, headers=accept, timeout=30).status_code == 401
        wrong = {**accept, "Authorization": "Bearer s3cre"}
        assert httpx.post(url, json=hello, headers=wrong, timeout=30).status_code == 401
        with pytest.raises(MCPUnavailable):
            mcp_tools(MCPServerConfig(url=url, startup_timeout_s=30))
        tools = mcp_tools(
            MCPServerConfig(url=url, headers={"Authorization": "Bearer s3cret"}, startup_timeout_s=60)
        )
        try:
            assert [t.name for t in tools] == ["calculator"]
            assert tools[0](expression="6*7") == "42"
        finally:
            tools[0].state.close()
        assert "s3cret" not in MCPServerConfig(url=url, headers={"Authorization": "Bearer s3cret"}).describe()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_non_loopback_interface_needs_a_token(monkeypatch):
    from typer.testing import CliRunner

    from assay.cli import app

    monkeypatch.delenv("ASSAY_MCP_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["mcp", "serve", "--transport", "http", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "not loopback" in result.output and "ASSAY_MCP_TOKEN" in result.output
    with pytest.raises(ValueError, match="headers are for a url"):
        MCPServerConfig(command="x", headers={"Authorization": "Bearer t"})
