"""``enfo-partner``: verify a signed bundle, train its key model, predict with it.

A thin click app: each command parses its options, calls one function of
:mod:`enfo_sdk.pipeline` and prints the result. Library errors
(:class:`enfo_sdk.errors.EnfoError`) become a one-line ``Error: ...`` with exit code 1 in
:meth:`_App.invoke`; usage mistakes exit with 2; a traceback is shown only with
``--verbose``.

Trusted owners: ``--trust FILE`` (repeatable), each a public key (``ssh-ed25519 AAAA...``)
or a trust-store file of ``name ssh-ed25519 AAAA...`` lines. Without ``--trust``, the
environment variable ``ENFO_TRUST_STORE`` names the default file(s) (separated by ``:``).
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import click

from enfo_sdk.errors import EnfoError

_VERBOSE = "enfo.verbose"
TRUST_ENV = "ENFO_TRUST_STORE"


class _App(click.Group):
    """The one place where errors become messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EnfoError as e:
            if ctx.meta.get(_VERBOSE):
                traceback.print_exc()
            raise click.ClickException(str(e)) from e
        except OSError as e:  # file-system trouble outside the library's own checks
            if ctx.meta.get(_VERBOSE):
                traceback.print_exc()
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from e
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)


def _set_verbose(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.meta[_VERBOSE] = True


verbose_option = click.option(
    "--verbose", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_set_verbose,
    help="Show the full traceback on errors.",
)


def _require_trust(ctx: click.Context, _param, value: tuple[Path, ...]) -> tuple[Path, ...]:
    if not value:
        raise click.UsageError(
            f"no trusted owner keys: pass --trust FILE (a public key or a trust-store file) "
            f"or set {TRUST_ENV}", ctx=ctx,
        )
    return value


trust_option = click.option(
    "--trust", "trust", multiple=True, envvar=TRUST_ENV, callback=_require_trust,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Trusted owner public key or trust-store file; repeatable. Default: ${TRUST_ENV}.",
)
partner_option = click.option(
    "--partner", default=None,
    help="Your partner name; required when the bundle was forged for a named partner.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON only.")


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
    }


def _echo_verified(summary: dict) -> None:
    signer = summary["signer"]
    key = summary["key"]
    params = ", ".join(f"{k}={v}" for k, v in (key.get("hyperparameters") or {}).items())
    click.echo(f"verified: signed by {signer['name']} ({signer['fingerprint']})")
    click.echo(f"  rows      {summary['rows']}")
    click.echo(f"  target    {summary['target']}  features {', '.join(map(str, summary['features']))}")
    click.echo(f"  key       {key.get('algorithm')} v{key.get('version')} ({params})")
    forging = summary.get("forging") or {}
    weights = ", ".join(f"{k} {v:g}" for k, v in (forging.get("weights") or {}).items() if v)
    click.echo(f"  mode      {forging.get('mode')}" + (f" (weights: {weights})" if weights else ""))
    if summary.get("expires"):
        click.echo(f"  expires   {summary['expires']}")


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@trust_option
@partner_option
@json_option
@verbose_option
def verify(bundle: Path, trust: tuple[Path, ...], partner: str | None, as_json: bool) -> None:
    """Check a bundle's signature, content digest and key reconstruction."""
    from enfo_sdk.pipeline import verify_bundle

    summary = _verified_summary(verify_bundle(bundle, trust, partner=partner))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _echo_verified(summary)


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@trust_option
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the trained model (Parquet plus JSON metadata, no pickle).",
)
@partner_option
@json_option
@verbose_option
def train(bundle: Path, trust: tuple[Path, ...], out: Path, partner: str | None, as_json: bool) -> None:
    """Verify a bundle, rebuild its key model, train it on the bundle and save it."""
    from enfo_sdk.pipeline import train_bundle

    run = train_bundle(bundle, trust, out, partner=partner)
    summary = {**_verified_summary(run.verified), "model": str(run.model_path)}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _echo_verified(summary)
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
@json_option
@verbose_option
def predict(model: Path, input_path: Path, out: Path, as_json: bool) -> None:
    """Predict with a model saved by `enfo-partner train`."""
    from enfo_sdk.pipeline import predict_file

    run = predict_file(model, input_path, out)
    if as_json:
        click.echo(json.dumps({"output": str(run.output), "rows": run.rows, "column": run.column}))
    else:
        click.echo(f"{run.rows} predictions ({run.column}) written to {run.output}")


if __name__ == "__main__":  # pragma: no cover
    cli()
