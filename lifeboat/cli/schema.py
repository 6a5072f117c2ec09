"""``lifeboat schema [MODEL]``: the JSON Schema of a model, to write a workflow input by hand."""

from __future__ import annotations

import json
from typing import Literal

import click

from lifeboat.contracts.aws import EksRestoreRequest
from lifeboat.contracts.migration import MigrationRequest, ReplicationPolicy
from lifeboat.models import MODELS as PLAIN_MODELS
from lifeboat.models.base import LifeboatModel

MODELS: dict[str, type[LifeboatModel]] = {
    **PLAIN_MODELS,
    **{m.__name__: m for m in (MigrationRequest, ReplicationPolicy, EksRestoreRequest)},
}
"""Everything a person may write by hand: configuration, policies and workflow inputs."""


@click.command()
@click.argument("model", required=False)
@click.option(
    "--mode",
    type=click.Choice(["validation", "serialization"]),
    default="validation",
    show_default=True,
    help="validation: what an input may contain; serialization: what Lifeboat writes.",
)
def schema(model: str | None, mode: Literal["validation", "serialization"]) -> None:
    """Print the JSON Schema of MODEL; without MODEL, list the model names."""
    if model is None:
        for name, cls in MODELS.items():
            click.echo(f"{name:<22} {_first_sentence(cls.__doc__ or '')}")
        return
    by_lower_name = {name.lower(): cls for name, cls in MODELS.items()}
    found = by_lower_name.get(model.lower())
    if found is None:
        raise click.BadParameter(
            f"{model!r} is not a model; allowed: {', '.join(MODELS)}", param_hint="MODEL"
        )
    click.echo(json.dumps(found.model_json_schema(mode=mode), indent=2))


def _first_sentence(docstring: str) -> str:
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    sentence, period, _ = paragraph.partition(". ")
    return sentence + period.strip()
