"""`ToolRunner`: turn a `ToolCall` into a `ToolResult`, whatever the call or the tool does.

Every failure is a result whose content starts with ``error:`` (and ``ok=False``): an unreadable
call, an unknown tool, arguments that break the schema, a tool that raises, a tool that runs
past its ``timeout_s``, a tool process that dies. Output is capped at ``max_output_chars``.

``process`` tools run in one worker per runner: a child forked from the env's process (so tools
need not be importable or picklable; plain ``os.fork``, because Gymnasium's vector workers are
daemonic and may not start `multiprocessing` children). The worker is started at the first call,
killed and reaped when a call overruns (the next call starts a fresh one) and when the runner
closes; it exits by itself when its parent dies (``PR_SET_PDEATHSIG`` and end-of-file on its
socket). Its address space is capped at ``memory_mb`` above what it inherited.

Non-guarantees: a ``thread`` tool that hangs keeps its thread (Python cannot kill threads; the
episode goes on and `abandoned_threads` counts them). Forking a process whose other threads hold
locks can deadlock the child; the timeout then kills it and the call reports a timeout.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

from assay.envs.tools.calls import ToolCall, ToolResult
from assay.envs.tools.tool import Tool, ToolError

__all__ = ["ToolRunner", "cap_output", "to_text"]

_STARTUP_TIMEOUT_S = 60.0


def to_text(value: Any) -> str:
    """A tool's return value as the text the model sees (JSON for non-strings)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def cap_output(text: str, max_chars: int, length: int | None = None) -> str:
    """``text`` cut to ``max_chars`` characters, saying how much was cut.

    ``length`` is the original length when ``text`` is already a prefix of a longer output.
    """
    length = len(text) if length is None else length
    if length <= max_chars:
        return text
    return text[:max_chars] + f"\n...[truncated {length - max_chars} characters]"


def _describe(e: BaseException, max_chars: int = 2_000) -> str:
    try:
        msg = str(e)
    except Exception:  # noqa: BLE001 - a tool's exception may not even print
        msg = "<unprintable>"
    if isinstance(e, ToolError):
        return msg[:max_chars]
    return f"{type(e).__name__}: {msg[:max_chars]}" if msg else type(e).__name__


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _serve(
    conn: Connection, fns: Mapping[str, Callable[..., Any]], preload: Sequence[str], memory_mb: int
) -> None:
    """The worker's loop (runs in the forked child; never returns)."""
    try:
        with contextlib.suppress(Exception):  # die with the parent (Linux)
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        for name in preload:
            importlib.import_module(name)
        if memory_mb > 0:
            limit = _vm_bytes() + memory_mb * 2**20
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        conn.send(("ready", ""))
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg is None:
                break
            name, arguments, max_chars = msg
            try:
                text = to_text(fns[name](**arguments))
                reply = (True, text[:max_chars], len(text))
            except BaseException as e:  # noqa: BLE001 - the tool's failure is the model's observation
                text = _describe(e)
                reply = (False, text[:max_chars], len(text))
            conn.send(reply)
    finally:
        os._exit(0)


class _Worker:
    """One forked child serving ``process`` tools over a socket pair."""

    def __init__(self, fns: Mapping[str, Callable[..., Any]], preload: Sequence[str], memory_mb: int) -> None:
        self.fns, self.preload, self.memory_mb = fns, preload, memory_mb
        self.pid: int | None = None
        self.conn: Connection | None = None

    def _start(self) -> str | None:
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; covered by the tests that run tools
            parent.close()
            _serve(Connection(child.detach()), self.fns, self.preload, self.memory_mb)
        child.close()
        self.pid, self.conn = pid, Connection(parent.detach())
        if not self.conn.poll(_STARTUP_TIMEOUT_S):
            self.kill()
            return "the tool worker did not start"
        try:
            self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            return "the tool worker failed to start"
        return None

    def call(
        self, name: str, arguments: Mapping[str, Any], timeout_s: float, max_chars: int
    ) -> tuple[bool, str]:
        if self.conn is None:
            err = self._start()
            if err is not None:
                return False, err
        assert self.conn is not None
        try:
            self.conn.send((name, dict(arguments), max_chars))
            if not self.conn.poll(timeout_s):
                self.kill()
                return False, f"timed out after {timeout_s:g} s"
            ok, text, length = self.conn.recv()
            return bool(ok), cap_output(str(text), max_chars, length)
        except (EOFError, OSError):
            code = self.kill()
            return False, f"the tool process died (exit status {code})"

    def kill(self) -> int | None:
        """Kill and reap the child; its exit status (None if there was none)."""
        status = None
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self.pid, 0)
            self.pid = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        return status


class ToolRunner:
    """Runs the calls of one env against its tools (see the module docstring).

    Args:
        tools: The tools, by their names (unique).
        max_output_chars: Longer outputs are cut, with a note saying so.
        memory_mb: Address-space cap of the process worker above what it inherits (0: none).
    """

    def __init__(
        self, tools: Sequence[Tool], *, max_output_chars: int = 4_000, memory_mb: int = 2_048
    ) -> None:
        names = [t.name for t in tools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tool names must be unique, repeated: {dupes}")
        if max_output_chars < 1:
            raise ValueError(f"max_output_chars must be >= 1, got {max_output_chars}")
        self.tools = {t.name: t for t in tools}
        self.max_output_chars = max_output_chars
        process = {t.name: t.fn for t in tools if t.isolation == "process"}
        preload = sorted({m for t in tools if t.isolation == "process" for m in t.preload})
        self._worker = _Worker(process, preload, memory_mb) if process else None
        self.abandoned_threads = 0
        """Threads of ``thread`` tools left running after a timeout."""
        self._pid = os.getpid()

    def run(self, call: ToolCall) -> ToolResult:
        """The result of ``call`` (never raises on anything the model sent or the tool did)."""
        if call.error is not None:
            return self._error(call, call.error)
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return self._error(call, f"unknown tool {call.name[:100]!r}; the tools are: {known}")
        problems = tool.validate(call.arguments)
        if problems:
            return self._error(call, f"invalid arguments for {tool.name}: " + "; ".join(problems))
        ok, text = self._execute(tool, call.arguments)
        if not ok:
            return ToolResult(call.id, call.name, f"error: {tool.name}: {text}", ok=False)
        return ToolResult(call.id, call.name, text, ok=True)

    def _error(self, call: ToolCall, message: str) -> ToolResult:
        return ToolResult(
            call.id, call.name, cap_output(f"error: {message}", self.max_output_chars), ok=False
        )

    def _execute(self, tool: Tool, arguments: Mapping[str, Any]) -> tuple[bool, str]:
        """(ok, the output capped at ``max_output_chars``)."""
        if tool.isolation == "process":
            assert self._worker is not None
            return self._worker.call(tool.name, arguments, tool.timeout_s, self.max_output_chars)
        if tool.isolation == "thread":
            ok, text = self._in_thread(tool, arguments)
        else:
            try:
                ok, text = True, to_text(tool.fn(**arguments))
            except Exception as e:  # noqa: BLE001 - a tool's failure is the model's observation
                ok, text = False, _describe(e)
        return ok, cap_output(text, self.max_output_chars)

    def _in_thread(self, tool: Tool, arguments: Mapping[str, Any]) -> tuple[bool, str]:
        box: dict[str, tuple[bool, str]] = {}

        def target() -> None:
            try:
                box["out"] = (True, to_text(tool.fn(**arguments)))
            except BaseException as e:  # noqa: BLE001 - reported to the model
                box["out"] = (False, _describe(e))

        thread = threading.Thread(target=target, name=f"assay-tool-{tool.name}", daemon=True)
        start = time.monotonic()
        thread.start()
        thread.join(tool.timeout_s)
        if thread.is_alive():
            self.abandoned_threads += 1
            return False, f"timed out after {tool.timeout_s:g} s"
        return box.get("out", (False, f"no result after {time.monotonic() - start:.1f} s"))

    def close(self) -> None:
        """Stop the worker process (idempotent). Only the process that started it stops it."""
        if self._worker is not None and os.getpid() == self._pid:
            self._worker.kill()

    def __del__(self) -> None:
        try:  # noqa: SIM105 - contextlib may already be torn down at interpreter exit
            self.close()
        except Exception:  # noqa: BLE001 - best effort in a finaliser
            pass
