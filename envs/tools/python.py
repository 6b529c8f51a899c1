"""The ``python`` tool: code runs in one live, sandboxed interpreter per episode.

The interpreter lives in the episode's `assay.sandboxes.Workspace` (`EpisodeWorkspace`:
`LocalSandbox` or `DockerSandbox`), started at the first call and ended with the episode, so
tool code never runs in the env's process and cannot reach the network or the host beyond what
the sandbox allows. State is the interpreter's own: variables, imports and functions persist
without re-running earlier cells, and so does what a failed cell did before it failed (as in a
notebook). Like a notebook, a cell whose last statement is an expression shows its value. The
interpreter shares the workspace's files with the terminal tools (``bash``, the editor).

A cell that runs past ``timeout_s`` is interrupted (``KeyboardInterrupt``) and the state is
kept; one that ignores the interrupt (or kills its interpreter) loses the state, and the result
says so. The next episode starts from an empty interpreter in a fresh workspace.
(Until this round each call replayed the episode's earlier cells in a fresh process; that cost
O(n²) per episode and repeated side effects. ``benchmarks/agentic.py`` compares the two.)
"""

from __future__ import annotations

from typing import Any

from assay.envs.tools.tool import Tool, ToolError
from assay.envs.tools.workspace import EpisodeWorkspace
from assay.sandboxes.workspace import WorkspaceLost

__all__ = ["PythonTool", "ToolError"]


class PythonTool:
    """The ``python(code)`` tool's state: the episode's workspace and its interpreter.

    Args:
        sandbox: ``"local"``, ``"docker"``, ``"auto"`` (Docker when its daemon and image are
            ready, else local), a sandbox instance (shared: not closed by this tool), or an
            `EpisodeWorkspace` to share with other tools (its owner closes it).
        timeout_s: Wall-clock budget of one cell.
        memory_mb: Kept for compatibility: the workspace's limits bound memory
            (`assay.sandboxes.workspace.WORKSPACE_LIMITS`).
        max_cells: Cells per episode; past it the tool refuses new code.
        output_limit: Bytes of output kept per cell (the rest is dropped).
    """

    def __init__(
        self,
        sandbox: Any = "auto",
        *,
        timeout_s: float = 10.0,
        memory_mb: int = 512,
        max_cells: int = 64,
        output_limit: int = 64 * 1024,
    ) -> None:
        if isinstance(sandbox, EpisodeWorkspace):
            self.episode, self._owns_episode = sandbox, False
        else:
            self.episode, self._owns_episode = EpisodeWorkspace(sandbox), True
        self.kind = self.episode.kind
        self.timeout_s, self.memory_mb, self.max_cells = timeout_s, memory_mb, max_cells
        self.output_limit = output_limit
        self.cells = 0
        """Cells run this episode."""

    @property
    def sandbox(self) -> Any:
        """The sandbox (created on first use when given by name)."""
        return self.episode.sandbox

    def __call__(self, code: str) -> str:
        """Run Python code in a sandbox and return what it printed.

        Variables, functions and imports persist across calls within this task. The value of a
        final bare expression is shown. Only the standard library is available; there is no
        network access.

        Args:
            code: Python source, e.g. ``print(sum(range(10)))``.
        """
        if self.cells >= self.max_cells:
            raise ToolError(f"the episode already ran {self.max_cells} cells; no more code")
        self.cells += 1
        try:
            r = self.episode.workspace.python(code, timeout_s=self.timeout_s, output_limit=self.output_limit)
        except WorkspaceLost as e:
            raise ToolError(f"the sandbox is gone for this episode ({e})") from e
        output = r.stdout + r.stderr
        notes = []
        if r.fresh and self.cells > 1:
            notes.append("(a new interpreter: earlier variables are gone)")
        if r.output_truncated:
            notes.append("(output truncated)")
        if r.timed_out:
            kept = "its state is lost" if r.lost_state else "earlier state is kept"
            raise ToolError(f"timed out after {self.timeout_s:g} s (interrupted; {kept})\n{output}".rstrip())
        if r.lost_state:
            raise ToolError(f"the interpreter died; its state is lost\n{output}".rstrip())
        if not r.ok:
            raise ToolError("\n".join([*notes, output.rstrip() or "the cell failed"]))
        return "\n".join([*notes, output.rstrip("\n")]).strip("\n") or "(no output)"

    def reset(self) -> None:
        """End the episode's interpreter (the next call starts an empty one in a new workspace)."""
        self.cells = 0
        self.episode.reset()

    def close(self) -> None:
        """Close the workspace (and the sandbox if this tool created it)."""
        self.cells = 0
        if self._owns_episode:
            self.episode.close()
        else:
            self.episode.reset()

    def tool(self) -> Tool:
        """The ``python`` tool (inline: the workspace enforces the timeout from outside)."""
        return Tool.from_function(self.__call__, name="python", isolation="inline", state=self)
