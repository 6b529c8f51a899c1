"""Plain data across the sandbox boundary: encode, decode, compare, stdout tokens."""

import collections
import enum
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.verifiers.code.values import (
    Tolerance,
    ValueRejected,
    compare_tokens,
    decode,
    dumps,
    encode,
    loads,
    same,
)

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.tuples(kids, kids)
        | st.dictionaries(st.integers() | st.text(max_size=5), kids, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=4)
    ),
    max_leaves=20,
)


@given(plain)
def test_round_trip_gives_the_same_plain_value(value):
    back = loads(dumps(value))
    assert same(value, back)
    assert type(back) is type(value)


def test_big_ints_nonfinite_floats_complex_and_sets_cross():
    for v in (10**5000, -(10**5000), math.inf, -math.inf, 1 + 2j, {1, 2}, b"\x00\xff"):
        assert same(v, loads(dumps(v)))
    assert math.isnan(loads(dumps(math.nan)))


def test_subclasses_cross_as_their_base_value_without_calling_their_methods():
    class Liar(int):
        def __eq__(self, other):
            return True

        def __int__(self):
            return 999

        def __repr__(self):
            return "999"

        __hash__ = int.__hash__

    class Sneaky(list):
        def __iter__(self):
            return iter([42])

    Point = collections.namedtuple("Point", "x y")

    class Color(enum.IntEnum):
        RED = 1

    assert encode(Liar(3)) == 3
    assert encode(Sneaky([1, 2])) == [1, 2]
    assert encode(Point(1, 2)) == {"$tuple": [1, 2]}
    assert encode(collections.Counter("aab")) == {"$dict": [["a", 2], ["b", 1]]}
    assert encode(Color.RED) == 1


def test_objects_that_are_not_plain_data_are_refused():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    for bad in (AlwaysEqual(), object(), print, (x for x in []), map(str, [1]), type):
        with pytest.raises(ValueRejected, match="cannot send"):
            encode(bad)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueRejected, match="deeper"):
        encode(deep)


def test_decode_refuses_malformed_wire_data():
    for text in (
        '{"a": 1}',
        '{"$set": [[1]]}',
        "NaN",
        '{"$float": "0.5"}',
        '{"$int": "xyz"}',
        "[" * 5000 + "]" * 5000,
        "{",
    ):
        with pytest.raises(ValueRejected):
            loads(text)
    assert loads('{"a": {"$tuple": [1]}}', lenient=True) == {"a": (1,)}


def test_same_is_strict_about_types_and_exact_without_tolerance():
    assert same(5, 5) and same(2, 2.0) and same([1, 2], (1, 2))
    assert not same(1, True) and not same(True, 1) and not same("1", 1) and not same(None, 0)
    assert not same((1, 2), [1, 2])  # an explicit tuple wants a tuple
    assert not same({1: "a"}, {True: "a"})
    assert not same(0.3, 0.1 + 0.2)
    assert same(0.3, 0.1 + 0.2, Tolerance(rel=1e-9))
    assert not same(10**20 + 1, 1e20) and same(10**20, 1e20)


def test_tolerance_never_accepts_nan_inf_or_non_numbers():
    tol = Tolerance(rel=1e-6, abs=1e-6)
    assert same(0.5, 0.5000001, tol)
    for bad in (math.nan, math.inf, "0.5", True, [0.5], None, 0.51):
        assert not same(0.5, bad, tol)
    assert same(math.inf, math.inf, tol) and same(math.nan, math.nan, tol)
    with pytest.raises(ValueError, match="tolerance"):
        Tolerance(rel=math.nan)
    with pytest.raises(ValueError, match="tolerance"):
        Tolerance(abs=5)


@pytest.mark.parametrize(
    ("expected", "actual", "tol", "ok"),
    [
        ("1 2\n3\n", "1 2 3", None, True),
        ("1 2", "1  2  \n\n", None, True),
        ("1 2", "1 2 3", None, False),
        ("yes", "YES", None, False),
        ("0.5", "0.50", None, False),
        ("0.5", "0.50000001", {"rel": 1e-6}, True),
        ("0.5", "5e-1", {"rel": 1e-6}, True),
        ("0.5", "nan", {"rel": 1e-6}, False),
        ("0.5", "inf", {"rel": 1e-6}, False),
        ("0.5", "0x1p-1", {"rel": 1e-6}, False),
        ("0.5", "0_5", {"rel": 1e-6}, False),
        ("0.5", "\u0660.5", {"rel": 1e-6}, False),
        ("1000000000", "1000000001.0", {"rel": 1e-6}, False),  # integers compare exactly
        ("1\u00a02", "1\u00a02", None, True),
        ("1 2", "1\u00a02", None, False),  # only ASCII whitespace separates tokens
    ],
)
def test_compare_tokens(expected, actual, tol, ok):
    assert compare_tokens(expected, actual, Tolerance(**tol) if tol else None)[0] is ok


def test_dumps_output_is_json():
    assert json.loads(dumps({"a": [1, 2.5, None]})) == {"$dict": [["a", [1, 2.5, None]]]}
    assert decode(json.loads(dumps({"a": 1}))) == {"a": 1}


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ({0, 1}, {False, True}),
        (frozenset({0, 1}), frozenset({False, True})),
        ({1}, {True}),
        ({(1, 0): "a"}, {(True, False): "a"}),
        ({(0,): 1}, {(False,): 1}),
        ({frozenset({1}): 1}, {frozenset({True}): 1}),
        ([{1, 2}], [{True, 2}]),
        ({"k": {0}}, {"k": {False}}),
        ({1: (1,)}, {True: (1,)}),
    ],
)
def test_types_compare_as_documented_everywhere(expected, actual):
    """Trust item 11: True is not 1 in sets, frozensets and (tuple) dict keys, at any depth."""
    assert not same(expected, actual)
    assert not same(actual, expected)
    assert same(expected, expected) and same(actual, actual)


def test_types_compare_as_documented_after_crossing_the_wire():
    """Trust item 11, end to end through the wire format."""
    assert not same(loads(dumps({0, 1})), loads(dumps({False, True})))
    assert not same(loads(dumps({(1, 2): 0})), loads(dumps({(True, 2): 0})))
    assert same(loads(dumps({(1, 2): {3}})), {(1, 2): {3}})


@pytest.mark.parametrize(
    ("expected", "actual"),
    [(7, 6.5), (10_000_000, 10_000_005.5), (1, 1.0000001), (-3, -3.1), (10**18, 10**18 + 0.5e3)],
)
def test_a_tolerance_never_turns_a_wrong_integer_right(expected, actual):
    """Trust item 12: an expected int compares exactly, whatever tolerance the task declares."""
    tol = Tolerance(rel=0.1, abs=0.9)
    assert not same(expected, actual, tol)
    assert not same([expected], [actual], tol)
    assert same(expected, float(expected), tol) and same(7, 7, tol)
    # the stdin/stdout form agrees: integer tokens compare exactly
    assert compare_tokens(str(expected), repr(actual), tol)[0] is False


@pytest.mark.parametrize(
    ("expected", "actual", "tol"),
    [
        (1.5, 10**400, None),
        (1.5, 10**400, Tolerance(rel=1e-6)),
        (math.inf, 10**400, Tolerance(rel=1e-6)),
        (10**400, 1.5, None),
        (10**400, math.inf, Tolerance(rel=1e-6)),
        (-(10**400), -math.inf, None),
        ([1e308], [10**309], Tolerance(abs=0.5)),
    ],
)
def test_candidate_output_never_makes_the_verifier_raise(expected, actual, tol):
    """Trust item 13: huge ints against floats (and back) are unequal, never an OverflowError."""
    assert same(expected, actual, tol) is False
