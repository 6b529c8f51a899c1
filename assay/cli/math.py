"""``assay verify math``: judge one math response against a reference answer.

Prints one JSON object: ``{"status", "score", "extracted", "reason", "details"}``. Exit status: 0
correct, 1 not correct (incorrect, no answer, timeout), 2 the verifier could not judge (error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["verify_math"]


def verify_math(
    gold: Annotated[
        str, typer.Option("--gold", help="The reference answer (or a worked solution with \\boxed{}).")
    ],
    response: Annotated[
        str | None, typer.Option("--response", help="The model's response; its final answer is extracted.")
    ] = None,
    response_file: Annotated[
        Path | None,
        typer.Option("--response-file", exists=True, dir_okay=False, help="Read the response from a file."),
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
    """Judge RESPONSE against GOLD with assay's math verifier and print the verdict as JSON."""
    from assay.verifiers.math import MathVerifier, reference_answer

    if (response is None) == (response_file is None):
        raise typer.BadParameter(
            "give exactly one of --response and --response-file", param_hint="--response"
        )
    text = response if response is not None else Path(str(response_file)).read_text(errors="replace")
    if no_fallback and last_number:
        raise typer.BadParameter(
            "give at most one of --no-fallback and --last-number", param_hint="--last-number"
        )
    verifier = MathVerifier(
        timeout_s=timeout, fallback="none" if no_fallback else "last" if last_number else "whole"
    )
    verdict = verifier.compare(text.strip(), reference_answer(gold)) if bare else verifier.verify(text, gold)
    typer.echo(json.dumps(verdict.to_dict()))
    status = verdict.status.value
    raise typer.Exit(0 if status == "correct" else 2 if status == "error" else 1)
