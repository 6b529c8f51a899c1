"""The math verifier: answer extraction, a restricted parser and the equivalence policy.

    >>> from assay.verifiers.math import MathVerifier, is_equiv

Modules, in the order a verification goes through them: ``extract`` (the final answer out of
model text), ``latex`` (cleaning, tokens), ``parser`` (tokens to ``nodes``), ``equiv`` (the
comparison policy) over ``exact`` (rationals, the polynomial identity test), ``numeric`` (mpmath
at sample points), ``sets`` (intervals and set operations) and ``symbolic`` (sympy, built from
nodes with its constructors: never ``sympify``, ``parse_expr``, ``eval`` or ``exec``); ``worker``
runs all of it in a worker process under a hard wall-clock budget, and ``verifier`` holds
`MathVerifier`, its cache and `is_equiv`.

Model text is only ever read by the tokenizer and recursive-descent parser here. Every recursion
is bounded and every number size-checked before it is computed, so an adversarial answer raises
`TooComplex` instead of hanging.
"""

from assay.verifiers.math.errors import ParseError, TooComplex
from assay.verifiers.math.extract import extract_answer
from assay.verifiers.math.verifier import MathVerifier, clear_cache, is_equiv, reference_answer

__all__ = [
    "MathVerifier",
    "ParseError",
    "TooComplex",
    "clear_cache",
    "extract_answer",
    "is_equiv",
    "reference_answer",
]
