"""``enfo-partner trust``: the owners a partner trusts, managed like ssh keys.

A thin click group over :mod:`enfo_sdk.trust`: ``add OWNER.pub [--name] [--expires]``,
``list``, ``remove NAME`` and ``revoke FINGERPRINT``, all on one store file (``--store``,
else ``$ENFO_TRUST_STORE``, else ``~/.config/enfo/trusted_owners`` under ``$XDG_CONFIG_HOME``
when set). ``enfo-partner verify/train/...`` read that file when ``--trust`` is not given.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from enfo_sdk.cli_support import verbose_option

store_option = click.option(
    "--store", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Trust-store file. Default: $ENFO_TRUST_STORE, else ~/.config/enfo/trusted_owners.",
)


def _store(store: Path | None) -> Path:
    from enfo_sdk.trust import default_store_path

    return store if store is not None else default_store_path()


def _when(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else "never"


def _parse_expiry(_ctx, _param, value: str | None):
    if value is None:
        return None
    from enfo_sdk.errors import SigningError
    from enfo_sdk.signing import parse_expiry

    try:
        return parse_expiry(value)
    except SigningError as e:
        raise click.BadParameter(str(e)) from e


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def trust() -> None:
    """Add, list, remove and revoke the owner keys you trust."""


@trust.command()
@click.argument("public_key", metavar="OWNER.pub", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Name for this owner (default: the key's comment or file name).")
@click.option("--expires", default=None, callback=_parse_expiry, metavar="DATE",
              help="Stop trusting the key at this ISO date (00:00 UTC) or date-time.")
@store_option
@verbose_option
def add(public_key: Path, name: str | None, expires, store: Path | None) -> None:
    """Trust the owner key in OWNER.pub (a second key under a taken name is refused)."""
    from enfo_sdk import trust as trust_api

    path = _store(store)
    entry = trust_api.add(path, public_key, name=name, expires=expires)
    click.echo(f"trusted {entry.name} ({entry.fingerprint}) until {_when(entry.expires)} in {path}")
    click.echo("compare this fingerprint with the owner's through a channel other than the one that brought the key")


@trust.command(name="list")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@verbose_option
def list_(store: Path | None, as_json: bool) -> None:
    """Show the trusted owners (and revoked fingerprints) of the store."""
    from enfo_sdk import trust as trust_api

    path = _store(store)
    keys, revoked = trust_api.entries(path), trust_api.revocations(path)
    if as_json:
        body = {"store": str(path), "revoked": revoked, "trusted": [
            {"name": e.name, "fingerprint": e.fingerprint, "expires": _when(e.expires) if e.expires else None,
             "expired": e.expired(), "comment": e.comment} for e in keys]}
        click.echo(json.dumps(body, indent=2))
        return
    if not keys and not revoked:
        click.echo(f"no trusted owners in {path}; add one with: enfo-partner trust add OWNER.pub --name NAME")
        return
    click.echo(f"{path}:")
    width = max([len(e.name) for e in keys] + [4])
    for e in keys:
        state = "EXPIRED " + _when(e.expires) if e.expired() else f"until {_when(e.expires)}"
        click.echo(f"  {e.name:<{width}}  {e.fingerprint}  {state}")
    for keyid, note in revoked.items():
        click.echo(f"  {'-':<{width}}  {keyid}  revoked {note}".rstrip())


@trust.command()
@click.argument("name")
@store_option
@verbose_option
def remove(name: str, store: Path | None) -> None:
    """Stop trusting the owner key named NAME."""
    from enfo_sdk import trust as trust_api

    path = _store(store)
    entry = trust_api.remove(path, name)
    click.echo(f"removed {entry.name} ({entry.fingerprint}) from {path}")


@trust.command()
@click.argument("fingerprint")
@click.option("--note", default="", help="Why (kept on the revocation line).")
@store_option
@verbose_option
def revoke(fingerprint: str, note: str, store: Path | None) -> None:
    """Distrust the key with FINGERPRINT for good (it cannot be added back by `trust add`)."""
    from enfo_sdk import trust as trust_api

    path = _store(store)
    entry = trust_api.revoke(path, fingerprint, note=note)
    was = f" (was trusted as {entry.name})" if entry is not None else ""
    click.echo(f"revoked {fingerprint}{was} in {path}")
