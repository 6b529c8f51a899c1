"""The registry: `make`, `register`, `list_envs`, on Gymnasium's own registry.

assay keeps no registry of its own: `register` is `gymnasium.register`, so every assay env is
also reachable as ``gymnasium.make("assay/<Name>-v<N>")``.

Env packages (plugins): a distribution that declares an entry point in the ``assay.envs`` group
(``[project.entry-points."assay.envs"] my_envs = "my_envs"``) has its module imported, or its
callable called (``"my_envs:register_envs"``), the first time `make`, `list_envs` or `describe`
needs it (`load_plugins`), so ``pip install my-envs`` makes its envs visible to ``assay list``,
``assay.make``, ``assay eval``, ``assay train`` and ``assay serve`` without an import. A plugin
that fails to load gives a `PluginWarning` and is skipped; it never breaks the others.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import gymnasium as gym

from assay.errors import AssayError

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginWarning",
    "describe",
    "group_seeds",
    "list_envs",
    "load_plugins",
    "make",
    "plugin_envs",
    "register",
]

NAMESPACE = "assay"
ENTRY_POINT_GROUP = "assay.envs"
"""The entry-point group of env packages."""


class PluginWarning(AssayError, UserWarning):
    """An installed env package (``assay.envs`` entry point) failed to load and was skipped."""


_loaded: dict[str, str] = {}
_plugin_ids: dict[str, str] = {}  # env id -> the entry point that registered it
_plugin_lock = threading.Lock()


def load_plugins() -> dict[str, str]:
    """Load every installed ``assay.envs`` entry point not loaded yet in this process.

    Returns ``{entry point name: "ok" or the error}`` for every plugin seen so far. A plugin that
    raises (or is not importable) gives one `PluginWarning` and is recorded as failed, not retried.
    """
    with _plugin_lock:
        try:
            found = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        except Exception as e:  # noqa: BLE001 - broken package metadata must not break make()
            warnings.warn(f"cannot read {ENTRY_POINT_GROUP} entry points: {e}", PluginWarning, stacklevel=2)
            return dict(_loaded)
        for ep in found:
            key = f"{ep.name}={ep.value}"
            if key in _loaded:
                continue
            before = set(gym.registry)
            try:
                target = ep.load()
                if callable(target) and not isinstance(target, ModuleType):
                    target()
                _loaded[key] = "ok"
                _plugin_ids.update(dict.fromkeys(set(gym.registry) - before, ep.name))
            except Exception as e:  # noqa: BLE001 - a broken plugin is a warning, never a crash
                _loaded[key] = f"{type(e).__name__}: {e}"
                warnings.warn(
                    f"env package {ep.name!r} ({ep.value}) failed to load and is skipped: {_loaded[key]}",
                    PluginWarning,
                    stacklevel=2,
                )
        return dict(_loaded)


def register(id: str, entry_point: str | Callable[..., gym.Env[Any, Any]], **kwargs: Any) -> None:
    """Register an env with Gymnasium (``id`` like ``"assay/MyTask-v0"``; kwargs as gymnasium's)."""
    if id in gym.registry:
        raise ValueError(f"{id!r} is already registered; bump its version (-v1) for a new behaviour")
    gym.register(id=id, entry_point=entry_point, **kwargs)


def make(id: str, **kwargs: Any) -> gym.Env[Any, Any]:
    """``gymnasium.make(id, **kwargs)``: the env with Gymnasium's standard wrappers.

    An id not registered yet first loads the installed env packages (`load_plugins`).
    """
    if id not in gym.registry and ":" not in id:
        load_plugins()
    return gym.make(id, **kwargs)


def group_seeds(seed: int, num_prompts: int, group_size: int) -> list[int]:
    """Seeds for a vector reset that yields ``num_prompts`` groups of ``group_size`` copies.

    ``[s0]*G + [s1]*G + ...`` with ``s_i`` derived from ``seed`` (distinct across prompts).
    """
    if num_prompts < 1 or group_size < 1:
        raise ValueError("num_prompts and group_size must be >= 1")
    import numpy as np

    seeds = np.random.SeedSequence(seed).generate_state(num_prompts, dtype=np.uint32)
    return [int(s) for s in seeds for _ in range(group_size)]


def list_envs(namespace: str | None = NAMESPACE) -> list[str]:
    """The ids of every registered env in ``namespace`` (installed env packages included), sorted.

    ``namespace=None``: assay's own envs and every env an installed env package registered.
    """
    load_plugins()
    if namespace is None:
        return sorted(
            i for i, spec in gym.registry.items() if spec.namespace == NAMESPACE or i in _plugin_ids
        )
    return sorted(i for i, spec in gym.registry.items() if spec.namespace == namespace)


def plugin_envs() -> dict[str, str]:
    """``{env id: entry point name}`` of the envs installed env packages registered."""
    load_plugins()
    return dict(_plugin_ids)


def describe(id: str) -> str:
    """The first line of the env class's docstring (imports the env's module)."""
    if id not in gym.registry:
        load_plugins()
    entry = gym.spec(id).entry_point
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    doc = inspect.getdoc(entry) or ""
    return doc.strip().splitlines()[0].replace("``", "`") if doc.strip() else ""
