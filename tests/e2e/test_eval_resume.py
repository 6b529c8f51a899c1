"""`assay eval` killed with SIGKILL mid-run, then resumed: no duplicate, no lost sample, and the
printed metrics equal a recomputation from the JSONL alone."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from fractions import Fraction

import pytest

from assay.verifiers.match import parse_number

pytestmark = pytest.mark.e2e

SAMPLER = textwrap.dedent(
    """
    import time
    from assay.verifiers.sampler import Sample

    class Slow:
        '''Honours seeds; answers 0..3 (sometimes written as a fraction); sleeps per call.'''

        def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
            time.sleep(0.05)
            out = []
            for i, p in enumerate(prompts):
                group = []
                for j in range(n):
                    v = (seed // 7 + 3 * i + j * j) % 4
                    text = f"\\\\boxed{{{v}}}" if j % 3 else f"so \\\\boxed{{{2 * v}/2}}"
                    group.append(Sample(text if j != 1 else "I don't know", [1, 2], [-0.5, -1.0]))
                out.append(group)
            return out
    """
)

N, LIMIT = 6, 40


def cli(tmp_path, out):
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "assay.cli",
        "eval",
        "--env",
        "assay/Arithmetic-v0",
        "--env-args",
        'level="easy"',
    ]
    cmd += ["--model", "import:slow_sampler:Slow", "-n", str(N), "--k", "1,2,6", "--limit", str(LIMIT)]
    cmd += ["--batch-size", "2", "--out", str(out), "--no-progress"]
    return cmd, env


def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path):
    (tmp_path / "slow_sampler.py").write_text(SAMPLER)
    out = tmp_path / "run.jsonl"
    cmd, env = cli(tmp_path, out)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") > 1 + 5 * N:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    lines_before = out.read_text().count("\n") - 1
    assert 0 < lines_before < N * LIMIT, "the kill must land mid-run"
    with out.open("ab") as f:  # and a record torn mid-write on top of it
        f.write(b'{"kind": "sample", "task_index": 39, "sample_index": 0, "prom')

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out}" in done.stderr.replace("\n", "")

    records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    records = [r for r in records if r.get("kind") != "meta"]  # the log's provenance lines
    keys = [(r["task_index"], r["sample_index"]) for r in records]
    assert len(keys) == len(set(keys)), "duplicate samples"
    assert sorted(keys) == [(t, j) for t in range(LIMIT) for j in range(N)], "lost samples"

    # Recompute the metrics from the JSONL, independently of assay's metric code.
    by_task = defaultdict(list)
    for r in records:
        by_task[r["task_index"]].append(r)
    pass_k = {k: [] for k in (1, 2, 6)}
    maj6, rewards = [], []
    for rs in by_task.values():
        rs.sort(key=lambda r: r["sample_index"])
        c = sum(r["verdict"]["status"] == "correct" for r in rs)
        for k in pass_k:
            pass_k[k].append(1 - Fraction(math.comb(N - c, k), math.comb(N, k)))
        votes = defaultdict(int)
        right = {}
        for r in rs:
            if r["verdict"]["extracted"] is not None:
                value = parse_number(r["verdict"]["extracted"])
                votes[value] += 1
                right[value] = r["verdict"]["status"] == "correct"
        top = max(votes.values())
        winners = [v for v, count in votes.items() if count == top]
        maj6.append(sum(right[w] for w in winners) / len(winners))
        rewards.append(sum(r["reward"] for r in rs) / N)
    summary = json.loads(out.with_suffix(".summary.json").read_text())["metrics"]
    for k, values in pass_k.items():
        assert summary[f"pass@{k}"]["mean"] == pytest.approx(float(sum(values) / len(values)), abs=1e-12)
    assert summary["maj@6"]["mean"] == pytest.approx(sum(maj6) / len(maj6), abs=1e-12)
    assert summary["reward"]["mean"] == pytest.approx(sum(rewards) / len(rewards), abs=1e-12)
    assert 0 < summary["pass@1"]["mean"] < summary["pass@6"]["mean"] < 1  # a non-trivial run
    assert "pass@1" in done.stdout and "maj@6" in done.stdout  # the printed table
    assert out.with_suffix(".pass_at_k.png").stat().st_size > 0
