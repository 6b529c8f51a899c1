"""A restricted parser for math answers (LaTeX and ASCII) and the equivalence checks built on it.

Model text is only ever read by the tokenizer and recursive-descent parser in this package. They
produce a small, closed set of AST nodes (`assay.verifiers.mathparse.nodes`); numbers become exact
`fractions.Fraction` values, and sympy objects are built from those nodes with sympy's
constructors (never ``sympify``, ``parse_expr``, ``eval`` or ``exec``). Every recursion is
bounded and every number is size-checked before it is computed, so an adversarial answer raises
`TooComplex` instead of hanging; the hard wall-clock budget around all of it is enforced by
`assay.verifiers.math_worker`.

Modules: ``latex`` (cleaning, tokens), ``parser`` (tokens to nodes), ``exact`` (rationals and
the polynomial identity test), ``numeric`` (mpmath evaluation at sample points), ``symbolic``
(nodes to sympy, for what the fast paths cannot settle), ``equiv`` (the comparison policy).
"""

from assay.verifiers.mathparse.errors import ParseError, TooComplex

__all__ = ["ParseError", "TooComplex"]
