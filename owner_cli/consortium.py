"""``enfo-owner consortium``: plan a data consortium (docs/consortium.md).

``plan --config consortium.yaml --out DIR`` prints one row per member (rows to forge, utility
without and with the mechanism, transfer, IR margin) and writes DIR/plan.json and the plan's
figures. ``forge --plan DIR/plan.json --member NAME=CONTRACT ...`` forges each member's planned
rows for one agreed key spec. A thin layer over :mod:`enfo_sdk.consortium`; errors are handled by the owner app.
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


def _members(_ctx, _param, values: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{v!r}: expected NAME=CONTRACT")
        if name in out:
            raise click.BadParameter(f"member {name!r} given twice")
        out[name] = Path(path)
    return out


@consortium.command()
@click.option("--plan", "plan_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="plan.json written by 'enfo-owner consortium plan'.")
@click.option("--member", "members", required=True, multiple=True, callback=_members,
              help="NAME=CONTRACT: forge this member's planned rows with its contract (repeatable).")
@click.option("--key-spec", "key_spec", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="The agreed key spec (JSON). Read if it exists; else the first member encapsulates "
              "the key and it is written there. Default: key-spec.json beside the plan.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON only.")
@verbose_option
def forge(plan_path: Path, members: dict[str, Path], key_spec: Path | None, as_json: bool) -> None:
    """Forge each member's planned rows for one agreed key spec (one signed bundle each)."""
    from enfo_sdk.consortium.forging import forge_members

    key_spec = key_spec or plan_path.with_name("key-spec.json")
    done = forge_members(plan_path, members, key_spec=key_spec)
    rows = [{"member": m.name, "rows": m.rows,
             "bundle": None if m.run is None else str(m.run.bundle),
             "test_rmse": None if m.run is None else m.run.test_rmse} for m in done]
    if as_json:
        click.echo(json.dumps({"key_spec": str(key_spec), "members": rows}, indent=2))
        return
    for r in rows:
        where = r["bundle"] or "nothing to forge (0 rows planned)"
        click.echo(f"{r['member']:<12} {r['rows']:>6} rows  {where}")
    click.echo(f"key spec {key_spec}")
