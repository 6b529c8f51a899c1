"""The safe arithmetic core: one set of limits and one error type for both grammars."""

from fractions import Fraction

import pytest

from assay.verifiers.arithmetic import (
    MAX_BITS,
    MAX_CHARS,
    MAX_DEPTH,
    DivisionByZero,
    ExpressionError,
    evaluate,
    parse_arithmetic,
)


def _puzzle(text: str):
    return parse_arithmetic(text, unary_minus=True).value


@pytest.mark.parametrize("read", [evaluate, _puzzle], ids=["calculator", "puzzle"])
@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1+" * (MAX_CHARS // 2) + "1", "longer than"),
        ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "nested deeper"),
        ("-" * (MAX_DEPTH + 1) + "1", "nested signs"),
        ("", "empty"),
        ("2 +", "invalid syntax"),
    ],
)
def test_both_grammars_share_the_limits(read, text, why):
    with pytest.raises(ExpressionError, match=why):
        read(text)


@pytest.mark.parametrize("read", [evaluate, _puzzle], ids=["calculator", "puzzle"])
def test_division_by_zero_is_an_expression_error_and_a_zero_division_error(read):
    with pytest.raises(DivisionByZero) as info:
        read("1 / (2 - 2)")
    assert isinstance(info.value, ZeroDivisionError) and isinstance(info.value, ExpressionError)


def test_exact_values_stop_at_max_bits():
    assert evaluate(f"2**{MAX_BITS - 1}") == 2 ** (MAX_BITS - 1)
    with pytest.raises(ExpressionError, match="too large"):
        evaluate(f"2**{MAX_BITS}")
    with pytest.raises(ExpressionError, match="too large"):
        evaluate("factorial(1000)")  # 8,530 bits


def test_signs_within_the_limit_are_read():
    assert evaluate("-" * MAX_DEPTH + "1") == 1
    assert _puzzle("-" * (MAX_DEPTH - 1) + "1") == -1


@pytest.mark.parametrize(
    ("text", "value", "numbers"),
    [
        ("007 x 3", 21, (7, 3)),  # leading zeros as written by hand; x means times
        ("(1 +\n2) X 3", 9, (1, 2, 3)),  # line breaks and capital X
        ("٣ + ٤", 7, (3, 4)),  # any decimal digits
        ("8 ÷ 3 − 1", Fraction(5, 3), (8, 3, 1)),
    ],
)
def test_puzzle_reads_hand_written_numbers(text, value, numbers):
    parsed = parse_arithmetic(text)
    assert parsed.value == value and parsed.numbers == numbers


@pytest.mark.parametrize("text", ["0b11", "0o7", "1_000", "1j", "2**3", "2^3", "7//2", "7 % 2", "+3", "1.5"])
def test_puzzle_refuses_what_python_would_read(text):
    with pytest.raises(ExpressionError):
        parse_arithmetic(text)
