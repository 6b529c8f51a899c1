"""The ``python`` tool: run code in a sandbox, with state kept across the turns of one episode.

Every call runs in a fresh sandboxed process (`assay.sandboxes`: `LocalSandbox` or
`DockerSandbox`), so tool code never runs in the env's process and cannot reach the network or
the host beyond what the sandbox allows (see its ``isolation``). State persists by **replay**:
each call re-runs the episode's earlier successful cells, with their output discarded, before
the new one; the next episode starts empty. Like a notebook, a cell whose last statement is an
expression shows its value.

Costs and caveats of replay (documented, deliberate: a live interpreter per episode would hold
a sandbox worker for the whole episode): the n-th call re-executes n-1 cells, so a long episode
costs O(n²) and a slow cell slows every later call (the timeout covers replay and new cell
together); side effects are repeated (files are written again, but the sandbox wipes its
scratch space after each run, so nothing outlives one call); nondeterministic cells (random
numbers without a seed, time) may rebuild different state; a cell that failed or timed out is
not kept. The cells travel on stdin, never inside the program text.
"""

from __future__ import annotations

import json
from typing import Any

from assay.envs.tools.tool import Tool, ToolError
from assay.sandboxes.worker import mark_own

__all__ = ["HARNESS", "PythonTool", "ToolError"]


HARNESS = r"""
import ast, contextlib, io, json, linecache, sys, traceback

cells = json.loads(sys.stdin.read())
scope = {"__name__": "__main__", "__builtins__": __builtins__}


def run(index, source, show):
    name = "<cell %d>" % index
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    tree = ast.parse(source, name, "exec")
    last = None
    if show and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), scope)
    if last is not None:
        value = eval(compile(last, name, "eval"), scope)
        if value is not None:
            print(repr(value))


for i, source in enumerate(cells[:-1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            run(i, source, False)
        except BaseException:
            pass
try:
    run(len(cells) - 1, cells[-1], True)
except SystemExit as e:
    if e.code not in (None, 0):
        print("SystemExit: %s" % (e.code,), file=sys.stderr)
        sys.stdout.flush()
        sys.exit(1)
except BaseException as e:
    tb = e.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
        tb = tb.tb_next
    sys.stdout.flush()
    traceback.print_exception(type(e), e, tb)
    sys.exit(1)
"""
"""The program each call runs: replays earlier cells silently, then runs the new one."""
mark_own(HARNESS)  # ours, not the model's: compiled once on the host


class PythonTool:
    """The ``python(code)`` tool's state: the sandbox and this episode's successful cells.

    Args:
        sandbox: ``"local"``, ``"docker"``, ``"auto"`` (Docker when its daemon and image are
            ready, else local) or a `Sandbox` instance (shared: not closed by this tool). A kind
            given by name is created at the first call, owned and closed by this tool.
        timeout_s: Wall-clock budget of one call (replay included).
        memory_mb: Memory cap of the program.
        max_cells: Cells kept per episode; past it the tool refuses new code (bounds replay).
    """

    def __init__(
        self, sandbox: Any = "auto", *, timeout_s: float = 10.0, memory_mb: int = 512, max_cells: int = 32
    ) -> None:
        if not isinstance(sandbox, str) and not hasattr(sandbox, "run"):
            raise TypeError(f"sandbox must be 'local', 'docker', 'auto' or a Sandbox, got {sandbox!r}")
        if isinstance(sandbox, str) and sandbox not in ("local", "docker", "auto"):
            raise ValueError(f"sandbox must be 'local', 'docker', 'auto' or a Sandbox, got {sandbox!r}")
        self.kind = sandbox
        self.timeout_s, self.memory_mb, self.max_cells = timeout_s, memory_mb, max_cells
        self.cells: list[str] = []
        self._sandbox: Any = None if isinstance(sandbox, str) else sandbox
        self._owned = False

    @property
    def sandbox(self) -> Any:
        """The sandbox (created on first use when given by name)."""
        if self._sandbox is None:
            self._sandbox = _make_sandbox(str(self.kind))
            self._owned = True
        return self._sandbox

    def __call__(self, code: str) -> str:
        """Run Python code in a sandbox and return what it printed.

        Variables, functions and imports persist across calls within this task. The value of a
        final bare expression is shown. Only the standard library is available; there is no
        network access.

        Args:
            code: Python source, e.g. ``print(sum(range(10)))``.
        """
        from assay.sandboxes import Limits

        if len(self.cells) >= self.max_cells:
            raise ToolError(f"the episode already ran {self.max_cells} cells; no more code")
        cells = [*self.cells, code]
        limits = Limits(wall_s=self.timeout_s, cpu_s=self.timeout_s, memory_bytes=self.memory_mb * 2**20)
        result = self.sandbox.run(HARNESS, stdin=json.dumps(cells), limits=limits)
        output = result.stdout + result.stderr
        if result.timed_out:
            raise ToolError(f"timed out after {self.timeout_s:g} s (this cell is dropped)\n{output}".rstrip())
        if result.oom:
            raise ToolError(f"out of memory (this cell is dropped)\n{output}".rstrip())
        if result.output_truncated:
            raise ToolError(f"too much output (this cell is dropped)\n{output}".rstrip())
        if result.exit_code != 0:
            raise ToolError(output.rstrip() or f"exited with status {result.exit_code}")
        self.cells.append(code)
        return output or "(no output)"

    def reset(self) -> None:
        """Forget the episode's cells (the next call starts from an empty interpreter)."""
        self.cells.clear()

    def close(self) -> None:
        """Close the sandbox if this tool created it."""
        self.cells.clear()
        if self._owned and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
            self._owned = False

    def tool(self) -> Tool:
        """The ``python`` tool (inline: the sandbox enforces the timeout from outside)."""
        return Tool.from_function(self.__call__, name="python", isolation="inline", state=self)


def _make_sandbox(kind: str) -> Any:
    from assay.sandboxes import LocalSandbox

    if kind == "local":
        return LocalSandbox(workers=1)
    from assay.sandboxes.docker import DockerSandbox, docker_ready

    if kind == "docker" or docker_ready():
        return DockerSandbox(workers=1)
    return LocalSandbox(workers=1)
