"""assay: Gymnasium text environments with verifiable rewards, for RL on language models.

``import assay`` registers the ``assay/*`` envs with Gymnasium and does nothing else: no
network, no printing, no global RNG seeding, no heavy imports.
"""

from importlib.metadata import PackageNotFoundError, version

from assay.errors import AssayError, ContractError, EnvError, UnknownTask, VerifierError
from assay.registry import describe, group_seeds, list_envs, make, register

try:
    __version__ = version("assay")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

import assay.envs  # noqa: F401 - registers the built-in envs
from assay.envs.vector import make_vec

__all__ = [
    "AssayError",
    "ContractError",
    "EnvError",
    "UnknownTask",
    "VerifierError",
    "__version__",
    "describe",
    "group_seeds",
    "list_envs",
    "make",
    "make_vec",
    "register",
]
