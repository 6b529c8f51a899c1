"""`assay eval pairwise` (win rates under a PairwiseJudge, both orders) and `assay eval compare`'s
HTML report, against logs written here and a scripted judge on loopback."""

import json
import subprocess
import sys

from assay.agents.evaluation.pairwise import pairwise_win_rate
from assay.agents.evaluation.records import SampleLog
from assay.rewards.judge import PairwiseJudge
from assay.testing import OpenAIStub
from assay.verifiers.sampler import OpenAISampler


def write_log(path, completions):
    with SampleLog.open(path, {"env": "assay/QA-v0", "model": path.stem, "n": 1}) as log:
        log.append(
            {
                "task_index": t,
                "task_id": f"qa/{t}",
                "sample_index": 0,
                "prompt": f"question {t}",
                "completion": c,
                "verdict": {"status": "correct" if "good" in c else "incorrect"},
                "reward": float("good" in c),
                "answer_class": 0,
            }
            for t, c in enumerate(completions)
        )


def fair_judge(req):
    """Prefers the response that says 'good', wherever it sits."""
    text = req.prompt
    good, bad = text.find("good"), text.find("bad")
    if good < 0 or bad < 0:
        return "[[C]]"
    return "[[A]]" if good < bad else "[[B]]"


def test_win_rate_counts_both_orders(tmp_path):
    write_log(tmp_path / "a.jsonl", ["good 0", "good 1", "bad 2", "good 3"])
    write_log(tmp_path / "b.jsonl", ["bad 0", "bad 1", "good 2", "good 3"])
    from assay.agents.evaluation.records import read_log

    a, b = read_log(tmp_path / "a.jsonl").samples, read_log(tmp_path / "b.jsonl").samples
    with OpenAIStub(fair_judge) as stub:
        result = pairwise_win_rate(a, b, PairwiseJudge(OpenAISampler(stub.url, "stub", logprobs=False)))
        assert stub.request_count >= 6  # both orders (identical prompts are asked once)
    assert result.counts == {"a": 2, "b": 1, "tie": 1, "inconsistent": 0, "undecided": 0}
    assert result.win_rate_a.mean == (1 + 1 + 0 + 0.5) / 4


def test_a_position_biased_judge_gives_inconsistent_ties(tmp_path):
    write_log(tmp_path / "a.jsonl", ["good 0", "bad 1"])
    write_log(tmp_path / "b.jsonl", ["bad 0", "good 1"])
    with OpenAIStub("[[A]]") as stub:  # always the first slot
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "assay.cli",
                "eval",
                "pairwise",
                str(tmp_path / "a.jsonl"),
                str(tmp_path / "b.jsonl"),
                "--judge-model",
                f"{stub.url}#stub",
                "--out",
                str(tmp_path / "p.json"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 0, r.stderr
    payload = json.loads((tmp_path / "p.json").read_text())
    assert payload["counts"]["tie"] == 2 and payload["counts"]["inconsistent"] == 2
    assert payload["win_rate_a"]["mean"] == 0.5
    assert "win rate of A" in r.stdout


def test_compare_writes_one_html_report_for_several_runs(tmp_path):
    write_log(tmp_path / "a.jsonl", ["good 0", "bad 1"])
    write_log(tmp_path / "b.jsonl", ["good 0", "good 1"])
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay.cli",
            "eval",
            "compare",
            str(tmp_path / "a.jsonl"),
            str(tmp_path / "b.jsonl"),
            "--report",
            str(tmp_path / "cmp.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "cmp.html").read_text()
    assert page.count("<tr><td>a<br>") == 1 and page.count("<tr><td>b<br>") == 1
    assert 'id="run-filter"' in page and page.count('class="traj"') == 4
