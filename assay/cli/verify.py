"""``assay verify``: judge one answer or program and print the verdict as one JSON object.

Exit status: 0 correct, 1 not correct (incorrect, timeout, no answer), 2 the verifier could not
judge (error). Other verifiers add their own ``verify`` subcommands here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Verify one answer or program; print the verdict as JSON.",
    no_args_is_help=True,
    add_completion=False,
)


def _exit(verdict_status: str) -> None:
    raise typer.Exit(0 if verdict_status == "correct" else 2 if verdict_status == "error" else 1)


@app.command("code")
def code(
    tests: Annotated[
        Path,
        typer.Option(
            "--tests", exists=True, dir_okay=False, help="Tests as JSON (function-call or stdin/stdout spec)."
        ),
    ],
    program: Annotated[
        Path, typer.Option("--program", exists=True, dir_okay=False, help="The program to verify.")
    ],
    sandbox: str = typer.Option("auto", "--sandbox", help="docker, local, or auto (Docker when ready)."),
    timeout: float = typer.Option(5.0, "--timeout", help="Time limit per test case, in seconds."),
    scoring: str = typer.Option("all", "--scoring", help="all (1 or 0) or fraction (of cases passed)."),
) -> None:
    """Run PROGRAM against TESTS in a sandbox: {"status", "score", "reason", "details"}."""
    from assay.verifiers.base import Status, Verdict
    from assay.verifiers.code import verify_program

    if sandbox not in ("auto", "docker", "local"):
        raise typer.BadParameter("must be docker, local or auto", param_hint="--sandbox")
    if scoring not in ("all", "fraction"):
        raise typer.BadParameter("must be all or fraction", param_hint="--scoring")
    try:
        spec = json.loads(tests.read_text())
    except ValueError as e:
        verdict = Verdict(Status.ERROR, reason=f"{tests} is not valid JSON: {e}")
    else:
        verdict = verify_program(
            program.read_text(errors="replace"),
            spec,
            sandbox=sandbox,
            timeout_s=timeout,
            scoring="fraction" if scoring == "fraction" else "all",
        )
    typer.echo(json.dumps(verdict.to_dict()))
    _exit(verdict.status.value)


from assay.cli.math import verify_math  # noqa: E402 - the math verifier's subcommand lives beside it

app.command("math")(verify_math)
