import math
from fractions import Fraction

import pytest

from assay.agents.evaluation import (
    best_at_k,
    cluster_answers,
    majority_at_k,
    majority_vote,
    mean_ci,
    pass_at_k,
)


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def test_pass_at_k_matches_the_ratio_of_binomials_exactly_for_small_n():
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), abs=1e-12)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [(10, 3, 1, 0.3), (5, 2, 2, 0.7), (4, 1, 4, 1.0), (4, 0, 4, 0.0), (2, 1, 1, 0.5), (16, 16, 1, 1.0)],
)
def test_pass_at_k_hand_computed_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 500) has 300 digits: a float ratio of binomials would overflow.
    for n, c, k in [(1000, 1, 1), (1000, 10, 100), (1000, 500, 500), (2000, 3, 1999)]:
        got = pass_at_k(n, c, k)
        assert math.isfinite(got)
        assert got == pytest.approx(float(exact_pass_at_k(n, c, k)), rel=1e-9)


def test_pass_at_k_rejects_k_above_n_and_bad_counts():
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="c <= n"):
        pass_at_k(4, 5, 1)


def test_mean_ci_hand_computed():
    e = mean_ci([0.0, 1.0, 1.0, 0.0])
    half = 1.959963984540054 * math.sqrt(1 / 3) / 2  # sample std of 0,1,1,0 is sqrt(1/3)
    assert e.mean == 0.5 and e.size == 4
    assert e.low == pytest.approx(0.5 - half) and e.high == pytest.approx(0.5 + half)


def test_mean_ci_clips_to_bounds_and_handles_degenerate_input():
    assert mean_ci([0.0, 0.0, 1.0], (0, 1)).low == 0.0
    assert mean_ci([0.25]) == (0.25, 0.25, 0.25, 1)
    assert math.isnan(mean_ci([]).mean)


def test_cluster_answers_groups_by_the_equivalence_not_the_string():
    same = lambda a, b: float(Fraction(a)) == float(Fraction(b))  # noqa: E731
    assert cluster_answers(["1/2", "0.5", "3", "2/4", "3.0"], same) == [0, 0, 1, 0, 1]


def test_cluster_answers_compares_with_representatives_and_uses_the_key_shortcut():
    calls = []

    def same(a, b):
        calls.append((a, b))
        return False

    assert cluster_answers(["x", "y", "x", "X"], same, key=str.lower) == [0, 1, 0, 0]
    assert calls == [("x", "y")]  # the repeated "x" and "X" never reach `same`


def test_majority_vote_counts_the_biggest_class_and_splits_ties():
    assert majority_vote([0, 0, 1], [True, True, False]) == 1.0
    assert majority_vote([0, 1, 1], [True, False, False]) == 0.0
    assert majority_vote([0, 1], [True, False]) == 0.5
    assert majority_vote([None, None, 0], [False, False, True]) == 1.0  # no-answer does not vote
    assert majority_vote([None, None], [False, False]) == 0.0


def test_majority_at_k_averages_disjoint_blocks():
    labels = [0, 0, 1, 1, 1, 0]
    correct = [True, True, False, False, False, True]
    assert majority_at_k(labels, correct, 6) == 0.5  # 3 vs 3: a tie
    assert majority_at_k(labels, correct, 3) == 0.5  # block [0,0,1] right, [1,1,0] wrong
    assert majority_at_k(labels, correct, 2) == pytest.approx((1 + 0 + 0.5) / 3)
    assert majority_at_k(labels, correct, 4) == 0.5  # one block [0,0,1,1] (a tie); the rest is dropped


def test_best_at_k_picks_the_top_scored_sample_per_block():
    correct = [False, True, True, False]
    assert best_at_k([0.1, 0.9, 0.2, 0.3], correct, 4) == 1.0
    assert best_at_k([0.9, 0.1, 0.2, 0.3], correct, 2) == 0.0  # [0] wrong, [3] wrong
    assert best_at_k([0.5, 0.5, None, None], correct, 4) == 0.5  # tie between a wrong and a right
    assert best_at_k([None, None, None, None], correct, 4) == 0.5  # nothing scored: a random pick
