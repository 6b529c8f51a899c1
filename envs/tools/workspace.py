"""`EpisodeWorkspace`: the one sandboxed workspace of an episode, shared by its tools.

The ``python`` tool, the terminal tools (``bash``, the file editor) and an env's checks all act
on the same `assay.sandboxes.Workspace`: files the shell writes, the interpreter reads. It is
opened lazily (an episode that never calls a tool costs no workspace), closed when the episode
ends (`reset`, which `ToolEnv` calls on every ``env.reset``) and when the env closes.

An env that prepares each episode's files (a task's starting repository, say) calls `prepare`
in its ``on_reset``; a `Snapshot` (``snapshot=``) lets the G episodes of a GRPO group start from
one prepared workspace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from assay.sandboxes.workspace import Snapshot, Workspace

__all__ = ["EpisodeWorkspace", "make_sandbox"]


def make_sandbox(kind: str) -> Any:
    """A sandbox owned by one env: ``"local"``, ``"docker"`` or ``"auto"`` (Docker when its
    daemon and image are ready, else local). One job worker, two workspace workers (the episode's
    and one for a fork)."""
    from assay.sandboxes import LocalSandbox

    if kind == "local":
        return LocalSandbox(workers=1, workspaces=2)
    from assay.sandboxes.docker import DockerSandbox, docker_ready

    if kind == "docker" or docker_ready():
        return DockerSandbox(workers=1, workspaces=2)
    return LocalSandbox(workers=1, workspaces=2)


class EpisodeWorkspace:
    """This episode's workspace, opened on first use (see the module docstring).

    Args:
        sandbox: ``"local"``, ``"docker"``, ``"auto"`` or a sandbox instance (shared: not closed
            here). A kind given by name is created on first use and closed by `close`.
        env: Variables every command in the workspace sees.
    """

    def __init__(self, sandbox: Any = "local", *, env: Mapping[str, str] | None = None) -> None:
        if isinstance(sandbox, str) and sandbox not in ("local", "docker", "auto"):
            raise ValueError(f"sandbox must be 'local', 'docker', 'auto' or a sandbox, got {sandbox!r}")
        if not isinstance(sandbox, str) and not hasattr(sandbox, "workspace"):
            raise TypeError(f"sandbox must be 'local', 'docker', 'auto' or a sandbox, got {sandbox!r}")
        self.kind = sandbox
        self.env = dict(env or {})
        self._sandbox: Any = None if isinstance(sandbox, str) else sandbox
        self._owned = False
        self._ws: Workspace | None = None
        self._files: Mapping[str, str | bytes] = {}
        self._snapshot: Snapshot | None = None

    @property
    def sandbox(self) -> Any:
        """The sandbox (created on first use when given by name)."""
        if self._sandbox is None:
            self._sandbox = make_sandbox(str(self.kind))
            self._owned = True
        return self._sandbox

    def prepare(
        self, *, files: Mapping[str, str | bytes] | None = None, snapshot: Snapshot | None = None
    ) -> None:
        """What this episode's workspace starts with (closes any open one; opened on first use)."""
        self.reset()
        self._files = dict(files or {})
        self._snapshot = snapshot

    @property
    def workspace(self) -> Workspace:
        """The open workspace (opened now if needed; a lost one is replaced by a fresh one only
        at the next episode: within an episode a lost workspace stays lost)."""
        if self._ws is None:
            self._ws = self.sandbox.workspace(files=self._files, snapshot=self._snapshot, env=self.env)
        return self._ws

    @property
    def opened(self) -> bool:
        """A workspace is open for this episode."""
        return self._ws is not None

    def reset(self) -> None:
        """Close this episode's workspace (every file and process in it is gone)."""
        ws, self._ws = self._ws, None
        self._files, self._snapshot = {}, None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()

    def close(self) -> None:
        """Close the workspace, and the sandbox if this object created it."""
        self.reset()
        if self._owned and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
            self._owned = False
