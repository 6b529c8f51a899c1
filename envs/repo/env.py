"""`RepoRepairEnv` (``assay/RepoRepair-v0``): fix a bug planted in a real package, graded by its tests.

One episode::

    reset  -> a validated task (`assay.envs.repo.taskset`): the package's sdist, with the bug in,
              is the workspace; the prompt is the issue written from the failing tests
    step(a) terminal tool calls (``bash``, ``view``, ``str_replace``, ...) act on that workspace
    submit, or a message without calls -> graded (`assay.envs.repo.grade`): the agent's library
              edits on the pristine package in a fresh workspace, the task's failing tests plus a
              sample of passing ones; reward 1 only if all pass (``partial_credit=True``: the
              fraction that pass)

The gold actions are the inverse patch as ``str_replace`` calls, then a final message. Needs the
bundle (``assay sandbox build --repo-tasks``): the sdists on the host, pytest in the sandbox.

The tools are the terminal tools (`assay.envs.tools.terminal`: ``bash``, ``view``, ``create``,
``str_replace``, ``insert``, ``undo_edit``, ``submit``) on the episode's workspace.

Simplifications: a submission whose library files are byte-identical to
the task's buggy ones scores 0 without a test run (the task set was validated on exactly that
code).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import numpy as np

from assay.envs.base import Reply
from assay.envs.repo.bundle import IMAGE_SITE, REPO_IMAGE, read_tree, site_dir
from assay.envs.repo.grade import grade_repair, library_edits, library_paths
from assay.envs.repo.packages import Package, package
from assay.envs.repo.taskset import RepoTask, load_tasks, mutated_files
from assay.envs.tools.env import Plan, ToolEnv
from assay.envs.tools.terminal import TerminalTools
from assay.envs.tools.workspace import EpisodeWorkspace
from assay.rewards.base import Rubric, Term
from assay.sandboxes.workspace import WorkspaceLost
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


class _RepoSandbox:
    """The env's sandbox, made on first use (so an env can be made where no bundle is built)."""

    def __init__(self, sandbox: Any) -> None:
        self.kind = sandbox
        self._sandbox: Any = None if isinstance(sandbox, str) else sandbox
        self._owned = False

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

    def workspace(self, **kwargs: Any) -> Any:
        return self.sandbox.workspace(**kwargs)

    def close(self) -> None:
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
        self.repo_sandbox = _RepoSandbox(sandbox)
        self.episode = EpisodeWorkspace(self.repo_sandbox)
        self.terminal = TerminalTools(self.episode, timeout_s=timeout_s)
        self._trees: dict[str, dict[str, bytes]] = {}
        tools = self.terminal.tools()
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
        self.episode.prepare(files=files)
        self.episode.env = {"ASSAY_PYTEST_SITE": self.repo_sandbox.site}

    # -- turns ----------------------------------------------------------------------------

    def respond(self, action: str) -> Reply:
        reply = super().respond(action)
        if self.terminal.submitted and not reply.final:
            return Reply(final=True, answer="submit")
        return reply

    # -- grading ----------------------------------------------------------------------------

    def _verify(self, completion: str, task: Task) -> Verdict:
        rt = self.repo_task(task)
        pkg: Package = package(rt.package)
        tree = self._tree(rt.package)
        if not self.episode.opened:  # no tool ran: the library is the buggy one the set was validated on
            return Verdict(Status.INCORRECT, 0.0, reason="the library is unchanged")
        try:
            tar = self.episode.workspace.snapshot().tar
        except WorkspaceLost:
            return Verdict(Status.INCORRECT, 0.0, reason="the agent's commands ended its workspace")
        edits = library_edits(tar, pkg, tree)
        self.episode.reset()  # the agent's processes end before grading
        buggy = {**{n: tree[n] for n in library_paths(pkg, tree)}, **mutated_files(rt, tree)}
        if all(edits.get(n) == buggy.get(n) for n in edits):
            return Verdict(Status.INCORRECT, 0.0, reason="the library is unchanged")
        return grade_repair(
            self.repo_sandbox,
            pkg,
            tree,
            rt,
            edits,
            site=self.repo_sandbox.site,
            python=self.repo_sandbox.python,
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
        super().close()  # closes the tool state: the episode's workspace
        self.episode.close()
        self.repo_sandbox.close()


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
