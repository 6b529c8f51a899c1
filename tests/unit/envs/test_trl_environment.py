"""`to_trl_environment`: the class TRL's GRPOTrainer sees (its contract read from TRL's source)."""

from __future__ import annotations

import inspect

import pytest

from assay.envs.trl_environment import TRLEnvironment, to_trl_environment


def _tools(env):
    """What GRPOTrainer exposes as tools: public functions of the class but reset/get_reward."""
    return {
        name
        for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
        if name not in ("reset", "get_reward") and not name.startswith("_")
    }


def test_single_turn_env_has_no_tools_and_no_get_reward():
    factory = to_trl_environment("assay/Arithmetic-v0")
    env = factory()
    assert isinstance(env, TRLEnvironment) and factory.answer == "text"
    assert _tools(env) == set() and not hasattr(env, "get_reward")
    assert factory.reward_funcs == [factory.reward]


def test_tool_env_methods_carry_the_tools_schemas_for_transformers():
    get_json_schema = pytest.importorskip("transformers.utils").get_json_schema
    factory = to_trl_environment("assay/Almanac-v0")
    env = factory()
    assert factory.answer == "tool" and factory.reward_funcs == []
    assert _tools(env) == {t.name for t in env.env.tool_list}
    for tool in env.env.tool_list:
        schema = get_json_schema(getattr(env, tool.name))["function"]
        assert schema["name"] == tool.name
        assert schema["description"] == tool.description.strip()
        assert schema["parameters"]["required"] == tool.parameters.get("required", [])
        for name, prop in tool.parameters.get("properties", {}).items():
            got = schema["parameters"]["properties"][name]
            assert got["type"] == prop["type"], (tool.name, name)
            assert got["description"] == " ".join(str(prop.get("description") or name).split())


def test_reset_pins_the_rows_task_and_does_not_double_a_prompt_already_there():
    factory = to_trl_environment("assay/Arithmetic-v0")
    env, data = factory(), factory.dataset(3)
    inner = env.env
    for i, row in enumerate(data):
        assert env.reset(**row) == inner.task_at(i).prompt
        assert inner.current_task().id == row["task_id"] == inner.task_at(i).id
    filled = {
        "prompt": [{"role": "user", "content": inner.task_at(1).prompt}],
        "task_id": inner.task_at(1).id,
    }
    assert env.reset(**filled) is None and inner.current_task().id == inner.task_at(1).id
    assert env.reset(prompt=[{"role": "user", "content": ""}], seed=7) == env.reset(seed=7)


def test_text_answer_is_scored_by_the_env_through_trls_environments_keyword():
    factory = to_trl_environment("assay/Arithmetic-v0")
    envs = [factory(), factory()]
    for env, row in zip(envs, factory.dataset(2), strict=True):
        env.reset(**row)
    gold = envs[0].env.gold(envs[0].env.current_task())
    completions = [[{"role": "assistant", "content": gold}], [{"role": "assistant", "content": "no idea"}]]
    assert factory.reward(["", ""], completions, environments=envs) == [1.0, 0.0]
    assert envs[0].verdict.status.value == "correct"
    assert factory.reward(["", ""], completions, environments=envs) == [1.0, 0.0]  # scored once
    with pytest.raises(ValueError, match="environment_factory"):
        factory.reward([""], completions[:1])


def test_tool_calls_step_the_env_and_get_reward_scores_final_answer():
    factory = to_trl_environment("assay/Almanac-v0")
    env = factory()
    row = factory.dataset(1)[0]
    prompt = env.reset(**row)
    task = env.env.current_task()
    assert task.prompt in prompt
    gold_call = env.env.gold_actions(task)[0]
    assert '"days_between"' in gold_call  # task 0 needs days_between(start, end)
    result = env.days_between(start="2019-02-13", end="2126-03-01")
    assert result == task.answer
    assert env.final_answer(answer=task.answer) == "answer received; the episode is over"
    assert env.get_reward() == 1.0
    assert env.days_between(start="2019-02-13", end="2126-03-01").startswith("error: the episode is over")
    env.reset(**row)
    assert env.get_reward() == 0.0  # no final_answer: the rubric's NO_ANSWER reward
    assert env.verdict.status.value == "no_answer"


def test_bad_tool_arguments_are_the_models_data_not_a_crash():
    factory = to_trl_environment("assay/Almanac-v0")
    env = factory()
    env.reset(**factory.dataset(1)[0])
    assert env.weekday(date=17).startswith("error")  # schema violation comes back as text
    assert env.final_answer(answer="wrong") and env.get_reward() == 0.0


def test_answer_tool_needs_a_final_answer_tool():
    with pytest.raises(ValueError, match="final_answer"):
        to_trl_environment("assay/Arithmetic-v0", answer="tool")


def test_dataset_rows_carry_the_system_prompt_and_an_empty_user_turn():
    factory = to_trl_environment("assay/Almanac-v0")
    data = factory.dataset(2)
    assert data.column_names == ["prompt", "task_index", "task_id"]
    assert data[0]["prompt"][-1] == {"role": "user", "content": ""}
    with pytest.raises(ValueError, match="procedural"):
        to_trl_environment("assay/Arithmetic-v0").dataset()
