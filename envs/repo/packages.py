"""The packages RepoRepair draws its repositories from, pinned by version and sdist hash.

Each is pure Python, ships its own test suite in its PyPI sdist and needs nothing beyond pytest.
`Package` says where its library code is (the files mutations go into), where its tests are
(the files restored before grading) and which config files pytest reads (restored too).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PACKAGES", "PYTEST_PINS", "Package", "package"]


@dataclass(frozen=True, slots=True)
class Package:
    """One pinned PyPI package and the layout of its sdist.

    Attributes:
        name: The PyPI name (``pip download NAME==VERSION``).
        version: The pinned version.
        sha256: The sdist's SHA-256; a download that differs is refused.
        sources: Library files (paths inside the sdist) that mutations may touch.
        tests: Test files and folders (paths inside the sdist); restored before grading.
        config: Files pytest reads its settings from; restored before grading.
        pythonpath: Folders put on ``sys.path`` so the tests import the library (``src`` layouts).
        excluded: Test files left out: they check the installation (package metadata), which a
            source checkout does not have.
    """

    name: str
    version: str
    sha256: str
    sources: tuple[str, ...]
    tests: tuple[str, ...]
    config: tuple[str, ...] = ()
    pythonpath: tuple[str, ...] = (".",)
    excluded: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``name-version``: the folder the sdist unpacks into, and the prefix of task ids."""
        return f"{self.name}-{self.version}"


PACKAGES: tuple[Package, ...] = (
    Package(
        name="toolz",
        version="1.2.0",
        sha256="9667a038e9d6ecba37995e26cb2f59ec6420b6ad8dd9677de59db9b956b08490",
        sources=("toolz/itertoolz.py", "toolz/functoolz.py", "toolz/dicttoolz.py", "toolz/recipes.py"),
        tests=("toolz/tests", "toolz/sandbox/tests"),
        config=("pyproject.toml", "setup.cfg"),
        excluded=("toolz/tests/test_package.py",),
    ),
    Package(
        name="cachetools",
        version="8.0.3",
        sha256="79245d0d90464e29355f13658cd769e57d98ed06242d3c6fbd71796ca0938ef9",
        sources=("src/cachetools/__init__.py", "src/cachetools/keys.py", "src/cachetools/func.py"),
        tests=("tests",),
        config=("pyproject.toml", "setup.cfg", "tox.ini"),
        pythonpath=("src",),
    ),
    Package(
        name="inflection",
        version="0.5.1",
        sha256="1a29730d366e996aaacffb2f1f1cb9593dc38e2ddd30c91250c6dde09ea9b417",
        sources=("inflection/__init__.py",),
        tests=("test_inflection.py",),
        config=("setup.cfg",),
    ),
    Package(
        name="boltons",
        version="26.2.0",
        sha256="d39cfd15c1a1c3bd4d705c82252fa9edb8e4f5e8cc039f8e39afac7b1b47e92c",
        sources=(
            "boltons/strutils.py",
            "boltons/iterutils.py",
            "boltons/listutils.py",
            "boltons/dictutils.py",
            "boltons/setutils.py",
            "boltons/mathutils.py",
            "boltons/queueutils.py",
        ),
        tests=("tests",),
        config=("pyproject.toml",),
    ),
)

PYTEST_PINS: tuple[str, ...] = (
    "pytest==9.2.0",
    "pluggy==1.7.0",
    "iniconfig==2.3.1",
    "packaging==26.4",
    "pygments==2.21.0",
)
"""What the sandbox's test runner is made of (pure-Python wheels, installed at build time)."""


def package(name: str) -> Package:
    """The `Package` called ``name`` (its PyPI name or its ``name-version`` key)."""
    for p in PACKAGES:
        if name in (p.name, p.key):
            return p
    raise KeyError(f"no RepoRepair package {name!r}; known: {[p.name for p in PACKAGES]}")
