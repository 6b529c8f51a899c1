"""PythonMath: number problems with large integers or long loops, solved with the python tool.

``assay/PythonMath-v0``, procedural and seed-deterministic. Kinds (``kinds=`` selects):

- ``digit_sum_power``: the digit sum of ``a**b`` (thousands of digits);
- ``fibonacci_mod``: the last nine digits of the n-th Fibonacci number, n up to 300,000;
- ``prime_count``: how many primes lie below N, N up to 1,000,000;
- ``factorial_digit_sum``: the digit sum of ``n!``, n up to 1,000.

The reference answers are computed here, in trusted code; the policy runs its own code through
the ``python`` tool (a sandbox from `assay.sandboxes`; state persists within the episode). The
gold episode defines a helper in one call and uses it in the next. Checked with `NumberMatch` on
the ``<answer>`` tag outside reasoning blocks (``<think>...</think>`` is never the answer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from assay.envs.tools.env import ToolEnv
from assay.envs.tools.python import PythonTool
from assay.verifiers.base import Task
from assay.verifiers.extract import after_reasoning, tagged
from assay.verifiers.match import NumberMatch

__all__ = ["KINDS", "PythonMathEnv"]

KINDS = ("digit_sum_power", "fibonacci_mod", "prime_count", "factorial_digit_sum")
_ANSWER = " Use the python tool. Reply with just the number in <answer></answer> tags."

_DIGIT_SUM = "def digit_sum(n):\n    return sum(int(d) for d in str(n))"
_FIB = (
    "def fib_mod(n, m):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, (a + b) % m\n    return a"
)
_SIEVE = (
    "def count_primes_below(n):\n"
    "    sieve = bytearray([1]) * n\n"
    "    sieve[0:2] = b'\\x00\\x00'\n"
    "    for i in range(2, int(n ** 0.5) + 1):\n"
    "        if sieve[i]:\n"
    "            sieve[i * i :: i] = bytes(len(range(i * i, n, i)))\n"
    "    return sum(sieve)"
)


def _fib_mod(n: int, m: int) -> int:
    """F(n) mod m by fast doubling (F(0) = 0, F(1) = 1)."""

    def pair(k: int) -> tuple[int, int]:
        if k == 0:
            return 0, 1
        a, b = pair(k >> 1)
        c = a * ((2 * b - a) % m) % m
        d = (a * a + b * b) % m
        return (d, (c + d) % m) if k & 1 else (c, d)

    return pair(n)[0]


def _prime_count(n: int) -> int:
    sieve = np.ones(n, dtype=bool)
    sieve[:2] = False
    for i in range(2, math.isqrt(n - 1) + 1):
        if sieve[i]:
            sieve[i * i :: i] = False
    return int(sieve.sum())


def _digit_sum(n: int) -> int:
    return sum(int(d) for d in str(n))


class PythonMathEnv(ToolEnv):
    """Number problems too long for mental arithmetic, with a sandboxed python tool.

    Args:
        kinds: Which problem kinds to draw (default: all, in turn by index).
        sandbox: Where the python tool runs: ``"local"`` (default), ``"docker"``, ``"auto"`` or a
            `Sandbox` instance.
        python_timeout_s: Budget of one python call (the interpreter lives for the episode).
        call_format: ``"json"`` or ``"tag"`` (see `ToolEnv`).
        max_turns: Actions per episode.
        **kwargs: Passed on to `ToolEnv`.
    """

    def __init__(
        self,
        kinds: Sequence[str] = KINDS,
        *,
        sandbox: Any = "local",
        python_timeout_s: float = 10.0,
        call_format: str = "json",
        max_turns: int = 6,
        **kwargs: Any,
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {list(kinds)}")
        self.kinds = tuple(kinds)
        self.python = PythonTool(sandbox, timeout_s=python_timeout_s)
        super().__init__(
            [self.python.tool()],
            NumberMatch(extract=after_reasoning(tagged("answer"))),
            call_format=call_format,
            max_turns=max_turns,
            **kwargs,
        )
        self._prefix = "python_math/" + "-".join(self.kinds) if self.kinds != KINDS else "python_math"

    def task_at(self, index: int) -> Task:
        kind = self.kinds[index % len(self.kinds)]
        rng = np.random.default_rng(np.random.SeedSequence([KINDS.index(kind), index]))
        if kind == "digit_sum_power":
            a = int(rng.integers(2, 100))
            b = int(rng.integers(200, int(3_900 / math.log10(a)) + 1))
            prompt = f"What is the sum of the decimal digits of {a}^{b}?"
            answer, helper, use = _digit_sum(a**b), _DIGIT_SUM, f"print(digit_sum({a} ** {b}))"
        elif kind == "fibonacci_mod":
            n = int(rng.integers(10_000, 300_001))
            prompt = (
                f"With F(0) = 0 and F(1) = 1, what number do the last nine digits of the Fibonacci "
                f"number F({n}) form (F({n}) mod 10^9)?"
            )
            answer, helper, use = _fib_mod(n, 10**9), _FIB, f"print(fib_mod({n}, 10 ** 9))"
        elif kind == "prime_count":
            n = int(rng.integers(100_000, 1_000_001))
            prompt = f"How many prime numbers are less than {n}?"
            answer, helper, use = _prime_count(n), _SIEVE, f"print(count_primes_below({n}))"
        else:
            n = int(rng.integers(100, 1_001))
            prompt = f"What is the sum of the decimal digits of {n}! ({n} factorial)?"
            answer, helper = _digit_sum(math.factorial(n)), f"import math\n\n{_DIGIT_SUM}"
            use = f"print(digit_sum(math.factorial({n})))"
        plan = [[["python", {"code": helper}]], [["python", {"code": use}]]]
        return Task(
            id=f"{self._prefix}/{index}",
            prompt=prompt + _ANSWER,
            answer=str(answer),
            meta={"kind": kind, "gold_plan": plan},
        )
