import subprocess
import sys
import textwrap

import assay
import assay.envs
import assay.verifiers


def test_subpackages_resolve_inside_assay():
    assert assay.verifiers.__name__ == "assay.verifiers"
    assert assay.envs.Task is assay.verifiers.Task
    assert "envs" not in sys.modules
    assert "verifiers" not in sys.modules or sys.modules["verifiers"].__name__ != "assay.verifiers"


def test_import_assay_has_no_side_effects():
    """No output, no global RNG seeding, no sockets, no heavy imports."""
    code = textwrap.dedent(
        """
        import random, socket, sys
        import numpy as np
        r0, n0 = random.getstate(), np.random.get_state()[1].copy()
        def no_net(*a, **k):
            raise AssertionError("network used at import")
        socket.socket.connect = no_net
        socket.create_connection = no_net
        import assay
        assert random.getstate() == r0, "random reseeded"
        assert (np.random.get_state()[1] == n0).all(), "numpy reseeded"
        heavy = {"torch", "sympy", "transformers", "docker", "ray", "datasets", "vllm"} & set(sys.modules)
        assert not heavy, heavy
        assert "assay/Arithmetic-v0" in assay.list_envs()
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_every_package_dir_is_listed_in_pyproject():
    """A subpackage missing from [tool.setuptools] packages would be absent from the wheel."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    dirs = {v: k for k, v in cfg["package-dir"].items()}
    found = set()
    for top, pkg in dirs.items():
        for init in (root / top).rglob("__init__.py"):
            rel = init.parent.relative_to(root / top).parts
            found.add(".".join((pkg, *rel)))
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"
