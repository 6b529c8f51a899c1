"""benchmarks/eval.py's verifiers side: the export, and vf-eval's score and requests against assay's.

The vf-eval test needs the verifiers venv (``make bench-venvs``; found at
``$ASSAY_VERIFIERS02_VENV``, default ``/work/venvs/verifiers02``) and skips without it.
"""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

import assay
from assay.agents.evaluation import EvalConfig
from assay.agents.evaluation.episodes import evaluate_episodes
from assay.agents.evaluation.policies import EndpointPolicy
from assay.envs.tools.chat import ToolChat
from assay.testing import GoldAgent, OpenAIStub
from assay.verifiers.chat_client import ChatClient

ROOT = Path(__file__).resolve().parents[2]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("eval_benchmark", ROOT / "benchmarks" / "eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_benchmark"] = module
    spec.loader.exec_module(module)
    return module


def test_export_holds_assay_prompts_tools_and_every_gold_tool_output(tmp_path):
    bench = load_benchmark()
    count = bench.export_multihop(5, tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    env = ToolChat(assay.make(bench.ENV))
    base = env.unwrapped
    try:
        obs, _ = env.reset(options={"task": base.task_at(0)})
        assert data["tools"] == obs["tools"]
        calls = 0
        for t in range(5):
            task = base.task_at(t)
            assert data["tasks"][t] == {"prompt": task.prompt, "answer": task.answer}
            for turn in base.gold_plan(task):
                for name, args in turn:
                    calls += 1
                    recorded = data["outputs"][name + " " + json.dumps(args, sort_keys=True)]
                    assert recorded.startswith("[1] ")  # a search hit list, not an error message
                    assert args["query"] in recorded
        assert 0 < count <= calls
    finally:
        env.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_vf_eval_scores_as_assay_and_sends_the_same_tools(tmp_path):
    bench = load_benchmark()
    reason = bench.vf_unavailable()
    if reason is not None:
        pytest.skip(reason)
    tasks, n = 4, 2
    bench.export_multihop(tasks, tmp_path / "multihop.json")
    shutil.copy(ROOT / "benchmarks" / "vf_multihop_env.py", tmp_path / f"{bench.VF_MODULE}.py")
    env = assay.make(bench.ENV)
    agent = GoldAgent(env, range(tasks), wrong={1})
    env.close()
    with OpenAIStub(agent) as stub:
        config = EvalConfig(env=bench.ENV, model=stub.url, n=n, limit=tasks, temperature=0.0)
        summary = evaluate_episodes(
            config, EndpointPolicy(ChatClient(stub.url, "stub")), tmp_path / "a.jsonl"
        )
        assay_requests = stub.request_count
        _, vf_score, _ = bench.run_vf(stub.url, tasks, n, 2, tmp_path, "--disable-env-server")
        vf_bodies = stub.requests[assay_requests:]
        assay_bodies = stub.requests[:assay_requests]
    assert summary.metrics["pass@1"].mean == pytest.approx(0.75)
    assert vf_score == pytest.approx(0.75)
    assert len(vf_bodies) == len(assay_bodies) == tasks * n * 4  # 3 searches + the answer
    assert {b["model"] for b in vf_bodies} == {"stub"}
    names = [[t["function"]["name"] for t in b["tools"]] for b in vf_bodies]
    assert names == [["search", "remember", "recall", "final_answer"]] * len(vf_bodies)
    assert (
        vf_bodies[0]["tools"][0]["function"]["parameters"]
        == assay_bodies[0]["tools"][0]["function"]["parameters"]
    )
