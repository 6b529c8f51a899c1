"""Terminal-v0: shell tasks in a sandboxed workspace, checked by inspecting the workspace.

Each episode opens a fresh `assay.sandboxes.Workspace` holding the task's starting files; the
policy works with the terminal tools (``bash``, ``view``, ``create``, ``str_replace``,
``insert``, ``undo_edit``) and ends with ``submit`` (or any message without a tool call). The
reward comes from the workspace as it is then, never from what the policy says: every process
the episode started is killed first (`Workspace.quiesce`), files are read through the workspace
agent (not the policy's shell), and scripts are run in a fresh shell that ignores the functions
and variables the policy defined.

Families (procedural, seeded: task ``i`` is the same everywhere):

- ``files``: sort an inbox of files into folders by extension.
- ``text``: count matching lines of a generated web-server log and write the numbers.
- ``script``: write an executable script; it is run on inputs the policy never sees.
- ``data``: aggregate a CSV (totals per group, sorted) into a new CSV.
- ``replace``: replace a word in every Markdown file of a tree (and nothing else).
- ``git`` (opt-in: needs ``git`` inside the sandbox; the default Docker image has none): put a
  project under version control with one commit of a given message.

A no-op episode scores 0 on every task: each check needs a change the starting files lack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.envs.base import Reply
from assay.envs.tools.env import ToolEnv
from assay.envs.tools.terminal import TerminalTools
from assay.envs.tools.workspace import EpisodeWorkspace
from assay.sandboxes.workspace import WorkspaceLost
from assay.verifiers.base import Status, Task, Verdict

__all__ = ["FAMILIES", "TerminalEnv", "WorkspaceCheck"]

FAMILIES = ("files", "text", "script", "data", "replace")
OPTIONAL = ("git",)
_WORDS = ("alpha", "bravo", "cedar", "delta", "ember", "fjord", "gamma", "harbor", "indigo", "juniper")
_SUBMIT = " Work in the current directory. When you are done, call submit."


def _norm(text: str) -> str:
    return text.rstrip("\n")


class WorkspaceCheck:
    """The verifier of `TerminalEnv`: judges the episode's workspace, not the completion.

    A task's ``meta["check"]`` says what must hold: ``files`` (path -> exact content, trailing
    newlines ignored), ``absent`` (paths that must not exist) and ``runs`` (``[command, stdout]``
    pairs, each run in a fresh shell after every process of the episode was killed).
    """

    def __init__(self, episode: EpisodeWorkspace) -> None:
        self.episode = episode

    def __call__(self, completion: str, task: Task, /) -> Verdict:
        check: Mapping[str, Any] = task.meta["check"]
        try:
            ws = self.episode.workspace
            ws.quiesce()
            for path, want in check.get("files", {}).items():
                try:
                    got = ws.read(path).decode("utf-8", "replace")
                except OSError:
                    return Verdict(Status.INCORRECT, reason=f"{path} is missing")
                if _norm(got) != _norm(want):
                    return Verdict(Status.INCORRECT, reason=f"{path} has the wrong content")
            for path in check.get("absent", []):
                try:
                    ws.read(path, limit=0)
                except FileNotFoundError:
                    continue
                except OSError:
                    continue
                return Verdict(Status.INCORRECT, reason=f"{path} should not exist")
            for command, want in check.get("runs", []):
                r = ws.exec(command, fresh=True, timeout_s=10.0, output_limit=64 * 1024)
                if r.exit_code != 0 or _norm(r.stdout) != _norm(want):
                    return Verdict(Status.INCORRECT, reason=f"`{command}` printed the wrong thing")
        except WorkspaceLost as e:
            return Verdict(Status.INCORRECT, reason=f"the workspace was lost during the episode: {e}")
        return Verdict(Status.CORRECT, score=1.0)


class TerminalEnv(ToolEnv):
    """Shell tasks in a sandboxed workspace (see the module docstring).

    Args:
        families: Task families to draw (in turn by index). ``"git"`` is opt-in and needs git in
            the sandbox (checked here: `ValueError` when missing).
        sandbox: ``"local"`` (default), ``"docker"``, ``"auto"`` or a sandbox instance.
        bash_timeout_s: Time limit of one ``bash`` call.
        call_format: ``"json"`` or ``"tag"`` (see `ToolEnv`).
        max_turns: Actions per episode.
        python_tool: Also offer the ``python`` tool (same workspace).
        **kwargs: Passed on to `ToolEnv`.
    """

    def __init__(
        self,
        families: Sequence[str] = FAMILIES,
        *,
        sandbox: Any = "local",
        bash_timeout_s: float = 20.0,
        call_format: str = "json",
        max_turns: int = 16,
        python_tool: bool = False,
        **kwargs: Any,
    ) -> None:
        unknown = set(families) - set(FAMILIES) - set(OPTIONAL)
        if unknown or not families:
            raise ValueError(
                f"families must be a non-empty subset of {FAMILIES + OPTIONAL}, got {list(families)}"
            )
        self.families = tuple(families)
        self.episode = EpisodeWorkspace(sandbox)
        self.terminal = TerminalTools(self.episode, timeout_s=bash_timeout_s)
        tools = self.terminal.tools()
        if python_tool:
            from assay.envs.tools.python import PythonTool

            tools.append(PythonTool(self.episode).tool())
        super().__init__(
            tools,
            WorkspaceCheck(self.episode),
            call_format=call_format,
            max_turns=max_turns,
            final_answer_tool=False,
            **kwargs,
        )
        if "git" in self.families:
            with self.episode.sandbox.workspace() as ws:
                if ws.exec("command -v git", fresh=True).exit_code != 0:
                    self.close()
                    raise ValueError("the git family needs git inside the sandbox; this one has none")
        self._prefix = "terminal/" + "-".join(self.families) if self.families != FAMILIES else "terminal"

    # -- episodes ------------------------------------------------------------------------

    def on_reset(self, task: Task) -> None:
        super().on_reset(task)  # closes the last episode's workspace
        self.episode.prepare(files=task.meta["files"])

    def respond(self, action: str) -> Reply:
        reply = super().respond(action)
        if self.terminal.submitted:
            return Reply(final=True, answer="", messages=reply.messages, reward_terms=reply.reward_terms)
        return reply

    def gold(self, task: Task) -> str:
        return self.call_format.render_calls([("submit", {})], turn=len(self.gold_plan(task)) + 1)

    def close(self) -> None:
        super().close()
        self.episode.close()

    # -- tasks ---------------------------------------------------------------------------

    def task_at(self, index: int) -> Task:
        family = self.families[index % len(self.families)]
        all_families = FAMILIES + OPTIONAL
        rng = np.random.default_rng(np.random.SeedSequence([all_families.index(family), index]))
        prompt, files, check, plan = getattr(self, f"_{family}")(rng)
        return Task(
            id=f"{self._prefix}/{index}",
            prompt=prompt + _SUBMIT,
            answer=None,
            meta={
                "family": family,
                "files": files,
                "check": check,
                "gold_plan": [[["bash", {"command": cmd}]] for cmd in plan],
            },
        )

    @staticmethod
    def _files(rng: np.random.Generator) -> tuple[str, dict[str, str], dict[str, Any], list[str]]:
        exts = ("log", "txt", "csv")
        folders = {"log": "logs", "txt": "notes", "csv": "tables"}
        n = int(rng.integers(4, 9))
        files: dict[str, str] = {}
        for i in range(n):
            ext = exts[i % 3] if i < 3 else exts[int(rng.integers(0, 3))]
            name = f"inbox/{_WORDS[int(rng.integers(0, len(_WORDS)))]}_{i}.{ext}"
            files[name] = f"{name} {int(rng.integers(0, 10**6))}\n"
        moved = {f"{folders[p.rsplit('.', 1)[1]]}/{p.split('/', 1)[1]}": c for p, c in files.items()}
        prompt = (
            "The directory inbox/ holds files of three kinds. Move every .log file into logs/, every "
            ".txt file into notes/ and every .csv file into tables/ (create the folders; keep the "
            "file names and contents). inbox/ must be left empty or removed."
        )
        plan = [
            "mkdir -p logs notes tables && mv inbox/*.log logs/ && mv inbox/*.txt notes/ && mv inbox/*.csv tables/"
        ]
        return prompt, files, {"files": moved, "absent": list(files)}, plan

    @staticmethod
    def _text(rng: np.random.Generator) -> tuple[str, dict[str, str], dict[str, Any], list[str]]:
        codes = (200, 301, 404, 500)
        lines, n = [], int(rng.integers(30, 80))
        for _ in range(n):
            ip = f"10.0.{int(rng.integers(0, 4))}.{int(rng.integers(1, 30))}"
            code = codes[int(rng.choice(4, p=[0.6, 0.1, 0.2, 0.1]))]
            path = "/" + _WORDS[int(rng.integers(0, len(_WORDS)))]
            lines.append(f'{ip} - - "GET {path} HTTP/1.1" {code} {int(rng.integers(100, 5000))}')
        code = codes[int(rng.integers(2, 4))]
        word = _WORDS[int(rng.integers(0, len(_WORDS)))]
        count = sum(f" {code} " in line for line in lines)
        hits = sum(f'"GET /{word} ' in line for line in lines)
        ips = len({line.split()[0] for line in lines})
        prompt = (
            f"access.log is a web-server log, one request per line (status code after the quoted "
            f"request). Write report.txt with exactly three lines: the number of requests with "
            f"status {code}, the number of requests for the path /{word}, and the number of "
            f"distinct client IP addresses (first field)."
        )
        plan = [
            f"{{ awk '$7 == {code}' access.log | wc -l; grep -c '\"GET /{word} ' access.log; "
            "cut -d' ' -f1 access.log | sort -u | wc -l; } > report.txt"
        ]
        return (
            prompt,
            {"access.log": "\n".join(lines) + "\n"},
            {"files": {"report.txt": f"{count}\n{hits}\n{ips}\n"}},
            plan,
        )

    @staticmethod
    def _script(rng: np.random.Generator) -> tuple[str, dict[str, str], dict[str, Any], list[str]]:
        kind = int(rng.integers(0, 3))
        inputs = [int(x) for x in rng.integers(1, 60, size=3)]
        if kind == 0:
            what = "prints the sum of the integers from 1 to N"
            body = "echo $(( $1 * ($1 + 1) / 2 ))"
            outs = [str(n * (n + 1) // 2) for n in inputs]
        elif kind == 1:
            what = "prints the numbers from 1 to N that are divisible by 3 or 5, one per line"
            body = 'for i in $(seq 1 "$1"); do if [ $((i % 3)) -eq 0 ] || [ $((i % 5)) -eq 0 ]; then echo $i; fi; done'
            outs = ["\n".join(str(i) for i in range(1, n + 1) if i % 3 == 0 or i % 5 == 0) for n in inputs]
        else:
            what = "prints N written in binary (no leading zeros)"
            body = 'n=$1; s=""; while [ $n -gt 0 ]; do s=$((n % 2))$s; n=$((n / 2)); done; echo $s'
            outs = [format(n, "b") for n in inputs]
        name = f"{_WORDS[int(rng.integers(0, len(_WORDS)))]}.sh"
        prompt = f"Write an executable bash script {name} that takes one positive integer N as its argument and {what}."
        script = f"#!/bin/bash\n{body}\n"
        plan = [f"cat > {name} <<'EOF'\n{script}EOF\nchmod +x {name}"]
        runs = [[f"./{name} {n}", out] for n, out in zip(inputs, outs, strict=True)]
        return prompt, {"README": "Put your script next to this file.\n"}, {"runs": runs}, plan

    @staticmethod
    def _data(rng: np.random.Generator) -> tuple[str, dict[str, str], dict[str, Any], list[str]]:
        regions = sorted(
            {_WORDS[int(i)] for i in rng.choice(len(_WORDS), size=int(rng.integers(3, 6)), replace=False)}
        )
        rows, totals = [], dict.fromkeys(regions, 0)
        for _ in range(int(rng.integers(10, 40))):
            region = regions[int(rng.integers(0, len(regions)))]
            amount = int(rng.integers(1, 1000))
            totals[region] += amount
            rows.append(f"{region},item{int(rng.integers(0, 20))},{amount}")
        csv = "region,product,amount\n" + "\n".join(rows) + "\n"
        want = "region,total\n" + "".join(f"{r},{t}\n" for r, t in sorted(totals.items()))
        prompt = (
            "sales.csv has a header row and the columns region,product,amount. Write totals.csv with "
            "the header region,total and one row per region giving the sum of its amounts, sorted "
            "by region name."
        )
        plan = [
            "{ echo region,total; tail -n +2 sales.csv | awk -F, '{t[$1]+=$3} END {for (r in t) print r\",\"t[r]}' "
            "| LC_ALL=C sort; } > totals.csv"
        ]
        return prompt, {"sales.csv": csv}, {"files": {"totals.csv": want}}, plan

    @staticmethod
    def _replace(rng: np.random.Generator) -> tuple[str, dict[str, str], dict[str, Any], list[str]]:
        old, new = (str(w) for w in rng.choice(_WORDS, size=2, replace=False))
        files, want = {}, {}
        for i in range(int(rng.integers(3, 6))):
            ext = "md" if i < 2 else ("md" if rng.random() < 0.5 else "txt")
            name = f"docs/{'sub/' if i % 2 else ''}page{i}.{ext}"
            words = [str(w) for w in rng.choice(_WORDS, size=8)]
            if i < 2:
                words[int(rng.integers(0, 8))] = old
            text = " ".join(words) + "\n"
            files[name] = text
            want[name] = (
                " ".join(new if w == old else w for w in text.split()) + "\n" if ext == "md" else text
            )
        prompt = (
            f"Under docs/ (subfolders included), replace every occurrence of the word {old} with {new} "
            f"in the .md files only. Leave every other file unchanged."
        )
        plan = [f"find docs -name '*.md' -exec sed -i 's/\\b{old}\\b/{new}/g' {{}} +"]
        return prompt, files, {"files": want}, plan

    @staticmethod
    def _git(rng: np.random.Generator) -> tuple[str, dict[str, str], dict[str, Any], list[str]]:
        message = f"Initial import of {_WORDS[int(rng.integers(0, len(_WORDS)))]}"
        files = {f"project/{w}.txt": f"{w}\n" for w in sorted({str(x) for x in rng.choice(_WORDS, size=3)})}
        prompt = (
            f"Make project/ a git repository and commit all of its files in one commit with the "
            f"message {json.dumps(message)} (any author name and e-mail)."
        )
        plan = [
            "cd project && git init -q && git add -A && "
            f"git -c user.name=a -c user.email=a@b commit -qm {json.dumps(message)}"
        ]
        runs = [
            ["git -C project log --format=%s", message],
            ["git -C project status --porcelain | wc -l", "0"],
            ["git -C project ls-files | sort", "\n".join(sorted(p.split("/", 1)[1] for p in files))],
        ]
        return prompt, files, {"runs": runs}, plan
