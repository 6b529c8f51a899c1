"""Suites, the combined score, QA-v0 over your own files, data provenance, the hub's fast failure."""

import json
import math
import socket
import time

import pytest

import assay
from assay.agents.evaluation.metrics import mean_ci, weighted_mean_ci
from assay.agents.evaluation.report import RunView, render_report
from assay.agents.evaluation.suite import SuiteError, combine, load_suite, suite_from_envs
from assay.agents.evaluation.summary import summarize
from assay.envs.checker import check_text_env
from assay.envs.dataset import load_records
from assay.envs.provenance import data_provenance
from assay.errors import EnvError


def test_weighted_mean_ci_is_the_weighted_mean_of_group_means_with_their_variances():
    a, b = [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0]
    e = weighted_mean_ci([(2.0, a), (1.0, b)])
    assert e.mean == pytest.approx((2 * 0.75 + 1 / 3) / 3)
    var = (2 / 3) ** 2 * (0.25 / 4) + (1 / 3) ** 2 * ((1 / 3) / 3)
    assert e.high - e.mean == pytest.approx(1.959963984540054 * math.sqrt(var))
    assert e.size == 7


def test_weighted_mean_ci_of_one_group_is_mean_ci_and_bounds_clip():
    xs = [0.0, 1.0, 1.0, 1.0]
    assert weighted_mean_ci([(3.0, xs)]) == pytest.approx(tuple(mean_ci(xs)))
    assert weighted_mean_ci([(1.0, xs)], (0, 1)).high == 1


def test_suite_file_yaml_with_defaults_and_per_env_settings(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: mine\nn: 2\nenvs:\n  - assay/Arithmetic-v0\n"
        "  - {id: assay/GuessNumber-v0, args: {high: 10}, limit: 3, weight: 2}\n"
        "  - assay/Arithmetic-v0\n"
    )
    suite = load_suite(path)
    assert suite.name == "mine" and suite.n == 2
    assert (
        suite.entries[1].args == {"high": 10} and suite.entries[1].limit == 3 and suite.entries[1].weight == 2
    )
    assert suite.labels() == ["assay/Arithmetic-v0", "assay/GuessNumber-v0", "assay/Arithmetic-v0#2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"envs": []}', "at least one env"),
        ('{"envs": [{"id": "a", "colour": 1}]}', "unknown keys"),
        ('{"envs": [{"id": "a", "weight": -1}]}', "weight"),
        ('{"tasks": []}', "'envs' list"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_suite_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(SuiteError, match=message):
        load_suite(path)


def test_repeated_env_ids_make_a_suite():
    suite = suite_from_envs(["assay/A-v0", "assay/B-v0"], {})
    assert [e.id for e in suite.entries] == ["assay/A-v0", "assay/B-v0"]


def _records(correct):
    return [
        {
            "task_index": t,
            "task_id": f"t/{t}",
            "sample_index": 0,
            "verdict": {"status": "correct" if c else "incorrect"},
            "reward": float(c),
            "answer_class": 0,
        }
        for t, c in enumerate(correct)
    ]


def test_combined_row_weights_envs_not_tasks():
    a, b = _records([1, 1, 1, 1]), _records([0, 1])
    combined = combine([(1.0, a, 1, [1], (0.0, 1.0)), (3.0, b, 1, [1], (0.0, 1.0))])
    assert combined["pass@1"].mean == pytest.approx((1.0 + 3 * 0.5) / 4)
    assert combined["reward"].high <= 1.0


def test_reward_ci_is_clipped_to_the_rubric_bounds():
    s = summarize(_records([1, 1, 1, 0]), n=1, ks=[1], reward_bounds=(0.0, 1.0))
    assert s.metrics["reward"].high == 1.0
    assert summarize(_records([1, 1, 1, 0]), n=1, ks=[1]).metrics["reward"].high > 1.0


def test_qa_env_over_a_jsonl_file_with_a_column_mapping_and_math_verifier(tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text(
        "\n".join(json.dumps({"q": f"{i}/4 = ?", "label": f"{i}/4", "k": i}) for i in range(1, 4))
    )
    env = assay.make(
        "assay/QA-v0", data=str(data), prompt="q", answer="label", task_id="k", meta="k", verifier="math"
    )
    task = env.unwrapped.task_at(1)
    assert task.id == "qa/2" and task.prompt == "2/4 = ?" and task.meta == {"k": 2}
    env.reset(options={"task": task})
    assert env.step("\\boxed{\\frac{1}{2}}")[1] == 1.0  # math equivalence, not string equality
    prov = data_provenance(env)
    assert prov["kind"] == "local" and prov["files"][0]["sha256"] and "mine.jsonl" in prov["label"]
    env.close()


def test_qa_env_reads_csv_and_refuses_a_missing_column(tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("question,answer\nWhat is 2+2?,4\nWhat is 3+3?,6\n")
    env = assay.make("assay/QA-v0", data=str(data), verifier="number")
    env.reset(options={"task": env.unwrapped.task_at(1)})
    assert env.step("<answer>6.0</answer>")[1] == 1.0
    env.close()
    with pytest.raises(EnvError, match="lacks the fields"):
        assay.make("assay/QA-v0", data=str(data), answer="label")


def test_qa_env_passes_the_contract_checker_and_says_its_sample_is_not_a_benchmark():
    env = assay.make("assay/QA-v0")
    check_text_env(env)
    prov = data_provenance(env)
    assert prov["kind"] == "sample" and "not a benchmark" in prov["label"]
    env.close()


def test_procedural_and_builtin_envs_say_so():
    assert data_provenance(assay.make("assay/Arithmetic-v0"))["kind"] == "procedural"
    assert data_provenance(assay.make("assay/MultiHopQA-v0"))["kind"] == "builtin"


def test_unreachable_hub_fails_fast_and_says_how_to_provide_the_data(monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(EnvError, match="unreachable") as e:
        load_records("someone/no-such-dataset", split="test")
    assert time.monotonic() - start < 5
    assert "data='path/to/test.jsonl'" in str(e.value) and "HF_HUB_OFFLINE=1" in str(e.value)


def test_report_escapes_model_text_and_shows_provenance():
    recs = _records([1])
    recs[0]["messages"] = [{"role": "assistant", "content": "<img src=x onerror=alert(1)>"}]
    summary = summarize(recs, n=1, ks=[1])
    view = RunView("run", summary, recs, data={"label": "local x.jsonl sha256:abc"})
    page = render_report([view])
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "local x.jsonl sha256:abc" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from the network
