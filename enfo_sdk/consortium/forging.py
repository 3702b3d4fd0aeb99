"""Forging a planned consortium: each member forges its planned rows for one agreed key.

docs/consortium.md, section 6. A plan (``plan.json`` from ``enfo-owner consortium plan``)
fixes how many rows each member forges; the members must all forge for the *same* key spec
(algorithm, hyperparameters, preprocessing and column encoding), or a partner cannot train one
key on the union of their bundles. :func:`forge_members` runs each given member's own
contract (its data, its signing key, its forging settings) with ``forge.rows`` replaced by its
planned rows and the key fixed to the agreed spec. The agreed spec is read from ``key_spec``
(JSON, :class:`enfo_sdk.spec.KeySpec`) when that file exists; otherwise the first member
given encapsulates the key on its training rows and the spec is written there (never
overwriting), so that members on other machines forge with ``--key-spec`` the same file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["MemberForge", "planned_rows", "forge_members"]


@dataclass(frozen=True)
class MemberForge:
    """One member's forge: its name, planned rows and the run (None when it forges no rows)."""

    name: str
    rows: int
    run: Any


def planned_rows(plan_path: str | Path) -> dict[str, int]:
    """Member name -> whole rows to forge, from a plan.json."""
    path = Path(plan_path)
    try:
        plan = json.loads(path.read_text())
        return {m["name"]: int(m["rows"]) for m in plan["members"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a consortium plan ({e})") from e


def forge_members(plan_path: str | Path, members: dict[str, str | Path], *, key_spec: str | Path,
                  progress=None) -> list[MemberForge]:
    """Forge each member's planned rows with its contract and the agreed key spec.

    Parameters
    ----------
    plan_path : path
        plan.json of ``enfo-owner consortium plan``.
    members : dict of str to path
        Member name (as in the plan) -> that member's contract.
    key_spec : path
        The agreed KeySpec as JSON: read if it exists, else written after the first member's
        encapsulation.
    progress : callable, optional
        ``progress(phase, fraction)`` as for :func:`enfo_sdk.workflows.forge_run.run_forge`.

    Returns
    -------
    list of MemberForge
        In the order given; members planned at 0 rows are listed with ``run=None``.
    """
    from ..contract import load_contract
    from ..fs import write_bytes_atomic
    from ..spec import KeySpec
    from ..workflows.forge_run import run_forge

    rows = planned_rows(plan_path)
    unknown = sorted(set(members) - set(rows))
    if unknown:
        raise ConfigError(f"{plan_path}: no member(s) {', '.join(unknown)} in the plan "
                          f"(members: {', '.join(rows)})")
    key_spec = Path(key_spec)
    spec = None
    if key_spec.exists():
        try:
            spec = KeySpec.model_validate_json(key_spec.read_text())
        except ValueError as e:
            raise ConfigError(f"{key_spec}: not a key spec ({e})") from e
    done = []
    for name, contract_path in members.items():
        n = rows[name]
        if n == 0:
            done.append(MemberForge(name, 0, None))
            continue
        contract = load_contract(contract_path)
        contract = contract.model_copy(update={"forge": contract.forge.model_copy(update={"rows": n})})
        run = run_forge(contract, progress=progress, spec=spec)
        if spec is None:
            spec = run.spec
            write_bytes_atomic(key_spec, (spec.model_dump_json(indent=2) + "\n").encode(), overwrite=False)
        done.append(MemberForge(name, n, run))
    return done
