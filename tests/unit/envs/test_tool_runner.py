"""ToolRunner: every failure becomes an error result; overruns are killed from outside."""

import os
import time

import pytest

from assay.envs.tools import Tool, ToolCall, ToolRunner, tool


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def boom(message: str) -> str:
    """Raise."""
    raise RuntimeError(message)


def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return "awake"


def spin() -> str:
    """Loop forever in pure Python (no sleeping)."""
    while True:
        pass


def die() -> str:
    """Kill the process running the tool."""
    os._exit(3)


def shout(n: int) -> str:
    """Return a lot of text."""
    return "x" * n


def hog() -> str:
    """Allocate far more memory than the cap."""
    return str(len(bytearray(8 * 2**30)))


def pid() -> int:
    """The id of the process running the tool."""
    return os.getpid()


@pytest.fixture
def runner():
    r = ToolRunner(
        [
            tool(add),
            tool(boom),
            Tool.from_function(sleep, timeout_s=0.5),
            Tool.from_function(spin, timeout_s=0.5),
            tool(die),
            tool(shout),
            tool(hog),
            tool(pid),
            Tool.from_function(sleep, name="thread_sleep", isolation="thread", timeout_s=0.3),
            Tool.from_function(add, name="inline_add", isolation="inline"),
        ],
        max_output_chars=100,
        memory_mb=512,
    )
    yield r
    r.close()


def call(runner, name, **arguments):
    return runner.run(ToolCall("c1", name, arguments))


def test_a_good_call_returns_the_value_as_text(runner):
    result = call(runner, "add", a=2, b=40)
    assert result.ok and result.content == "42" and result.call_id == "c1" and result.name == "add"


def test_process_tools_run_outside_the_env_process(runner):
    assert int(call(runner, "pid").content) != os.getpid()


def test_unreadable_call(runner):
    result = runner.run(ToolCall("c1", "", error="bad JSON: oops"))
    assert not result.ok and result.content == "error: bad JSON: oops"


def test_unknown_tool(runner):
    result = call(runner, "nope")
    assert not result.ok and result.content.startswith("error: unknown tool 'nope'; the tools are: add, boom")


def test_wrong_argument_types(runner):
    result = call(runner, "add", a="2", b=3)
    assert not result.ok and "'2' is not of type 'integer'" in result.content


def test_a_tool_that_raises(runner):
    result = call(runner, "boom", message="kaboom")
    assert not result.ok and result.content == "error: boom: RuntimeError: kaboom"


def test_a_tool_that_hangs_is_killed_and_the_next_call_works(runner):
    first_pid = int(call(runner, "pid").content)
    start = time.monotonic()
    result = call(runner, "spin")
    assert time.monotonic() - start < 3
    assert not result.ok and result.content == "error: spin: timed out after 0.5 s"
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)  # the old worker is gone (killed and reaped)
    assert call(runner, "add", a=1, b=1).content == "2"
    assert int(call(runner, "pid").content) != first_pid


def test_a_sleeping_tool_times_out(runner):
    result = call(runner, "sleep", seconds=5)
    assert result.content == "error: sleep: timed out after 0.5 s"
    assert call(runner, "sleep", seconds=0).content == "awake"


def test_a_tool_that_kills_its_process(runner):
    result = call(runner, "die")
    assert not result.ok and "the tool process died" in result.content
    assert call(runner, "add", a=1, b=2).content == "3"


def test_output_is_capped(runner):
    result = call(runner, "shout", n=10_000)
    assert (
        result.ok and result.content.startswith("x" * 100) and "[truncated 9900 characters]" in result.content
    )
    assert len(result.content) < 150


def test_memory_is_capped(runner):
    result = call(runner, "hog")
    assert not result.ok and "MemoryError" in result.content


def test_thread_tool_timeout_is_reported_and_counted(runner):
    result = call(runner, "thread_sleep", seconds=2)
    assert result.content == "error: thread_sleep: timed out after 0.3 s"
    assert runner.abandoned_threads == 1


def test_inline_tool_errors_are_caught(runner):
    assert call(runner, "inline_add", a=1, b=2).content == "3"


def test_close_reaps_the_worker(runner):
    worker_pid = int(call(runner, "pid").content)
    runner.close()
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="unique"):
        ToolRunner([tool(add), tool(add)])
