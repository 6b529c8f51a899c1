"""Verifier errors (re-exported from `assay.errors`, where the hierarchy lives)."""

from assay.errors import VerifierError

__all__ = ["VerifierError"]
