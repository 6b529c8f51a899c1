"""`RepoRepairEnv` (``assay/RepoRepair-v0``): fix a bug planted in a real package, graded by its tests.

One episode::

    reset  -> a validated task (`assay.envs.repo.taskset`): the package's sdist, with the bug in,
              is the workspace; the prompt is the issue written from the failing tests
    step(a) tool calls (``bash``, ``view``, ``str_replace``, ``submit``) act on that workspace
    submit, or a message without calls -> graded (`assay.envs.repo.grade`): the agent's library
              edits on the pristine package in a fresh workspace, the task's failing tests plus a
              sample of passing ones; reward 1 only if all pass (``partial_credit=True``: the
              fraction that pass)

The gold actions are the inverse patch as ``str_replace`` calls, then a final message. Needs the
bundle (``assay sandbox build --repo-tasks``): the sdists on the host, pytest in the sandbox.

Simplifications: the terminal tools here are this env's own small set (a shell command, a
numbered view, an exact-match replace); a submission whose library files are byte-identical to
the task's buggy ones scores 0 without a test run (the task set was validated on exactly that
code).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.envs.base import Reply
from assay.envs.repo.bundle import IMAGE_SITE, REPO_IMAGE, read_tree, site_dir
from assay.envs.repo.grade import grade_repair, library_edits, library_paths
from assay.envs.repo.packages import Package, package
from assay.envs.repo.taskset import RepoTask, load_tasks, mutated_files
from assay.envs.tools.calls import ParsedAction
from assay.envs.tools.env import Plan, ToolEnv
from assay.envs.tools.tool import Tool, ToolError
from assay.rewards.base import Rubric, Term
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["RepoRepairEnv"]

PROMPT = """You are working in a checkout of the Python package {pkg} (your shell starts in its root).
A user filed this issue:

{issue}

Find the bug in the library code and fix it. The tests are not to be changed: they are restored
from a clean copy before your fix is checked, and files you add are ignored. You can run the
tests with `python3 -m pytest` after `export PYTHONPATH={site}:{paths}`. Call `submit` when done."""


def _tests_passed(completion: str, task: Task, verdict: Verdict) -> float:
    """The verdict's score for a graded repair (partial credit), 0 for anything else."""
    return verdict.score if verdict.status in (Status.CORRECT, Status.INCORRECT) else 0.0


class _Episode:
    """The sandbox, the pristine trees and this episode's workspace (tool state)."""

    def __init__(self, sandbox: Any) -> None:
        self.kind = sandbox
        self._sandbox: Any = None if isinstance(sandbox, str) else sandbox
        self._owned = False
        self.ws: Any = None
        self.files: Mapping[str, bytes] = {}

    @property
    def sandbox(self) -> Any:
        if self._sandbox is None:
            if self.kind == "docker":
                from assay.sandboxes.docker import DockerSandbox

                self._sandbox = DockerSandbox(REPO_IMAGE, workers=1, workspaces=2)
            else:
                from assay.sandboxes.local import LocalSandbox

                self._sandbox = LocalSandbox(workers=1, workspaces=2, extra_binds=[str(site_dir())])
            self._owned = True
        return self._sandbox

    @property
    def site(self) -> str:
        return IMAGE_SITE if getattr(self.sandbox, "name", "") == "docker" else str(site_dir())

    @property
    def python(self) -> str:
        return str(getattr(self.sandbox, "python", "python3"))

    def workspace(self) -> Any:
        if self.ws is None:
            self.ws = self.sandbox.workspace(files=dict(self.files))
        return self.ws

    def reset(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def close(self) -> None:
        self.reset()
        if self._owned and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


class RepoRepairEnv(ToolEnv):
    """Repository repair on real packages (see the module docstring).

    Args:
        sandbox: ``"local"``, ``"docker"`` (the `REPO_IMAGE`), or a sandbox with workspaces and
            pytest at ``site``.
        levels: Difficulty levels to draw from (1: one mutation, 2: two in a file, 3: across files).
        packages: Package names to draw from (default: all).
        partial_credit: Reward the fraction of the task's tests that pass (default: all or 0).
        tasks_path: A task set other than the shipped one.
        timeout_s: Time limit of one ``bash`` call.
        grade_timeout_s: Time limit of the graded test run.
        max_turns: Actions per episode.
    """

    def __init__(
        self,
        *,
        sandbox: Any = "local",
        levels: Sequence[int] = (1, 2, 3),
        packages: Sequence[str] | None = None,
        partial_credit: bool = False,
        tasks_path: str | None = None,
        timeout_s: float = 60.0,
        grade_timeout_s: float = 180.0,
        max_turns: int = 30,
        call_format: str = "json",
        **kwargs: Any,
    ) -> None:
        if isinstance(sandbox, str) and sandbox not in ("local", "docker"):
            raise ValueError(f"sandbox must be 'local', 'docker' or a sandbox, got {sandbox!r}")
        every = load_tasks(tasks_path) if tasks_path else load_tasks()
        names = {package(n).key for n in packages} if packages else None
        self.repo_tasks: tuple[RepoTask, ...] = tuple(
            t for t in every if t.level in levels and (names is None or t.package in names)
        )
        if not self.repo_tasks:
            raise ValueError(f"no RepoRepair task has level in {tuple(levels)} and package in {packages}")
        self.num_tasks = len(self.repo_tasks)
        self.partial_credit = partial_credit
        self.timeout_s = timeout_s
        self.grade_timeout_s = grade_timeout_s
        self.episode = _Episode(sandbox)
        self._trees: dict[str, dict[str, bytes]] = {}
        tools = [
            Tool.from_function(self.bash, name="bash", isolation="inline", state=self.episode),
            Tool.from_function(self.view, name="view", isolation="inline"),
            Tool.from_function(self.str_replace, name="str_replace", isolation="inline"),
            Tool.from_function(self.submit, name="submit", isolation="inline"),
        ]
        rubric = Rubric([Term("tests_passed", _tests_passed)])
        super().__init__(
            tools,
            self._verify,
            rubric=rubric,
            call_format=call_format,
            max_turns=max_turns,
            final_answer_tool=False,
            max_output_chars=8_000,
            **kwargs,
        )

    # -- tasks ------------------------------------------------------------------------------

    def _tree(self, key: str) -> dict[str, bytes]:
        if key not in self._trees:
            self._trees[key] = read_tree(package(key))
        return self._trees[key]

    def task_at(self, index: int) -> Task:
        rt = self.repo_tasks[index]
        pkg = package(rt.package)
        prompt = PROMPT.format(
            pkg=rt.package,
            issue=rt.issue,
            site="$ASSAY_PYTEST_SITE",
            paths=":".join(pkg.pythonpath),
        )
        return Task(id=f"repo_repair/{rt.id}", prompt=prompt, meta={"index": index, "level": rt.level})

    def task_by_id(self, task_id: str) -> Task:
        for i, rt in enumerate(self.repo_tasks):
            if task_id == f"repo_repair/{rt.id}":
                return self.task_at(i)
        return super().task_by_id(task_id)

    def sample_task(self, rng: np.random.Generator) -> Task:
        return self.task_at(int(rng.integers(len(self.repo_tasks))))

    def repo_task(self, task: Task) -> RepoTask:
        """The `RepoTask` behind ``task``."""
        return self.repo_tasks[int(task.meta["index"])]

    def on_reset(self, task: Task) -> None:
        super().on_reset(task)  # closes the last episode's workspace (tool state)
        rt = self.repo_task(task)
        tree = self._tree(rt.package)
        files = dict(tree)
        files.update(mutated_files(rt, tree))
        self.episode.files = files

    # -- tools ------------------------------------------------------------------------------

    def bash(self, command: str) -> str:
        """Run a bash command in the repository (state such as `cd` and variables persists).

        Args:
            command: The command line.
        """
        ws = self.episode.workspace()
        env = {"ASSAY_PYTEST_SITE": self.episode.site}
        r = ws.exec(command, timeout_s=self.timeout_s, env=env)
        out = r.stdout + (("\n[stderr]\n" + r.stderr) if r.stderr else "")
        status = "timed out" if r.timed_out else f"exit {r.exit_code}"
        return f"{out}\n[{status}]"

    def view(self, path: str, start: int = 1, end: int = 0) -> str:
        """Show a file with line numbers.

        Args:
            path: File path, relative to the repository root.
            start: First line to show (1-based).
            end: Last line to show (0: to the end).
        """
        try:
            text = self.episode.workspace().read(path).decode("utf-8", "replace")
        except OSError as e:
            raise ToolError(f"cannot read {path}: {e.strerror or e}") from None
        lines = text.splitlines()
        stop = len(lines) if end <= 0 else min(end, len(lines))
        return "\n".join(f"{i:6d}\t{lines[i - 1]}" for i in range(max(1, start), stop + 1))

    def str_replace(self, path: str, old_str: str, new_str: str) -> str:
        """Replace the one occurrence of ``old_str`` in a file with ``new_str``.

        Args:
            path: File path, relative to the repository root.
            old_str: Exact text to replace; it must occur exactly once.
            new_str: The replacement.
        """
        ws = self.episode.workspace()
        try:
            text = ws.read(path).decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ToolError(f"cannot read {path}: {e}") from None
        count = text.count(old_str) if old_str else 0
        if count != 1:
            raise ToolError(f"old_str occurs {count} times in {path}; it must occur exactly once")
        ws.write(path, text.replace(old_str, new_str))
        return f"edited {path}"

    def submit(self) -> str:
        """Submit the repository as it is now for grading; ends the episode."""
        return "submitted"

    def respond(self, action: str) -> Reply:
        parsed: ParsedAction = self.call_format.parse(action, self.turn)
        if parsed.error is None and any(c.name == "submit" for c in parsed.calls):
            super().respond(action)  # runs (and records) the calls of this turn, then it ends
            return Reply(final=True, answer=parsed.content or "submit")
        return super().respond(action)

    # -- grading ----------------------------------------------------------------------------

    def _verify(self, completion: str, task: Task) -> Verdict:
        rt = self.repo_task(task)
        pkg: Package = package(rt.package)
        tree = self._tree(rt.package)
        ws = self.episode.ws
        if ws is None:  # no tool was called: the library is the buggy one the set was validated on
            return Verdict(Status.INCORRECT, 0.0, reason="the library is unchanged")
        edits = library_edits(ws.snapshot().tar, pkg, tree)
        self.episode.reset()  # the agent's processes end before grading
        buggy = {**{n: tree[n] for n in library_paths(pkg, tree)}, **mutated_files(rt, tree)}
        if all(edits.get(n) == buggy.get(n) for n in edits):
            return Verdict(Status.INCORRECT, 0.0, reason="the library is unchanged")
        return grade_repair(
            self.episode.sandbox,
            pkg,
            tree,
            rt,
            edits,
            site=self.episode.site,
            python=self.episode.python,
            timeout_s=self.grade_timeout_s,
            partial_credit=self.partial_credit,
        )

    # -- gold -------------------------------------------------------------------------------

    def gold_plan(self, task: Task) -> Plan:
        """``str_replace`` calls that undo every mutation (the inverse patch), then ``submit``."""
        rt = self.repo_task(task)
        tree = self._tree(rt.package)
        calls: list[tuple[str, dict[str, Any]]] = []
        for name, buggy in mutated_files(rt, tree).items():
            calls.extend(
                ("str_replace", e) for e in _inverse_edits(name, buggy.decode(), tree[name].decode())
            )
        return [calls, [("submit", {})]]

    def gold(self, task: Task) -> str:
        return "Fixed and submitted."

    def gold_actions(self, task: Task) -> list[str]:
        plan = self.gold_plan(task)
        return [self.call_format.render_calls(calls, turn=i + 1) for i, calls in enumerate(plan)]

    def close(self) -> None:
        self.episode.close()
        super().close()


def _inverse_edits(path: str, buggy: str, original: str) -> list[dict[str, str]]:
    """Exact-match replacements turning ``buggy`` into ``original``, each unique where applied."""
    a, b = buggy.splitlines(keepends=True), original.splitlines(keepends=True)
    blocks = [
        op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"
    ]
    edits: list[dict[str, str]] = []
    current = list(a)
    for _, i1, i2, j1, j2 in reversed(blocks):  # bottom up: earlier line numbers stay valid
        lo, hi = i1, i2
        while True:
            old = "".join(current[lo:hi])
            if old and "".join(current).count(old) == 1:
                break
            lo, hi = max(0, lo - 1), min(len(current), hi + 1)
        new = "".join(current[lo:i1]) + "".join(b[j1:j2]) + "".join(current[i2:hi])
        edits.append({"path": path, "old_str": old, "new_str": new})
        current[lo:hi] = new.splitlines(keepends=True)
    return edits
