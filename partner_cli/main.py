"""``enfo-partner``: verify a signed bundle, train its key model, predict with it.

A thin click app: each command parses its options, calls one function of
:mod:`enfo_sdk.workflows` and prints the result. Library errors
(:class:`enfo_sdk.errors.EnfoError`) become a one-line ``Error: ...`` with exit code 1 in
:mod:`enfo_sdk.cli_support`; usage mistakes exit with 2; a traceback is shown only with
``--verbose``.

Trusted owners: ``--trust FILE`` (repeatable), each a public key (``ssh-ed25519 AAAA...``)
or a trust-store file of ``name ssh-ed25519 AAAA...`` lines. Without ``--trust``, the
environment variable ``ENFO_TRUST_STORE`` names the default file(s) (separated by ``:``),
else the store ``enfo-partner trust add`` keeps (:mod:`partner_cli.trust`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from enfo_sdk.cli_support import app_group, verbose_option

TRUST_ENV = "ENFO_TRUST_STORE"
_App = app_group("interrupted")


def _require_trust(ctx: click.Context, _param, value: tuple[Path, ...]) -> tuple[Path, ...]:
    if not value:
        from enfo_sdk.trust import default_store_path

        store = default_store_path()
        if store.exists():
            return (store,)
        raise click.UsageError(
            f"no trusted owner keys: pass --trust FILE (a public key or a trust-store file), set {TRUST_ENV}, "
            f"or add the owner to {store} with: enfo-partner trust add OWNER.pub --name NAME", ctx=ctx,
        )
    return value


trust_option = click.option(
    "--trust", "trust", multiple=True, envvar=TRUST_ENV, callback=_require_trust,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Trusted owner public key or trust-store file; repeatable. Default: ${TRUST_ENV}, else the "
    "store of `enfo-partner trust`.",
)
partner_option = click.option(
    "--partner", default=None,
    help="Your partner name; required when the bundle was forged for a named partner.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
key_option = click.option(
    "--key", "key", default=None, type=click.Path(dir_okay=False, path_type=Path),
    help="Your private sealing key (from `enfo-partner keygen`), to open a bundle sealed to you. "
    "Default: $ENFO_PARTNER_KEY, else ~/.config/enfo/partner.x25519 when it exists.",
)
force_option = click.option("--force", is_flag=True,
                            help="Replace --out if it exists (never an input, a link or a device).")


@click.group(cls=_App, context_settings={"help_option_names": ["-h", "--help"]})
@verbose_option
@click.version_option(package_name="enfo-sdk")
def cli() -> None:
    """Verify signed EnFo bundles, train their key model and predict with it."""


def _verified_summary(verified) -> dict:
    m = verified.manifest
    body = m.model_dump(mode="json")
    task = body.get("task", {})
    key = body.get("key", {})
    return {
        "verified": True,
        "signer": {"name": verified.signer, "fingerprint": verified.fingerprint},
        "bundle_id": body.get("bundle_id"),
        "rows": body.get("rows"),
        "target": task.get("target"),
        "features": [f.get("name", f) if isinstance(f, dict) else f for f in task.get("features", [])],
        "key": {k: key.get(k) for k in ("algorithm", "version", "hyperparameters")},
        "expires": body.get("expires"),
        "partner": body.get("partner"),
        "forging": {k: body.get("forging", {}).get(k) for k in ("mode", "weights")},
        "columns": m.key.columns.describe() if m.key is not None and m.key.columns is not None else None,
        "sealed_to": list(verified.sealed_to),
        "opened": verified.opened,
        "rivalry": body.get("rivalry"),  # the owner's signed figures (None: a bundle without a record)
    }


def _echo_verified(summary: dict) -> None:
    signer = summary["signer"]
    key = summary["key"]
    params = ", ".join(f"{k}={v}" for k, v in (key.get("hyperparameters") or {}).items())
    click.echo(f"verified: signed by {signer['name']} ({signer['fingerprint']})")
    click.echo(f"  rows      {summary['rows']}")
    if summary.get("columns"):
        shown = []
        for c in summary["columns"]:
            if c["type"] == "categorical":
                shown.append(f"{c['column']} (categorical, {len(c['levels'])} levels)")
            else:
                shown.append(f"{c['column']} ({c['type']})")
        click.echo(f"  target    {summary['target']}  reads raw columns {', '.join(shown)}")
    else:
        click.echo(f"  target    {summary['target']}  features {', '.join(map(str, summary['features']))}")
    if not summary.get("opened", True):
        click.echo(f"  key       sealed to partner {', '.join(summary['sealed_to'])} (the key and its probe "
                   "points open only with that partner's private key: --key)")
    else:
        sealed = f"; was sealed to partner {', '.join(summary['sealed_to'])}" if summary.get("sealed_to") else ""
        click.echo(f"  key       {key.get('algorithm')} v{key.get('version')} ({params}{sealed})")
    forging = summary.get("forging") or {}
    weights = ", ".join(f"{k} {v:g}" for k, v in (forging.get("weights") or {}).items() if v)
    click.echo(f"  mode      {forging.get('mode')}" + (f" (weights: {weights})" if weights else ""))
    if summary.get("expires"):
        click.echo(f"  expires   {summary['expires']}")
    from enfo_sdk.report_rivalry import format_record

    lines = format_record(summary.get("rivalry"))
    click.echo(f"  rivalry   {lines[0]}")
    for line in lines[1:]:
        click.echo(f"            {line}")


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@trust_option
@partner_option
@key_option
@json_option
@verbose_option
def verify(bundle: Path, trust: tuple[Path, ...], partner: str | None, key: Path | None, as_json: bool) -> None:
    """Check a bundle's signature, content digest and key reconstruction.

    A bundle whose key is sealed to a partner is checked up to its content digest by anyone;
    its key is rebuilt (and the probes checked) only with that partner's private key.
    """
    from enfo_sdk.workflows.partner_steps import verify_bundle

    summary = _verified_summary(verify_bundle(bundle, trust, partner=partner, key=key))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _echo_verified(summary)


@cli.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@trust_option
@click.option(
    "--out", default=None, type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the trained model (Parquet plus JSON metadata, no pickle). "
    "Default: beside the (first) bundle, NAME.model.parquet.",
)
@partner_option
@key_option
@force_option
@json_option
@verbose_option
def train(bundles: tuple[Path, ...], trust: tuple[Path, ...], out: Path | None, partner: str | None,
          key: Path | None, force: bool, as_json: bool) -> None:
    """Verify bundles, rebuild their key model, train it on their rows and save it.

    Several bundles (a consortium's, docs/consortium.md) must share one key spec; each is
    verified against its own signer and the key trains on their union.
    """
    from enfo_sdk.partner import default_model_path
    from enfo_sdk.workflows.partner_steps import train_bundles

    run = train_bundles(bundles, trust, out or default_model_path(bundles[0]), partner=partner, force=force, key=key,
                        out_label="--out" if out else "the model (default path; choose another with --out)")
    summary = {**_verified_summary(run.verified), "model": str(run.model_path)}
    if run.bundles:
        summary["bundles"] = run.to_json()["bundles"]
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _echo_verified(summary)
        for b in run.bundles[1:]:
            click.echo(f"also verified {b.path}: {b.signer} ({b.fingerprint}), {len(b.data)} rows")
        click.echo(f"model saved to {run.model_path}")


@cli.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--input", "input_path", required=True,
    type=click.Path(exists=True, path_type=Path), help="Rows to predict (CSV or Parquet).",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Predictions (.csv or .parquet): the input's columns plus a prediction column.",
)
@force_option
@json_option
@verbose_option
def predict(model: Path, input_path: Path, out: Path, force: bool, as_json: bool) -> None:
    """Predict with a model saved by `enfo-partner train`."""
    from enfo_sdk.workflows.partner_steps import predict_file

    run = predict_file(model, input_path, out, force=force)
    if as_json:
        click.echo(json.dumps(run.to_json()))
    else:
        click.echo(f"{run.rows} predictions ({run.column}) written to {run.output}")


own_option = click.option(
    "--own", "own", required=True, type=click.Path(exists=True, path_type=Path),
    help="Your own labelled rows (CSV, Parquet or Parquet directory) with the bundle's features and target.",
)
cv_option = click.option("--cv", default=5, show_default=True, type=click.IntRange(2), help="Cross-validation folds.")


def _own_rows_command(fn):
    """A command over BUNDLE, --trust, --own, --partner, --cv, --json, --verbose."""
    for deco in reversed([
        cli.command(), click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        trust_option, own_option, partner_option, key_option, cv_option, json_option, verbose_option,
    ]):
        fn = deco(fn)
    return fn


def _verified_and_own(bundle: Path, trust, partner: str | None, own: Path, key: Path | None):
    from enfo_sdk.data.tables import read_table
    from enfo_sdk.workflows.partner_steps import verify_bundle

    return verify_bundle(bundle, trust, partner=partner, key=key, need_key=True), read_table(own)


@_own_rows_command
def augment(bundle: Path, trust: tuple[Path, ...], own: Path, partner: str | None, key: Path | None, cv: int,
            as_json: bool) -> None:
    """Does adding the bundle to your own rows improve the key? (cross-validated on your rows)"""
    from enfo_sdk import partner as partner_api

    verified, data = _verified_and_own(bundle, trust, partner, own, key)
    rep = partner_api.augment(verified, data, cv=cv, what=str(own))
    body = {**rep.to_json(), "mode": verified.manifest.forging.mode}
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    if hasattr(rep, "lines"):  # a classification bundle
        click.echo("\n".join(rep.lines(body["mode"])))
        return
    click.echo(f"key RMSE on your rows ({rep.folds}-fold CV over {rep.own_rows} rows; bundle: {rep.bundle_rows} rows, "
               f"mode {body['mode']})")
    click.echo(f"  your rows alone        {rep.own_rmse:.6g}")
    click.echo(f"  your rows + bundle     {rep.augmented_rmse:.6g}  ({rep.gain:+.1%})")
    click.echo(f"  bundle alone           {rep.bundle_only_rmse:.6g}")
    click.echo("the bundle " + ("improved" if rep.helped else "did not improve") + " the key trained on your rows")


@_own_rows_command
@click.option("--outside-rows", default=None, type=click.IntRange(0),
              help="Your rows mixed into the bundle for the outside-rows test (default 1,000, at most half); "
              "0 scores on all your rows and skips that test.")
def check(bundle: Path, trust: tuple[Path, ...], own: Path, partner: str | None, key: Path | None, cv: int,
          as_json: bool, outside_rows: int | None) -> None:
    """Re-run the owner's rivalry measurement on your labelled rows and compare with its signed record.

    Other model families are tuned on the bundle alone and scored on your rows beside the key;
    your rows are split like the owner's held-out rows into outside rows (up to 1,000, at most
    half) and test rows, for the outside-rows test. The owner's signed figures are shown beside.
    """
    from enfo_sdk import partner as partner_api

    verified, data = _verified_and_own(bundle, trust, partner, own, key)
    if as_json:
        res = partner_api.check(verified, data, cv=cv, what=str(own), outside_rows=outside_rows)
        click.echo(json.dumps(res.to_json(), indent=2, default=str))
        return
    with click.progressbar(length=100, label="tuning model families", file=sys.stderr) as bar:
        state = {"done": 0}

        def progress(fraction: float) -> None:
            step = int(fraction * 100) - state["done"]
            if step > 0:
                bar.update(step)
                state["done"] += step

        res = partner_api.check(verified, data, cv=cv, progress=progress, what=str(own), outside_rows=outside_rows)
    key = verified.require_key()
    if key.task == "classification":
        click.echo("\n".join(res.lines(key.algorithm, len(data))))
    else:
        click.echo("\n".join(res.lines(key.algorithm)))


@cli.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--comment", default=None, help="The public key's comment (default: the file name).")
@click.option("--force", is_flag=True, help="Replace an existing key pair (bundles sealed to it can no longer be opened).")
@verbose_option
def keygen(path: Path | None, comment: str | None, force: bool) -> None:
    """Make your X25519 sealing key pair; send the .pub file to the owner.

    The owner names it in the contract (output.seal_to) and seals the key of your bundles to
    it, so only you can rebuild that key. PATH defaults to $ENFO_PARTNER_KEY, else
    ~/.config/enfo/partner.x25519; the private file gets mode 0600.
    """
    from enfo_sdk.sealing import partner_keygen

    private, public, fp = partner_keygen(path, force=force, comment=comment)
    click.echo(f"private sealing key {private} (mode 0600: keep it; train finds it there"
               f"{'' if path is None else ' with --key'})")
    click.echo(f"public key {public} ({fp}): send it to the owner, who names it as output.seal_to")


from partner_cli.trust import trust as _trust_group  # noqa: E402  (the `trust` subcommands)
cli.add_command(_trust_group)

if __name__ == "__main__":  # pragma: no cover
    cli()
