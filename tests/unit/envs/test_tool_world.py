"""The shipped world data: regenerated identically, answers follow from the facts, gold searches hit."""

import json

import pytest

from assay.envs.tools.multihop import MultiHopQAEnv
from assay.envs.tools.search import Corpus
from assay.envs.tools.world import CORPUS_FILE, DATA_DIR, MINERALS_FILE, QUESTIONS_FILE, build_world, write


def test_shipped_files_equal_a_fresh_generation(tmp_path):
    write(tmp_path)
    for name in (CORPUS_FILE, QUESTIONS_FILE, MINERALS_FILE):
        assert (tmp_path / name).read_text() == (DATA_DIR / name).read_text(), name


def test_every_name_token_is_unique():
    world = build_world()
    tokens = [
        w for name in (*world.people, *world.cities, *world.countries, *world.rivers) for w in name.split()
    ]
    tokens += [name.split()[0] for name in world.companies]
    assert len(tokens) == len(set(tokens))


def _docs():
    return {
        row["id"]: row["text"] for row in map(json.loads, (DATA_DIR / CORPUS_FILE).read_text().splitlines())
    }


def _questions():
    return [json.loads(line) for line in (DATA_DIR / QUESTIONS_FILE).read_text().splitlines()]


def test_each_answer_is_stated_in_the_last_gold_document_and_each_hop_names_the_next():
    docs = _docs()
    questions = _questions()
    assert len(questions) == 120 and {len(q["docs"]) for q in questions} == {2, 3, 4}
    for q in questions:
        texts = [docs[d] for d in q["docs"]]
        assert q["queries"][0] in q["question"]
        for text, next_query in zip(texts, q["queries"][1:], strict=False):
            assert next_query in text, (q["id"], next_query)
        assert q["answer"] in texts[-1], q["id"]


def test_the_answers_follow_from_the_facts():
    w = build_world()
    by_template = {}
    for q in _questions():
        by_template.setdefault(q["template"], []).append(q)
    for q in by_template["founder_birth_country"]:
        company = q["queries"][0]
        assert q["answer"] == w.cities[w.people[w.companies[company]["founder"]]["born_in"]]["country"]
    for q in by_template["employer_founder"]:
        assert q["answer"] == w.companies[w.people[q["queries"][0]]["employer"]]["founder"]
    for q in by_template["founder_birth_capital"]:
        founder = w.companies[q["queries"][0]]["founder"]
        assert q["answer"] == w.countries[w.cities[w.people[founder]["born_in"]]["country"]]["capital"]


def test_each_gold_search_finds_the_document_it_needs():
    corpus = Corpus.from_jsonl(DATA_DIR / CORPUS_FILE)
    for q in _questions():
        for query, doc in zip(q["queries"], q["docs"], strict=True):
            assert doc in [d.id for d, _ in corpus.search(query, 3)], (q["id"], query)


@pytest.mark.parametrize("call_format", ["json", "tag"])
def test_multihop_gold_episodes_read_the_needed_documents(call_format):
    env = MultiHopQAEnv(call_format=call_format)
    docs = _docs()
    for index in range(0, env.num_tasks, 7):
        env.reset(options={"index": index})
        task = env.current_task()
        seen = []
        for action in env.gold_actions(task):
            *_, reward, terminated, truncated, info = env.step(action)
            seen += [r["content"] for r in info["tool_results"]]
        assert reward == 1.0 and terminated
        for doc_id, content in zip(task.meta["docs"], seen, strict=True):
            assert docs[doc_id] in content
    env.close()


def test_shipped_files_match_the_package_data_patterns():
    """setuptools ships only files beside a module that match [tool.setuptools.package-data]."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    for name in (CORPUS_FILE, QUESTIONS_FILE, MINERALS_FILE):
        assert (DATA_DIR / name).parent == root / "envs" / "tools"
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
