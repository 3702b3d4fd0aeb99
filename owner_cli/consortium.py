"""``enfo-owner consortium``: plan a data consortium (docs/consortium.md).

``plan --config consortium.yaml --out DIR`` prints one row per member (rows to forge, utility
without and with the mechanism, transfer, IR margin) and writes DIR/plan.json and the plan's
figures. A thin layer over :mod:`enfo_sdk.consortium`; errors are handled by the owner app.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from enfo_sdk.cli_support import verbose_option


@click.group()
def consortium() -> None:
    """Plan a consortium: who forges how many rows, and who pays whom."""


@consortium.command()
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The consortium file (YAML, docs/consortium.md).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for plan.json and the figures.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON only.")
@verbose_option
def plan(config_path: Path, out: Path, as_json: bool) -> None:
    """Equilibrium rows, the welfare optimum and budget-balanced transfers; write the plan."""
    from enfo_sdk.consortium.config import load_consortium_config
    from enfo_sdk.consortium.plan import format_plan_table, make_plan, write_plan

    config = load_consortium_config(config_path)
    result = make_plan(config.consortium(config_path), rates=config.rates(),
                       competition=config.sweeps.competition,
                       heterogeneity_scale=config.sweeps.heterogeneity_scale)
    written = write_plan(result, out)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(format_plan_table(result))
    click.echo(f"\nplan    {written['plan']}")
    click.echo(f"figures {', '.join(p.name for k, p in written.items() if k != 'plan')}")
