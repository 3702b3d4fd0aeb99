"""``enfo-owner``: create a signing key, forge a signed bundle from a contract, inspect one.

A thin click app: each command parses its options, calls one function of ``enfo_sdk`` and
prints the result. Library errors (:class:`enfo_sdk.errors.EnfoError`) become a one-line
``Error: ...`` with exit code 1 in :mod:`enfo_sdk.cli_support`; usage mistakes exit with 2; a
traceback is shown only with ``--verbose``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from enfo_sdk.cli_support import app_group, verbose_option

_App = app_group("interrupted: a run writes its outputs together at the very end, so none "
                 "were written (checkpoints aside)")


@click.group(cls=_App, context_settings={"help_option_names": ["-h", "--help"]})
@verbose_option
@click.version_option(package_name="enfo-sdk")
def cli() -> None:
    """Forge rival synthetic data from a contract and sign it for a partner."""


@cli.command()
@click.option(
    "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Private key path (the public key goes to PATH.pub). "
    "Default: $ENFO_OWNER_KEY or ~/.config/enfo/owner.key.",
)
@click.option("--name", default=None, help="Comment of the public key (a partner's name for you).")
@verbose_option
def keygen(out: Path | None, name: str | None) -> None:
    """Create an Ed25519 signing key pair, like ssh-keygen.

    The private key is encrypted when $ENFO_KEY_PASSPHRASE is set.
    """
    from enfo_sdk.signing import create_signing_key

    signer = create_signing_key(out, comment=name)
    click.echo(f"private key  {signer.key_path}  (keep it secret)")
    click.echo(f"public key   {signer.public_key_path}  (give it to partners)")
    click.echo(f"fingerprint  {signer.fingerprint}")


@cli.command()
@click.option("--data", "source", help="CSV or Parquet file, Parquet directory, or builtin:NAME.")
@click.option("--sql", help="Instead of --data: a SQL query whose result is the table (with --connection).")
@click.option("--connection", help="With --sql: a DuckDB file (or duckdb://FILE), sqlite://FILE, or "
              "postgresql://user@host/db (no password in it).")
@click.option("--password-env", help="With --sql: the environment variable holding the PostgreSQL password.")
@click.option("--target", required=True, help="The column to predict.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("key.yaml"),
              show_default=True, help="The contract to write.")
@click.option("--force", is_flag=True, help="Replace an existing contract file.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON only.")
@verbose_option
def init(source: str | None, sql: str | None, connection: str | None, password_env: str | None,
         target: str, out: Path, force: bool, as_json: bool) -> None:
    """Inspect a table and write a commented contract (column types, counts, forge.rows) to edit and run.

    The table is a file (--data) or the result of a SQL query (--sql with --connection), e.g.
    --sql "SELECT * FROM sales ORDER BY id" --connection sales.duckdb.
    """
    from enfo_sdk.data.sql import SqlQuery
    from enfo_sdk.workflows.init_contract import init_contract

    if (source is None) == (sql is None):
        raise click.UsageError("give the table as --data SOURCE or as --sql QUERY --connection DB")
    if sql is None and (connection or password_env):
        raise click.UsageError("--connection and --password-env go with --sql")
    if sql is not None and not connection:
        raise click.UsageError("--sql needs --connection (a DuckDB file, sqlite://FILE or postgresql://...)")
    if sql is not None:
        source = SqlQuery(sql, connection, password_env, where="")
    run = init_contract(source, target, out=out, force=force)
    if as_json:
        click.echo(json.dumps(run.to_json(), indent=2))
        return
    counts = {}
    for kind in run.columns.values():
        counts[kind] = counts.get(kind, 0) + 1
    click.echo(f"{run.rows:,} rows; columns: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    click.echo(f"task: {run.task} ({run.task_note})")
    for note in run.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {run.contract} (forge.rows {run.suggested_rows}); check the column types, then run:")
    click.echo(f"  enfo-owner forge --contract {run.contract}")


class _ProgressBars:
    """One click progress bar per phase of :func:`enfo_sdk.workflows.forge_run.run_forge`, on stderr."""

    STEPS = 1000

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.phase: str | None = None
        self.bar = None
        self.done = 0

    def __call__(self, phase: str, fraction: float) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            self.bar = click.progressbar(
                length=self.STEPS, label=f"{phase:<11}", file=sys.stderr, show_eta=True,
            )
            self.bar.__enter__()
        target = int(round(fraction * self.STEPS))
        if target > self.done:
            self.bar.update(target - self.done)
            self.done = target

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self) -> "_ProgressBars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@cli.command()
@click.option(
    "--contract", "contract_path", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The contract (YAML).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress or table; print the bundle path.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON only.")
@click.option(
    "--resume", is_flag=True,
    help="Continue from the forging checkpoint (output.checkpoint, default BUNDLE.checkpoint.npz) "
    "if it exists; write checkpoints while forging.",
)
@click.option(
    "--from", "from_bundle", default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Update a previous bundle: verify it, keep its key and start forging from its rows.",
)
@click.option(
    "--trust", "trust", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public key or trust-store file the --from bundle must verify against (repeatable). "
    "Default: the owner's own signing key.",
)
@click.option("--force", is_flag=True,
              help="Replace the bundle, report or checkpoint if they exist (as output.overwrite: true).")
@verbose_option
def forge(contract_path: Path, quiet: bool, as_json: bool, resume: bool, from_bundle: Path | None,
          trust: tuple[Path, ...], force: bool) -> None:
    """Forge, evaluate and sign a bundle as the contract says."""
    from enfo_sdk.contract import load_contract
    from enfo_sdk.workflows.forge_run import run_forge
    from enfo_sdk.report_table import format_forge_table

    if trust and from_bundle is None:
        raise click.UsageError("--trust verifies the --from bundle; pass --from too")
    contract = load_contract(contract_path)
    with _ProgressBars(enabled=not (quiet or as_json)) as bars:
        run = run_forge(contract, progress=bars, resume=resume, from_bundle=from_bundle, trust=trust,
                        force=force)
    summary = run.to_json()
    if run.signer.created:
        click.echo(
            f"created signing key {run.signer.key_path}\n"
            f"  public key   {run.signer.public_key_path}  (give it to partners)\n"
            f"  fingerprint  {run.signer.fingerprint}",
            err=True,
        )
    for message in run.warnings:
        click.echo(f"warning: {message}", err=True)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif quiet:
        click.echo(str(run.bundle))
    else:
        click.echo(format_forge_table(summary))


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@verbose_option
def inspect(bundle: Path, as_json: bool) -> None:
    """Show a bundle's manifest WITHOUT verifying it (use enfo-partner verify for that)."""
    from enfo_sdk.bundle import read_envelope_unverified
    from enfo_sdk.report_table import format_mapping

    manifest, keyid = read_envelope_unverified(bundle)
    body = manifest.model_dump(mode="json")
    if as_json:
        click.echo(json.dumps({"verified": False, "keyid": keyid, "manifest": body}, indent=2))
        return
    from enfo_sdk.report_rivalry import format_record

    record = body.pop("rivalry", None)
    click.echo(f"bundle  {bundle}")
    click.echo(f"signed by key {keyid} (NOT verified: run enfo-partner verify to check it)")
    click.echo(format_mapping(body))
    click.echo("rivalry (the owner's measured figures, as signed):")
    click.echo("\n".join(f"  {line}" for line in format_record(record)))


def _int_list(_ctx, _param, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated row counts, got {value!r}") from None


def _sweep_spec(_ctx, _param, value: str | None) -> tuple[str, list[float]] | None:
    """``PARAM=V1,V2,...`` as (param, values), checked by the library's own rules."""
    if value is None:
        return None
    from enfo_sdk.errors import ConfigError
    from enfo_sdk.evaluate.sweep import check_sweep, sweepable_params

    name, eq, listed = value.partition("=")
    if not eq or not name.strip():
        raise click.BadParameter(
            f"expected PARAM=V1,V2,... (e.g. alignment_weight=0,1,10,100), got {value!r}; "
            f"PARAM is one of {', '.join(sweepable_params())}"
        )
    try:
        values = check_sweep(name.strip(), [v.strip() for v in listed.split(",") if v.strip()],
                             min_values=2)
    except ConfigError as e:
        raise click.BadParameter(str(e)) from None
    return name.strip(), values


@cli.command()
@click.option(
    "--contract", "contract_path", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The contract (YAML).",
)
@click.option(
    "--bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="A bundle forged from this contract's data (default: forge one in memory).",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Folder for metrics.json, report.html and the figures (with --sweep: sweep.json, "
    "sweep.png and sweep.html).",
)
@click.option("--sizes", default="100,500,1000", callback=_int_list, show_default=True,
              help="Row counts of the RMSE-versus-rows curve; empty to skip it.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(1), help="Seeds per row count.")
@click.option("--external-rows", default=1000, show_default=True, type=click.IntRange(1),
              help="Real rows mixed into the bundle for the external-rivalry test (with --sweep: "
              "the partner's own rows of the augmentation gain).")
@click.option(
    "--sweep", "sweep", default=None, metavar="PARAM=V1,V2,...", callback=_sweep_spec,
    help="Instead of the full evaluation, forge one bundle per value of a forging weight and "
    "plot divergences, augmentation gain and key RMSE against it, e.g. "
    "alignment_weight=0,1,10,100 (at least two values >= 0). PARAM: alignment_weight (mode "
    "augment), adaptability_weight (adaptable) or rival_weight (rival); the mode is set to "
    "match. Not with --bundle, --sizes or --seeds.",
)
@click.option("--attackers", is_flag=True,
              help="With --sweep: also run the attacker zoo on every bundle (slow).")
@click.option("--quiet", "-q", is_flag=True, help="No progress; print the report path.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON only.")
@click.option("--force", is_flag=True, help="Replace report files that exist in --out.")
@verbose_option
@click.pass_context
def evaluate(ctx: click.Context, contract_path: Path, bundle: Path | None, out: Path,
             sizes: tuple[int, ...], seeds: int, external_rows: int,
             sweep: tuple[str, list[float]] | None, attackers: bool, quiet: bool, as_json: bool,
             force: bool) -> None:
    """Measure utility, rivalry, divergence and privacy; write metrics.json and report.html.

    With --sweep PARAM=V1,V2,... run a sweep of one forging weight instead (the paper's
    appendix F): write sweep.json, sweep.png and sweep.html.
    """
    from enfo_sdk.contract import load_contract
    from enfo_sdk.workflows.evaluate_run import run_evaluate
    from enfo_sdk.workflows.sweep_run import run_sweep
    from enfo_sdk.report_table import format_mapping

    if sweep is None and attackers:
        raise click.UsageError("--attackers applies to --sweep only (the full evaluation always runs them)")
    if sweep is not None:
        if bundle is not None:
            raise click.UsageError("--sweep forges its own bundles; it cannot be combined with --bundle")
        for name in ("sizes", "seeds"):
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                raise click.UsageError(f"--{name} applies to the full evaluation, not to --sweep")
    contract = load_contract(contract_path)
    with _ProgressBars(enabled=not (quiet or as_json)) as bars:
        if sweep is not None:
            run = run_sweep(contract, out=out, param=sweep[0], values=sweep[1],
                            own_rows=external_rows, attackers=attackers, progress=bars, force=force)
        else:
            run = run_evaluate(contract, out=out, bundle=bundle, sizes=sizes, seeds=seeds,
                               external_rows=external_rows, progress=bars, force=force)
    for message in run.warnings:
        click.echo(f"warning: {message}", err=True)
    if as_json:
        click.echo(json.dumps(run.to_json(), indent=2))
    elif quiet:
        click.echo(str(run.html_path if sweep is not None else run.report_path))
    else:
        click.echo(format_mapping(run.to_json()))


from owner_cli.consortium import consortium  # noqa: E402  (a command group in its own module)

cli.add_command(consortium)

if __name__ == "__main__":  # pragma: no cover
    cli()
