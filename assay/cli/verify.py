"""``assay verify code|math``: judge one program or answer and print the verdict as one JSON object.

Exit status: 0 correct, 1 not correct (incorrect, timeout, no answer), 2 the verifier could not
judge (error), as for every verdict; ``verify code`` prints exactly one JSON verdict whatever the
program does; a usage error is also 2 and a missing input file 4, with one
``error:`` line on stderr and no JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from assay.cli.errors import UsageError
from assay.cli.options import input_file

__all__ = ["app"]

app = typer.Typer(
    help="Verify one answer or program; print the verdict as JSON.",
    no_args_is_help=True,
    add_completion=False,
)


def _exit(verdict_status: str) -> None:
    raise typer.Exit(0 if verdict_status == "correct" else 2 if verdict_status == "error" else 1)


@app.command("code")
def code_cmd(
    tests: Annotated[
        Path, typer.Option("--tests", help="Tests as JSON (function-call or stdin/stdout spec).")
    ],
    program: Annotated[Path, typer.Option("--program", help="The program to verify.")],
    sandbox: str = typer.Option("auto", "--sandbox", help="docker, local, or auto (Docker when ready)."),
    timeout: float = typer.Option(5.0, "--timeout", help="Time limit per test case, in seconds."),
    scoring: str = typer.Option("all", "--scoring", help="all (1 or 0) or fraction (of cases passed)."),
) -> None:
    """Run PROGRAM against TESTS in a sandbox: {"status", "score", "reason", "details"}."""
    if sandbox not in ("auto", "docker", "local"):
        raise UsageError(f"--sandbox must be docker, local or auto, got {sandbox!r}")
    if scoring not in ("all", "fraction"):
        raise UsageError(f"--scoring must be all or fraction, got {scoring!r}")
    if not 0 < timeout < float("inf"):
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout!r}")
    input_file(tests, option="--tests", what="JSON file of tests")
    input_file(program, option="--program", what="program file")
    from assay.verifiers.base import Status, Verdict
    from assay.verifiers.code import verify_program

    try:
        spec = json.loads(tests.read_text())
    except ValueError as e:
        verdict = Verdict(Status.ERROR, reason=f"{tests} is not valid JSON: {e}")
    else:
        try:
            verdict = verify_program(
                program.read_text(errors="replace"),
                spec,
                sandbox=sandbox,
                timeout_s=timeout,
                scoring="fraction" if scoring == "fraction" else "all",
            )
        except Exception as e:  # noqa: BLE001 - a broken verifier is an ERROR verdict, never a traceback
            verdict = Verdict(Status.ERROR, reason=f"the verifier failed: {type(e).__name__}: {str(e)[:500]}")
    typer.echo(json.dumps(verdict.to_dict()))
    _exit(verdict.status.value)


@app.command("math")
def math_cmd(
    gold: Annotated[
        str, typer.Option("--gold", help="The reference answer (or a worked solution with \\boxed{}).")
    ],
    response: Annotated[
        str | None, typer.Option("--response", help="The model's response; its final answer is extracted.")
    ] = None,
    response_file: Annotated[
        Path | None, typer.Option("--response-file", help="Read the response from a file.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Budget of the comparison, in seconds.")] = 5.0,
    bare: Annotated[
        bool, typer.Option("--bare", help="The response is a bare answer: do not extract.")
    ] = False,
    no_fallback: Annotated[
        bool, typer.Option("--no-fallback", help="Only marked answers (\\boxed{}, 'the answer is', ####).")
    ] = False,
    last_number: Annotated[
        bool,
        typer.Option(
            "--last-number",
            help="With no marked answer, take the last math span or number (flexible extraction).",
        ),
    ] = False,
) -> None:
    """Judge RESPONSE against GOLD with assay's math verifier: {"status", "score", "extracted", "reason", "details"}."""
    if (response is None) == (response_file is None):
        raise UsageError("give exactly one of --response and --response-file")
    if response is None:
        text = input_file(response_file, option="--response-file").read_text(errors="replace")
    else:
        text = response
    from assay.verifiers.math import MathVerifier, reference_answer

    if no_fallback and last_number:
        raise typer.BadParameter(
            "give at most one of --no-fallback and --last-number", param_hint="--last-number"
        )
    verifier = MathVerifier(
        timeout_s=timeout, fallback="none" if no_fallback else "last" if last_number else "whole"
    )
    verdict = verifier.compare(text.strip(), reference_answer(gold)) if bare else verifier.verify(text, gold)
    typer.echo(json.dumps(verdict.to_dict()))
    _exit(verdict.status.value)
