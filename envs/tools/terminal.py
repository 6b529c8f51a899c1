"""Terminal tools: a shell and a file editor on the episode's sandboxed workspace, plus ``submit``.

The tools, in the conventions coding agents use (SWE-agent / the common "str_replace editor"):

- ``bash(command)``: runs in the workspace's shell; ``cd``, variables and functions persist,
  background jobs (``cmd &``) keep running; each call has a time limit and an output cap.
- ``view(path, view_range=None)``: a file with line numbers (``view_range=[start, end]``, 1-based,
  ``end = -1`` for the end), or a directory's files two levels deep.
- ``create(path, file_text)``: writes a new file (or overwrites one), making parent dirs.
- ``str_replace(path, old_str, new_str)``: replaces ``old_str``, which must occur exactly once.
- ``insert(path, insert_line, insert_text)``: inserts after line ``insert_line`` (0: at the top).
- ``undo_edit(path)``: undoes the last ``create``/``str_replace``/``insert`` on ``path``.
- ``submit()``: ends the episode (an env that offers it checks the workspace then).

Every tool acts inside the sandbox (`assay.sandboxes.Workspace`): paths are relative to the
workspace root, or absolute inside the sandbox. A failed edit raises `ToolError`, which the
policy sees as an ``error: ...`` result. The editor reads and writes files through the
workspace agent, never through the policy's shell, so shell functions the policy defined do not
change what it sees. Undo history lives on the host and only covers edits made with these tools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.envs.tools.tool import Tool, ToolError
from assay.envs.tools.workspace import EpisodeWorkspace
from assay.sandboxes.workspace import Workspace, WorkspaceLost

__all__ = ["TerminalTools"]

SNIPPET = 4
"""Lines of context shown around an edit."""


def _numbered(lines: list[str], start: int) -> str:
    return "\n".join(f"{i:6d}\t{line}" for i, line in enumerate(lines, start))


class TerminalTools:
    """The terminal tools' state: the episode's workspace, undo history and the submit flag.

    Args:
        episode: The episode's workspace (shared with e.g. the ``python`` tool), or a sandbox
            kind / instance to make one (owned: closed by `close`).
        timeout_s: Time limit of one ``bash`` call.
        output_limit: Bytes of ``bash`` output kept per call (the rest is dropped, noted).
        max_view_chars: Largest text ``view`` returns (longer files: use ``view_range``).
    """

    def __init__(
        self,
        episode: EpisodeWorkspace | Any = "local",
        *,
        timeout_s: float = 30.0,
        output_limit: int = 16 * 1024,
        max_view_chars: int = 16_000,
    ) -> None:
        if isinstance(episode, EpisodeWorkspace):
            self.episode, self._owns = episode, False
        else:
            self.episode, self._owns = EpisodeWorkspace(episode), True
        self.timeout_s = timeout_s
        self.output_limit = output_limit
        self.max_view_chars = max_view_chars
        self.history: dict[str, list[bytes | None]] = {}
        self.submitted = False
        """``submit`` was called this episode."""

    # -- helpers -------------------------------------------------------------------------

    def _ws(self) -> Workspace:
        try:
            ws = self.episode.workspace
        except WorkspaceLost as e:
            raise ToolError(f"the workspace is gone for this episode ({e})") from e
        if not ws.alive:
            raise ToolError("the workspace is gone for this episode (a command ended it)")
        return ws

    def _read_text(self, path: str) -> str:
        try:
            data = self._ws().read(path)
        except IsADirectoryError:
            raise ToolError(f"{path} is a directory") from None
        except FileNotFoundError:
            raise ToolError(f"{path} does not exist") from None
        except OSError as e:
            raise ToolError(f"cannot read {path}: {e.strerror}") from None
        except WorkspaceLost as e:
            raise ToolError(f"the workspace is gone for this episode ({e})") from e
        return data.decode("utf-8", "replace")

    def _old(self, path: str) -> bytes | None:
        try:
            return self._ws().read(path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ToolError(f"cannot read {path}: {e.strerror}") from None

    def _write(self, path: str, text: str, previous: bytes | None) -> None:
        try:
            self._ws().write(path, text.encode())
        except OSError as e:
            raise ToolError(f"cannot write {path}: {e.strerror}") from None
        except WorkspaceLost as e:
            raise ToolError(f"the workspace is gone for this episode ({e})") from e
        self.history.setdefault(path, []).append(previous)

    def _snippet(self, path: str, text: str, first: int, last: int) -> str:
        lines = text.split("\n")
        lo, hi = max(1, first - SNIPPET), min(len(lines), last + SNIPPET)
        return f"The file {path} has been edited. Lines {lo}-{hi} now read:\n" + _numbered(
            lines[lo - 1 : hi], lo
        )

    # -- the tools -----------------------------------------------------------------------

    def bash(self, command: str) -> str:
        """Run a bash command in the task's sandboxed workspace and return its output.

        The shell keeps its working directory, variables and functions between calls;
        background jobs (cmd &) keep running. There is no network access.

        Args:
            command: The command line, e.g. ``ls -la`` or ``cd src && grep -rn TODO .``.
        """
        try:
            r = self._ws().exec(command, timeout_s=self.timeout_s, output_limit=self.output_limit)
        except WorkspaceLost as e:
            raise ToolError(f"the workspace is gone for this episode ({e})") from e
        out = r.stdout + (
            ("\n" if r.stdout and not r.stdout.endswith("\n") else "") + r.stderr if r.stderr else ""
        )
        notes = []
        if r.output_truncated:
            notes.append(f"[output truncated at {self.output_limit} bytes]")
        if r.timed_out:
            notes.append(f"[timed out after {self.timeout_s:g} s: the command and its processes were killed]")
        elif r.exit_code:
            notes.append(f"[exit code {r.exit_code}]")
        return "\n".join([out.rstrip("\n"), *notes]).strip("\n") or "(no output)"

    def view(self, path: str, view_range: list[int] | None = None) -> str:
        """Show a file with line numbers, or list a directory (two levels deep).

        Args:
            path: File or directory, relative to the workspace root or absolute.
            view_range: Optional [start, end] line numbers, 1-based, inclusive; end -1 means the
                last line.
        """
        if view_range is None:
            listing = self._ws().exec(
                f"if [ -d {_q(path)} ]; then find {_q(path)} -maxdepth 2 -not -path '*/.*' | sort; "
                "else exit 3; fi",
                fresh=True,
                timeout_s=10.0,
                output_limit=self.max_view_chars,
            )
            if listing.exit_code == 0:
                return listing.stdout.rstrip("\n")
        text = self._read_text(path)
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        start, end = 1, len(lines)
        if view_range is not None:
            if len(view_range) != 2:
                raise ToolError("view_range must be [start, end]")
            start, end = int(view_range[0]), int(view_range[1])
            if end == -1:
                end = len(lines)
            if not 1 <= start <= max(1, len(lines)) or end < start or end > len(lines):
                raise ToolError(f"view_range {view_range} is outside the file's lines 1-{len(lines)}")
        shown = _numbered(lines[start - 1 : end], start)
        if len(shown) > self.max_view_chars:
            shown = shown[: self.max_view_chars] + "\n[truncated: use view_range to see the rest]"
        return shown or "(empty file)"

    def create(self, path: str, file_text: str) -> str:
        """Create a file with the given content (overwrites an existing file; makes parent dirs).

        Args:
            path: File to write, relative to the workspace root or absolute.
            file_text: The whole content of the file.
        """
        previous = self._old(path)
        self._write(path, file_text, previous)
        verb = "overwritten" if previous is not None else "created"
        return f"File {path} {verb} ({len(file_text.splitlines())} lines)."

    def str_replace(self, path: str, old_str: str, new_str: str) -> str:
        """Replace text in a file. old_str must match exactly one place in the file (whitespace
        included); add surrounding lines to make it unique.

        Args:
            path: The file to edit.
            old_str: The exact text to replace.
            new_str: The text to put in its place (may be empty).
        """
        if not old_str:
            raise ToolError("old_str must not be empty")
        text = self._read_text(path)
        count = text.count(old_str)
        if count == 0:
            raise ToolError(f"old_str was not found in {path}; nothing changed")
        if count > 1:
            where, at = [], 0
            for _ in range(count):
                at = text.index(old_str, at)
                where.append(text.count("\n", 0, at) + 1)
                at += 1
            raise ToolError(f"old_str occurs {count} times in {path} (lines {where}); it must be unique")
        at = text.index(old_str)
        new_text = text.replace(old_str, new_str, 1)
        self._write(path, new_text, text.encode())
        first = text.count("\n", 0, at) + 1
        return self._snippet(path, new_text, first, first + new_str.count("\n"))

    def insert(self, path: str, insert_line: int, insert_text: str) -> str:
        """Insert text after a given line of a file (0 inserts at the top).

        Args:
            path: The file to edit.
            insert_line: The line number after which to insert (0 to n, n the number of lines).
            insert_text: The text to insert (one or more lines).
        """
        text = self._read_text(path)
        lines = text.split("\n")
        trailing = text.endswith("\n")
        if trailing:
            lines.pop()
        if not 0 <= insert_line <= len(lines):
            raise ToolError(f"insert_line {insert_line} is outside 0-{len(lines)}")
        new = insert_text[:-1] if insert_text.endswith("\n") else insert_text
        lines[insert_line:insert_line] = new.split("\n")
        new_text = "\n".join(lines) + ("\n" if trailing or not text else "")
        self._write(path, new_text, text.encode())
        return self._snippet(path, new_text, insert_line + 1, insert_line + new.count("\n") + 1)

    def undo_edit(self, path: str) -> str:
        """Undo the last edit (create, str_replace or insert) made to a file with these tools.

        Args:
            path: The file whose last edit to undo.
        """
        stack = self.history.get(path)
        if not stack:
            raise ToolError(f"no edit of {path} to undo")
        previous = stack.pop()
        ws = self._ws()
        if previous is None:
            ws.exec(f"rm -f -- {_q(path)}", fresh=True, timeout_s=10.0)
            return f"Undid the creation of {path} (removed)."
        ws.write(path, previous)
        return f"Undid the last edit of {path}."

    def submit(self) -> str:
        """Submit the work: ends the episode, and the workspace is checked as it is now."""
        self.submitted = True
        return "Submitted."

    # -- lifecycle -----------------------------------------------------------------------

    def reset(self) -> None:
        """A new episode: history and the submit flag cleared, the workspace closed."""
        self.history.clear()
        self.submitted = False
        self.episode.reset()

    def close(self) -> None:
        self.history.clear()
        if self._owns:
            self.episode.close()
        else:
            self.episode.reset()

    def tools(self, *, submit: bool = True) -> list[Tool]:
        """``bash``, ``view``, ``create``, ``str_replace``, ``insert``, ``undo_edit`` (and
        ``submit``), inline: the workspace enforces the time limits from outside."""
        fns: list[Callable[..., str]] = [
            self.bash,
            self.view,
            self.create,
            self.str_replace,
            self.insert,
            self.undo_edit,
        ]
        if submit:
            fns.append(self.submit)
        return [Tool.from_function(f, name=f.__name__, isolation="inline", state=self) for f in fns]


def _q(path: str) -> str:
    """``path`` quoted for the shell."""
    return "'" + path.replace("'", "'\\''") + "'"
