"""MathGen: sympy-computed answers, determinism, levels, and the form checks."""

import pytest

from assay.envs.math.mathgen import FAMILIES, LEVELS, MathGenEnv
from assay.verifiers.base import Status


@pytest.mark.parametrize("level", sorted(LEVELS))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_gold_answers_verify(level, family):
    env = MathGenEnv(level, families=[family])
    for i in range(4):
        task = env.task_at(i)
        assert task.meta["family"] == family
        verdict = env.verifier(env.gold(task), task)
        assert verdict.status is Status.CORRECT, (task.prompt, task.answer, verdict)


def test_tasks_are_a_function_of_the_index():
    a, b = MathGenEnv("hard"), MathGenEnv("hard")
    assert [a.task_at(i) for i in range(10)] == [b.task_at(i) for i in range(10)]
    assert a.task_at(3) != MathGenEnv("easy").task_at(3)
    assert len({a.task_at(i).prompt for i in range(30)}) == 30


def test_all_families_are_drawn():
    env = MathGenEnv()
    assert {env.task_at(i).meta["family"] for i in range(200)} == set(FAMILIES)


def test_linear_answer_is_the_solution():
    env = MathGenEnv("easy", families=["linear"])
    task = env.task_at(0)
    assert env.verifier(f"x = \\boxed{{{task.answer}}}", task).correct
    assert not env.verifier("\\boxed{123456}", task).correct


def test_another_correct_form_of_a_derivative_is_accepted():
    env = MathGenEnv("easy", families=["derivative"])
    for i in range(20):
        task = env.task_at(i)
        if "sin" in task.prompt:  # d/dx x^k sin x
            k = int(task.prompt.split("x^{")[1].split("}")[0])
            other = f"x^{{{k - 1}}} ({k} \\sin x + x \\cos x)"
            assert env.verifier(f"\\boxed{{{other}}}", task).correct, (task.answer, other)
            return
    pytest.fail("no x^k sin x task among the first 20")


def test_copying_the_product_is_not_an_expansion():
    env = MathGenEnv(families=["expand"])
    task = env.task_at(0)
    product = task.prompt.split("$")[1]
    verdict = env.verifier(f"\\boxed{{{product}}}", task)
    assert verdict.status is Status.INCORRECT and "not expanded" in verdict.reason
    assert env.verifier(env.gold(task), task).correct


def test_the_expanded_polynomial_is_not_a_factorisation():
    env = MathGenEnv(families=["factor"])
    task = env.task_at(0)
    poly = task.prompt.split("$")[1]
    verdict = env.verifier(f"\\boxed{{{poly}}}", task)
    assert verdict.status is Status.INCORRECT and "not factored" in verdict.reason


def test_irrational_roots_accept_plus_minus():
    env = MathGenEnv("hard", families=["quadratic"])
    task = env.task_at(0)
    roots = task.answer.split(", ")
    assert len(roots) == 2 and "sqrt" in task.answer
    assert env.verifier(f"\\boxed{{{roots[1]}, {roots[0]}}}", task).correct
    assert env.verifier(f"\\boxed{{{roots[0]}}}", task).status is Status.INCORRECT


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"level": "extreme"}, "level"), ({"families": ["poetry"]}, "families")]
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MathGenEnv(**kwargs)
