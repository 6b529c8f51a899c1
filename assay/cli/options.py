"""The options several command groups share, and the checks they run before doing any work.

- ``--env ID``: an env id, checked against Gymnasium's registry by `check_env_id` (a mistyped id
  is a one-line usage error naming the closest registered ids). ``module:ID`` imports ``module``
  first, as `gymnasium.make` does.
- ``--env-args``: repeatable; each value is a JSON object or comma-separated ``key=value`` pairs,
  a value JSON-decoded when it is valid JSON, else kept as a string (`parse_env_args`). The old
  spellings ``--env-kwargs JSON`` and ``--env-arg key=JSON`` are hidden aliases that print a
  deprecation note to stderr (`env_args`).
- ``--model``: the model a command reads, a local model directory (``assay eval`` also takes an
  http(s) URL or ``import:module:name``); `model_dir` checks it exists.

Not guaranteed: `check_env` builds the env once to test the arguments, so an env whose
constructor is slow is built one extra time; an argument the constructor accepts but that fails
later (on reset) is not caught here.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from assay.cli.errors import BadInput, UsageError

__all__ = [
    "ENV",
    "ENV_ARGS",
    "ENV_ARG_DEPRECATED",
    "ENV_KWARGS_DEPRECATED",
    "MODEL",
    "check_env",
    "check_env_id",
    "deprecated",
    "env_args",
    "input_file",
    "model_dir",
    "parse_env_args",
]

ENV = typer.Option(None, "--env", help="Env id, e.g. assay/Arithmetic-v0 (assay list shows them).")
ENV_ARGS = typer.Option(
    None,
    "--env-args",
    help="Env constructor arguments (repeatable): a JSON object or key=value pairs, e.g. "
    'level=easy,max_operand=5 or \'{"level": "easy"}\'; values are JSON when they parse, else strings.',
)
ENV_KWARGS_DEPRECATED = typer.Option(None, "--env-kwargs", hidden=True, help="Deprecated: use --env-args.")
ENV_ARG_DEPRECATED = typer.Option(None, "--env-arg", hidden=True, help="Deprecated: use --env-args.")
MODEL = typer.Option(
    None,
    "--model",
    help="The model to start from: a local model directory (assay model init-tiny DIR writes one).",
)

_PAIR_START = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*=)")


def deprecated(old: str, new: str) -> None:
    """Print the one-line deprecation note for an old option spelling to stderr."""
    typer.echo(f"warning: {old} is deprecated and will be removed in the next release; use {new}", err=True)


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_env_args(values: Sequence[str]) -> dict[str, Any]:
    """The env arguments of ``--env-args`` values, later values winning per key.

    A value starting with ``{`` must be a JSON object. Otherwise it is ``key=value`` pairs joined
    by commas; a comma starts a new pair only when ``key=`` follows it, so ``operations=+,-``
    keeps its comma. Raises `UsageError` for anything else.
    """
    out: dict[str, Any] = {}
    for text in values:
        if text.lstrip().startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError as e:
                raise UsageError(f"--env-args {text!r} is not a JSON object: {e}") from None
            if not isinstance(parsed, dict):
                raise UsageError(f"--env-args {text!r} is not a JSON object")
            out.update(parsed)
            continue
        for pair in _PAIR_START.split(text):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise UsageError(
                    f"--env-args takes a JSON object or key=value pairs joined by commas, got {text!r}"
                )
            out[key.strip()] = _decode(value)
    return out


def env_args(
    values: Sequence[str] | None,
    *,
    env_kwargs: str | None = None,
    env_arg: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """``--env-args`` and its deprecated spellings as one dict; None when none was given.

    ``env_kwargs`` (old ``--env-kwargs JSON``) comes first, then ``env_arg`` (old ``--env-arg
    key=JSON``), then ``values``, later ones winning per key. Each old spelling used prints one
    deprecation line.
    """
    given: list[str] = []
    if env_kwargs is not None:
        deprecated("--env-kwargs", "--env-args")
        given.append(env_kwargs)
    if env_arg:
        deprecated("--env-arg", "--env-args")
        given += env_arg
    given += values or []
    return parse_env_args(given) if given else None


def check_env_id(env_id: str) -> None:
    """Raise `UsageError` naming the closest registered ids when ``env_id`` is not registered.

    ``module:ID`` imports ``module`` first (it may register ``ID``), as `gymnasium.make` does.
    """
    import gymnasium as gym

    module, sep, name = env_id.rpartition(":")
    if sep:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is None or not module.startswith(e.name):
                raise
            raise UsageError(f"cannot import {module!r} for env {env_id!r}: {e}") from None
    if name in gym.registry:
        return
    from assay.registry import load_plugins

    load_plugins()  # installed env packages (the assay.envs entry points)
    if name in gym.registry:
        return
    ids = sorted(gym.registry)
    by_lower = {i.lower(): i for i in ids}
    close = [by_lower[i] for i in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)]
    hint = f"did you mean {', '.join(close)}?" if close else "no registered id is close;"
    raise UsageError(f"unknown env id {name!r}: {hint} (assay list shows them all)")


def check_env(env_id: str | None, kwargs: Mapping[str, Any] | None, *, option: str = "--env") -> str:
    """``env_id``, checked (`check_env_id`); when there are ``kwargs``, the env is built once.

    A missing id, and a `TypeError` or `ValueError` from the constructor (bad env arguments),
    are a `UsageError`.
    """
    if not env_id:
        raise UsageError(f"{option} is required (an env id; assay list shows them)")
    check_env_id(env_id)
    if not kwargs:
        return env_id
    from assay.registry import make

    try:
        env = make(env_id, **kwargs)
    except (TypeError, ValueError) as e:
        raise UsageError(f"bad env arguments for {env_id} {dict(kwargs)}: {e}") from e
    env.close()
    return env_id


def model_dir(model: str | None, *, option: str = "--model", hint: str = "") -> Path:
    """``model`` as a directory: `UsageError` when not given, `BadInput` when it is not a directory."""
    if not model:
        raise UsageError(f"{option} is required (a local model directory)")
    path = Path(model)
    if not path.is_dir():
        raise BadInput(f"{option} must be a local model directory, got {model!r}{hint}")
    return path


def input_file(path: str | Path | None, *, option: str, what: str = "file") -> Path:
    """``path`` as a readable file: `UsageError` when not given, `BadInput` when it is missing."""
    if path is None or str(path) == "":
        raise UsageError(f"{option} is required ({what})")
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"{option} must be a {what}, got {str(path)!r} (no such file)")
    return p
