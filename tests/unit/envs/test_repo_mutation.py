"""Typed AST mutations: each operator is offered where it applies, edits parse as meant, and revert."""

import ast
import dataclasses
import random

import pytest

from assay.envs.repo.mutation import OPERATORS, apply_mutations, find_mutations, revert_mutations

SOURCE = '''"""A module."""


def clamp(x, lo, hi):
    """Docstring: not code."""
    if x < lo:
        return lo
    elif x > hi:
        return hi
    else:
        y = x + 0  # a comment stays
    if not lo and hi:
        return max(lo, hi)
    return y if True else x - 1


class Box:
    def size(self, items):
        n = 0
        for item in items:
            n += 1
            if n >= 10:
                break
        return n
'''


def test_every_operator_is_offered():
    found = {m.op for m in find_mutations("m.py", SOURCE)}
    assert found == set(OPERATORS)


def test_each_mutation_changes_the_tree_and_keeps_the_rest_of_the_file():
    for m in find_mutations("m.py", SOURCE):
        mutated = apply_mutations(SOURCE, [m])
        assert ast.dump(ast.parse(mutated)) != ast.dump(ast.parse(SOURCE)), m
        assert "# a comment stays" in mutated or m.op == "dropped_branch"
        assert revert_mutations(mutated, [m], SOURCE) == SOURCE


def test_methods_are_named_by_qualname():
    assert "Box.size" in {m.function for m in find_mutations("m.py", SOURCE)}


def test_the_docstring_is_never_mutated():
    for m in find_mutations("m.py", SOURCE):
        assert "Docstring" not in m.before


def test_several_mutations_in_one_file_apply_and_revert_together():
    ms = find_mutations("m.py", SOURCE)
    a = next(m for m in ms if m.op == "comparison_swap" and m.line == 6)
    b = next(m for m in ms if m.op == "off_by_one" and m.function == "Box.size")
    mutated = apply_mutations(SOURCE, [a, b])
    assert "x <= lo" in mutated and "n = 1" in mutated
    assert revert_mutations(mutated, [b, a], SOURCE) == SOURCE


def test_a_sample_is_deterministic_per_seed_and_dealt_across_operators():
    one = find_mutations("m.py", SOURCE, rng=random.Random(3), limit=6)
    two = find_mutations("m.py", SOURCE, rng=random.Random(3), limit=6)
    assert one == two
    assert len({m.op for m in one}) == 6


def test_a_mismatched_span_is_refused():
    m = find_mutations("m.py", SOURCE)[0]
    with pytest.raises(ValueError, match="expected"):
        apply_mutations(SOURCE, [dataclasses.replace(m, before="something else")])
