"""`DatasetEnv`: one way to give data (``data=`` a JSONL/CSV/parquet file or a hub id, ``columns=``)
for the math and code dataset envs, and the old keywords still working with a DeprecationWarning."""

import json
import os
import warnings

import pytest

from assay.envs.code import HumanEvalEnv, MBPPEnv, load_records
from assay.envs.dataset import DatasetEnv, require
from assay.envs.math.competition import AIMEEnv, MATHEnv
from assay.envs.math.gsm8k import GSM8KEnv
from assay.errors import EnvError

GSM8K_ROWS = [
    {"question": "What is 6 times 7?", "answer": "6 * 7 = 42\n#### 42"},
    {"question": "What is 100 minus 1?", "answer": "#### 99"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def prompts(env):
    return [env.task_at(i).prompt for i in range(env.num_tasks)]


def test_every_dataset_env_is_a_dataset_env():
    for cls in (GSM8KEnv, MATHEnv, AIMEEnv, MBPPEnv, HumanEvalEnv):
        assert issubclass(cls, DatasetEnv)


def test_data_is_a_jsonl_file(tmp_path):
    env = GSM8KEnv(data=write_jsonl(tmp_path / "mine.jsonl", GSM8K_ROWS))
    assert env.num_tasks == 2 and env.data_kind == "local" and env.source == "data_files"
    assert env.task_at(0).answer == "42" and env.task_at(0).meta["source"] == "data_files"
    env.reset(options={"index": 1})
    assert env.step("\\boxed{99}")[1] == 1.0


def test_data_is_a_csv_file(tmp_path):
    pytest.importorskip("datasets")
    path = tmp_path / "mine.csv"
    path.write_text('question,answer\n"What is 6 times 7?","#### 42"\n"What is 2 plus 2?","#### 4"\n')
    env = GSM8KEnv(data=str(path))
    assert env.num_tasks == 2 and [env.task_at(i).answer for i in range(2)] == ["42", "4"]
    assert "What is 2 plus 2?" in env.task_at(1).prompt


def test_data_is_a_parquet_file(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {"problem": ["What is 2+2?", "What is 3+5?"], "answer": ["4", "8"]}
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "aime.parquet"))
    env = AIMEEnv(data=tmp_path / "aime.parquet")  # a PathLike works too
    assert env.num_tasks == 2 and env.task_at(1).answer == "8"


def test_columns_rename_data_columns_to_the_fields_the_env_reads(tmp_path):
    rows = [{"prompt": r["question"], "label": r["answer"], "extra": i} for i, r in enumerate(GSM8K_ROWS)]
    path = write_jsonl(tmp_path / "renamed.jsonl", rows)
    env = GSM8KEnv(data=path, columns={"question": "prompt", "answer": "label"})
    reference = GSM8KEnv(data=write_jsonl(tmp_path / "plain.jsonl", GSM8K_ROWS))
    assert prompts(env) == prompts(reference)
    assert env.records[0] == {
        "question": GSM8K_ROWS[0]["question"],
        "answer": GSM8K_ROWS[0]["answer"],
        "extra": 0,
    }
    with pytest.raises(EnvError, match="lacks the fields"):
        GSM8KEnv(data=path).task_at(0)  # without columns= the schema is wrong


def test_columns_swap_and_missing_columns(tmp_path):
    path = write_jsonl(tmp_path / "swapped.jsonl", [{"question": "#### 5", "answer": "What is 5?"}])
    env = GSM8KEnv(data=path, columns={"question": "answer", "answer": "question"})
    assert env.task_at(0).answer == "5" and "What is 5?" in env.task_at(0).prompt
    with pytest.raises(EnvError, match="no column"):
        GSM8KEnv(data=path, columns={"question": "text"})


def test_columns_apply_to_the_code_envs_and_the_shipped_sample(tmp_path):
    sample = MBPPEnv(sandbox="local")
    rows = [
        {**{k: v for k, v in r.items() if k != "text"}, "description": r.get("text")} for r in sample.records
    ]
    path = write_jsonl(tmp_path / "mbpp.jsonl", rows)
    renamed = MBPPEnv(data=path, columns={"text": "description"}, sandbox="local")
    assert prompts(renamed) == prompts(sample) and renamed.skipped == sample.skipped
    plain_sample = GSM8KEnv(columns={"problem_text": "question"})
    assert "problem_text" in plain_sample.records[0] and "question" not in plain_sample.records[0]


def test_data_omitted_is_the_shipped_sample():
    env = GSM8KEnv()
    assert env.data_kind == "sample" and env.source == "fixture"
    assert prompts(MBPPEnv(sandbox="local")) == prompts(MBPPEnv(data="sample", sandbox="local"))


def test_a_name_that_is_no_file_is_a_hub_id(monkeypatch):
    import assay.envs.dataset as dataset

    calls = []

    def fake_hub(data, names, split, revision=None):
        calls.append((data, names, split))
        return [{"problem": "What is 1+1?", "answer": "2"}]

    monkeypatch.setattr(dataset, "_read_hub", fake_hub)
    monkeypatch.setattr(dataset, "_cache", {})
    env = AIMEEnv(data="someone/aime_like", split="train")
    assert env.data_kind == "hub" and env.source == "hub" and env.task_at(0).answer == "2"
    MATHEnv(data="EleutherAI/hendrycks_math", columns={"solution": "answer"})  # its own hub id: all configs
    assert calls[0] == ("someone/aime_like", (None,), "train")
    assert calls[1][0] == "EleutherAI/hendrycks_math" and len(calls[1][1]) == 7


def test_old_keywords_still_work_with_a_deprecation_warning(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", GSM8K_ROWS)
    with pytest.warns(DeprecationWarning, match="data_files= is deprecated"):
        old = GSM8KEnv(data_files=path)
    assert prompts(old) == prompts(GSM8KEnv(data=path)) and old.source == "data_files"
    with pytest.warns(DeprecationWarning, match="source= is deprecated"):
        fixture = GSM8KEnv(source="fixture")
    assert prompts(fixture) == prompts(GSM8KEnv()) and fixture.source == "fixture"
    with pytest.warns(DeprecationWarning, match="path= is deprecated"):
        humaneval = HumanEvalEnv(path=HumanEvalEnv(sandbox="local").sample_path(), sandbox="local")
    assert humaneval.num_tasks == 164


def test_new_keywords_do_not_warn(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", GSM8K_ROWS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        GSM8KEnv(data=path, columns={"question": "question"})
        HumanEvalEnv(sandbox="local")


def test_humaneval_reads_a_plain_jsonl_too(tmp_path):
    first = HumanEvalEnv(sandbox="local").problems[0]
    env = HumanEvalEnv(data=write_jsonl(tmp_path / "one.jsonl", [first]), sandbox="local")
    assert env.num_tasks == 1 and env.task_at(0).id == "HumanEval/0"


def test_load_records_rereads_a_changed_file(tmp_path):
    path = tmp_path / "grow.jsonl"
    write_jsonl(path, GSM8K_ROWS[:1])
    assert len(load_records(str(path))) == 1
    write_jsonl(path, GSM8K_ROWS)
    os.utime(path, ns=(1, 1))  # a new stamp even on a coarse clock
    assert len(load_records(str(path))) == 2


def test_unknown_file_kinds_and_mixed_kinds_are_env_errors(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.csv").write_text("x\n1\n")
    with pytest.raises(EnvError, match="must all be one of"):
        load_records([str(tmp_path / "a.jsonl"), str(tmp_path / "b.csv")])
    (tmp_path / "c.txt").write_text("hello")
    with pytest.raises(EnvError, match="must all be one of"):
        load_records(str(tmp_path / "c.txt"))


def test_require_names_the_missing_fields():
    with pytest.raises(EnvError, match=r"lacks the fields \['answer'\]"):
        require({"question": "q"}, "question", "answer")
