"""Env packages: ``assay.envs`` entry points load lazily, once; a broken one is a warning."""

import importlib.metadata
import sys
import types

import gymnasium as gym
import pytest

import assay
from assay import registry
from assay.cli.scaffold import names, scaffold_env_package


class FakeEntryPoint:
    def __init__(self, name, value, target):
        self.name, self.value, self._target = name, value, target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def plugins(monkeypatch):
    found = []
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group=None: [ep for ep in found if group == "assay.envs"]
    )
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_plugin_ids", {})
    yield found
    for env_id in [i for i in gym.registry if i.startswith("plug_test/")]:
        del gym.registry[env_id]


def _register_calls():
    calls = []

    def register_envs():
        calls.append(1)
        registry.register("plug_test/Echo-v0", entry_point="assay.envs.math.arithmetic:ArithmeticEnv")

    return register_envs, calls


def test_an_entry_point_is_loaded_on_first_need_and_only_once(plugins):
    register_envs, calls = _register_calls()
    plugins.append(FakeEntryPoint("plug_test", "plug_test:register_envs", register_envs))
    assert "plug_test/Echo-v0" not in gym.registry
    assert "plug_test/Echo-v0" in assay.list_envs(None)
    assert "plug_test/Echo-v0" not in assay.list_envs()  # the assay namespace alone
    assert registry.plugin_envs() == {"plug_test/Echo-v0": "plug_test"}
    env = assay.make("plug_test/Echo-v0")
    env.close()
    assert calls == [1]


def test_make_loads_plugins_for_an_unknown_id(plugins):
    register_envs, _ = _register_calls()
    plugins.append(FakeEntryPoint("plug_test", "plug_test:register_envs", register_envs))
    env = assay.make("plug_test/Echo-v0")  # nothing listed before: make finds it
    assert env.reset(seed=0)[0]
    env.close()


def test_a_module_entry_point_is_imported(plugins, monkeypatch):
    module = types.ModuleType("plug_test_mod")
    monkeypatch.setitem(sys.modules, "plug_test_mod", module)
    plugins.append(FakeEntryPoint("plug_test_mod", "plug_test_mod", module))
    assert registry.load_plugins() == {"plug_test_mod=plug_test_mod": "ok"}


def test_a_broken_plugin_warns_and_the_others_still_load(plugins):
    register_envs, _ = _register_calls()
    plugins.append(FakeEntryPoint("broken", "broken", ImportError("no module named broken_dep")))
    plugins.append(FakeEntryPoint("plug_test", "plug_test:register_envs", register_envs))
    with pytest.warns(registry.PluginWarning, match="broken.*no module named broken_dep"):
        ids = assay.list_envs(None)
    assert "plug_test/Echo-v0" in ids and "assay/Arithmetic-v0" in ids
    assert registry.load_plugins()["broken=broken"].startswith("ImportError")


def test_scaffold_writes_the_package_and_refuses_bad_names(tmp_path):
    written = scaffold_env_package("my-envs", tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "my-envs/pyproject.toml",
        "my-envs/README.md",
        "my-envs/my_envs/__init__.py",
        "my-envs/my_envs/reverse.py",
        "my-envs/tests/test_my_envs.py",
    ]
    assert 'my_envs = "my_envs"' in written[0].read_text()
    for path in written:
        if path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
    with pytest.raises(FileExistsError):
        scaffold_env_package("my-envs", tmp_path)
    for bad in ("1abc", "a b", "assay", "class"):
        with pytest.raises(ValueError, match=r"name|shadow"):
            names(bad)
