"""Environment errors (re-exported from `assay.errors`, where the hierarchy lives)."""

from assay.errors import ContractError, EnvError, UnknownTask

__all__ = ["ContractError", "EnvError", "UnknownTask"]
