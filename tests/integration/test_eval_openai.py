"""`assay eval --model http://...`: the URL path, over a real socket to an OpenAI-compatible stub."""

import json
import os
import subprocess
import sys

import pytest

from assay.agents.evaluation import EvalConfig, evaluate, read_log
from assay.agents.evaluation.backends import load_sampler
from assay.testing import OpenAIStub


def reply(req):
    # the prompt is "Compute a + b.\n..." (easy level); answer right on even choices
    expr = req.prompt.split("Compute ", 1)[1].split(".", 1)[0]
    a, op, b = expr.split()
    value = int(a) + int(b) if op == "+" else int(a) - int(b)
    return f"\\boxed{{{value if req.index % 2 == 0 else value + 1}}}"


def test_eval_over_http_discovers_the_model_and_forwards_top_p(tmp_path):
    with OpenAIStub(reply) as stub:
        sampler = load_sampler(stub.url, top_p=0.9)
        config = EvalConfig(
            env="assay/Arithmetic-v0", env_kwargs={"level": "easy"}, n=4, ks=(1, 4), limit=6, top_p=0.9
        )
        summary = evaluate(config, sampler, tmp_path / "r.jsonl")
        bodies = stub.requests
    assert summary.metrics["pass@1"].mean == 0.5
    assert summary.metrics["pass@4"].mean == 1.0
    assert summary.metrics["maj@4"].mean == 0.5  # 2 right vs 2 of the same wrong answer: a tie
    assert {b["model"] for b in bodies} == {"stub"} and {b["top_p"] for b in bodies} == {0.9}
    assert len(read_log(tmp_path / "r.jsonl").samples) == 24


def test_top_p_is_refused_for_local_engines(tmp_path):
    with pytest.raises(ValueError, match="URL models only"):
        load_sampler(str(tmp_path), top_p=0.9)


def test_cli_eval_over_http_then_compare(tmp_path):
    with OpenAIStub(reply) as stub:
        base = [
            sys.executable,
            "-m",
            "assay.cli",
            "eval",
            "--env",
            "assay/Arithmetic-v0",
            "--env-args",
            'level="easy"',
        ]
        base += ["--model", stub.url, "-n", "2", "--k", "1,2", "--limit", "5", "--no-progress", "--no-plots"]
        env = {**os.environ, "OPENAI_API_KEY": ""}
        for name, temp in (("a", "1.0"), ("b", "0.5")):
            out = subprocess.run(
                [*base, "--temperature", temp, "--out", str(tmp_path / f"{name}.jsonl")],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            assert out.returncode == 0, out.stderr
            assert "pass@2" in out.stdout
    summary = json.loads((tmp_path / "a.summary.json").read_text())
    assert summary["metrics"]["pass@1"]["mean"] == 0.5 and summary["num_tasks"] == 5
    cmp = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay.cli",
            "eval",
            "compare",
            str(tmp_path / "a.jsonl"),
            str(tmp_path / "b.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cmp.returncode == 0, cmp.stderr
    assert "a.jsonl" in cmp.stdout and "b.jsonl" in cmp.stdout and "Δ pass@1" in cmp.stdout


def test_best_of_n_under_an_llm_judge_that_never_sees_the_reference(tmp_path):
    from assay.agents.evaluation.backends import judge_selector
    from assay.verifiers.sampler import ScriptedSampler

    def judge_reply(req):  # the judge likes completions that show their work
        return "Shows its work. Score: 9" if "because" in req.prompt else "Bare answer. Score: 2"

    env = __import__("assay").make("assay/Arithmetic-v0", level="easy").unwrapped
    tasks = [env.task_at(i) for i in range(3)]
    replies = {}
    for t in tasks:
        right, wrong = t.answer, str(int(t.answer) + 1)
        # sample 0 is wrong and bare, sample 1 right and reasoned: best@2 must pick sample 1
        replies[t.prompt] = [f"\\boxed{{{wrong}}}", f"because the sum is {right}, \\boxed{{{right}}}"]
    with OpenAIStub(judge_reply) as judge:
        config = EvalConfig(
            env="assay/Arithmetic-v0",
            env_kwargs={"level": "easy"},
            n=2,
            ks=(1, 2),
            limit=3,
            select=f"judge:{judge.url}",
        )
        summary = evaluate(
            config, ScriptedSampler(replies), tmp_path / "r.jsonl", selector=judge_selector(judge.url)
        )
        prompts = [b["prompt"] for b in judge.requests]
    assert summary.metrics["pass@1"].mean == 0.5
    assert summary.metrics["best@2"].mean == 1.0
    scores = [r["select_score"] for r in read_log(tmp_path / "r.jsonl").samples]
    assert scores == [pytest.approx(1 / 9), pytest.approx(8 / 9)] * 3  # (2-1)/9 and (9-1)/9
    assert len(prompts) == 6
    assert all("REFERENCE (may be empty):\n<<<\n\n>>>" in p for p in prompts)  # no answer leaked
