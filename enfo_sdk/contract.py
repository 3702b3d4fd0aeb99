"""The owner's contract file: what to forge, from which data, for which key, signed by whom.

A contract is a YAML file validated by the pydantic model :class:`Contract`
(``extra="forbid"`` everywhere, so a typo is an error rather than a silent default;
``version: 1``). :func:`load_contract` reads it, resolves relative paths against the
contract's own folder and turns every problem into one :class:`~enfo_sdk.errors.ConfigError`
naming the file, the line, the key path (``forge.rows``) and the bad value.

Settings left out fall back to the library's defaults (:func:`enfo_sdk.encapsulate`,
:func:`enfo_sdk.forge`), so the contract never carries a second copy of them.

Example (``examples/friedman3/key.yaml``)::

    # yaml-language-server: $schema=../../schemas/contract.schema.json
    version: 1
    data: {source: builtin:friedman3, target: y, test_fraction: 0.5}
    key: {algorithm: nu-method}
    forge: {rows: 100, mode: rival, seed: 0}
    output: {bundle: out/friedman3.bundle.parquet}

The JSON Schema ``schemas/contract.schema.json`` is generated from this model by
``scripts/gen_schemas.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict, Field, PrivateAttr,
    WithJsonSchema, field_validator, model_validator,
)

from .contract_data import BUILTIN_PREFIX as _BUILTIN, MAX_SEED, DataSection, SqlSource
from .contract_data import Section as _Section
from .errors import ConfigError
from .yamlconfig import MAX_CONTRACT_BYTES, parse_yaml_model, read_config_text
from .signing import DEFAULT_KEY_PATH, OWNER_KEY_ENV, default_key_path
from .keys import get_key

__all__ = [
    "Contract", "DataSection", "SqlSource", "KeySection", "ForgeSection", "OutputSection",
    "SigningSection", "PartnerSection", "load_contract", "parse_contract", "parse_yaml_model", "read_config_text",
    "MAX_CONTRACT_BYTES",
    "DEFAULT_KEY_PATH", "OWNER_KEY_ENV", "default_key_path",
]

_SEARCH_VALUE_SCHEMA = {
    "anyOf": [
        {"type": "array", "items": {"type": "number"}, "minItems": 1},
        {"type": "number"},
        {
            "type": "object",
            "description": "nu-method iterations: score every count 1..max along one run",
            "properties": {"max": {"type": "integer", "minimum": 1}},
            "required": ["max"],
            "additionalProperties": False,
        },
    ]
}
SearchGrid = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {"type": "object", "additionalProperties": _SEARCH_VALUE_SCHEMA}, mode="validation"
    ),
]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_search_value(name: str, v: Any) -> Any:
    if _is_number(v):
        return v
    if isinstance(v, list) and v and all(_is_number(x) for x in v):
        return v
    if isinstance(v, dict) and set(v) == {"max"} and isinstance(v["max"], int) \
            and not isinstance(v["max"], bool) and v["max"] >= 1:
        return v
    raise ValueError(
        f"{name}: expected a number, a non-empty list of numbers, or {{max: T}} with a whole "
        f"number T >= 1, got {v!r}"
    )


class KeySection(_Section):
    """The key algorithm and how its hyperparameters are chosen (encapsulation)."""

    algorithm: str = Field(
        "nu-method", description="Registered key algorithm: nu-method, ols, ridge, krr."
    )
    version: int | None = Field(None, ge=1, description="Key version. Default: the newest.")
    search: SearchGrid | None = Field(
        None,
        description="Search grid per hyperparameter: a list of values, one fixed value, or "
        "{max: T} for the nu-method's iterations. Default: the key's own grid.",
        examples=[{"bandwidth": [0.5, 1, 2, 4], "iterations": {"max": 500}}],
    )
    cv: int | None = Field(
        None, ge=2, le=100, description="Cross-validation folds. Default: the library's (5)."
    )

    @field_validator("algorithm")
    @classmethod
    def _registered(cls, v: str) -> str:
        from .errors import UnknownAlgorithmError

        try:
            get_key(v)
        except UnknownAlgorithmError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("version")
    @classmethod
    def _registered_version(cls, v: int | None, info) -> int | None:
        from .errors import UnknownAlgorithmError

        if v is not None and "algorithm" in info.data:
            try:
                get_key(info.data["algorithm"], v)
            except UnknownAlgorithmError as e:
                raise ValueError(str(e)) from None
        return v

    @field_validator("search")
    @classmethod
    def _known_hyperparameters(cls, v, info):
        if not v or "algorithm" not in info.data:
            return v
        for name, values in v.items():
            _check_search_value(name, values)
        key = get_key(info.data["algorithm"], info.data.get("version"))
        from .errors import HyperparameterError
        from .keys.base import check_search_values
        known = [h.name for h in key.hyperparameters]
        unknown = [name for name in v if name not in known]
        if unknown:
            from .errors import unknown_names

            raise ValueError(
                f"unknown hyperparameter {unknown_names(unknown, known)} for key {key.name!r}; "
                f"allowed: {', '.join(known) or 'none'}"
            )
        try:
            check_search_values(key, v)
        except HyperparameterError as e:
            raise ValueError(str(e)) from None
        return v


#: ``forge`` settings that the owner's workflow applies after forging (not forge() arguments).
_WORKFLOW_ONLY = ("round_integers", "hard_labels", "rivalry")


class RivalrySection(_Section):
    """The rivalry check ``enfo-owner forge`` runs on the forged rows (docs/metrics.md)."""

    target: float = Field(
        1.2, gt=0, description="Best attacker's test RMSE over the key's below which forge warns."
    )
    seconds: float = Field(
        60.0, ge=0, description="Time after which no further attacker starts (0: no attackers)."
    )
    max_key_cost: float | None = Field(
        None, gt=0, lt=1, description="The rival dial's budget, and setting it turns the dial on "
        "(mode rival, regression keys): after forging, candidate rows (forging continued with the "
        "rival term at a few weights, the targets moved along the direction the key sees least) "
        "within this rise of the key's validation RMSE (0.03: 3%) are scored by the attackers on "
        "the validation split, and the most rival one whose gain a paired bootstrap confirms is "
        "kept; forge says plainly when target is not met (docs/keys.md, 'Rival dial'). Unset: "
        "0.03 when dial is on or small."
    )
    dial: Literal["auto", "on", "off", "small"] = Field(
        "auto", description="The rival dial: auto (default) runs it when max_key_cost is set; "
        "small runs it on tables whose validation split has fewer than 250 rows (mode rival, "
        "regression, rows in memory; there it stops when the forged rows already meet target on "
        "the validation split, and the small-table refit is off because the dial scores on that "
        "split); on runs it always, off never (docs/keys.md, 'Rival dial')."
    )

    @field_validator("dial", mode="before")
    @classmethod
    def _bare_on_off(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare on / off as true / false: what the owner wrote is "on" / "off"
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="after")
    def _dial_needs_attackers(self) -> "RivalrySection":
        if self.explicit_dial and self.seconds <= 0:
            raise ValueError("the rival dial (max_key_cost, dial: on) needs attackers to score it: "
                             "seconds must be > 0")
        if self.dial == "off" and self.max_key_cost is not None:
            raise ValueError("max_key_cost is the rival dial's budget, but dial is off: drop one of them")
        return self

    @property
    def scores_on_validation(self) -> bool:
        """Whether the dial may run and score on forging's validation split (so the small-table
        refit, which forges again on that split, must stay off)."""
        return self.explicit_dial or self.dial == "small"

    @property
    def explicit_dial(self) -> bool:
        """Whether the contract asks for the dial whatever the table (max_key_cost set, or dial: on)."""
        return self.dial == "on" or (self.dial == "auto" and self.max_key_cost is not None)


class ForgeSection(_Section):
    """Forging settings; those left out take :func:`enfo_sdk.forge`'s defaults."""

    rows: int = Field(ge=1, le=1_000_000, description="Synthetic rows to forge (m << n).")
    mode: Literal["rival", "augment", "adaptable"] | None = Field(
        None, description="rival (default), augment (mixable with outside data) or adaptable."
    )
    steps: int | None = Field(None, ge=1, le=10_000_000, description="Maximum optimisation steps.")
    batch_size: int | None = Field(None, ge=1, le=10_000_000, description="Owner rows per step.")
    lr: float | None = Field(None, gt=0, le=100, description="Adam learning rate (standardized units); default 0.01 x the key's bandwidth.")
    init: Literal["kmeans", "sample", "noise"] | None = Field(
        None, description="Starting rows: kmeans (default), sample or noise."
    )
    class_loss: Literal["squared", "cross_entropy"] | None = Field(
        None, description="Classification keys: the forging loss on the owner's rows -- squared "
        "(default; on the one-hot labels) or cross_entropy (on the temperature-scaled scores)."
    )
    min_per_class: int | None = Field(
        None, ge=0, description="Classification keys: every class gets at least this many forged "
        "rows, whose labels then stay fixed (default 0: at least one each, labels forged too)."
    )
    validation: float | None = Field(
        None, gt=0, lt=1, description="Fraction of training rows held out for early stopping."
    )
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Seed of the forging run.")
    eval_every: int | None = Field(None, ge=1, description="Steps between evaluations.")
    patience: int | None = Field(
        None, ge=1, description="Evaluations without improvement before stopping early."
    )
    selection: Literal["auto", "validation", "one_se", "pooled"] | None = Field(
        None, description="Which evaluation's forged rows are kept: auto (default: one_se when the "
        "validation split has fewer than 250 rows, else validation), validation (the lowest "
        "validation error), one_se (the earliest within one standard error of the lowest) or "
        "pooled (the lowest error on all owner rows); docs/keys.md."
    )
    start_targets: Literal["auto", "own", "predicted"] | None = Field(
        None, description="The starting rows' targets: auto (default: key for a regression key "
        "when the validation split has fewer than 250 rows, else own), own (the k-means "
        "centroid's mean target, or the sampled row's) or predicted (the key's predictions there, the "
        "key fitted on the rows forging learns from); docs/keys.md."
    )
    refit: bool | None = Field(
        None, description="Forge the rows once more on every owner row (the validation split "
        "given back) for the steps selection chose, and keep those. Default: on for a regression "
        "predicted when the validation split has fewer than 250 rows (off with forge.rivalry."
        "max_key_cost, whose check needs the split unseen); docs/keys.md."
    )
    polish: bool | None = Field(
        None, description="Solve the kept rows' targets exactly for their features: without a "
        "refit a ridge least-squares on the owner's training labels (weight and keep-or-not chosen "
        "on the validation split), after a refit toward the key's own fit on every owner row "
        "(weight chosen by 5-fold cross-validation). Default: on for a regression key in mode "
        "rival without rival_weight (on a streamed source the labels are its seeded sample); docs/keys.md."
    )
    alignment_weight: float | None = Field(
        None, ge=0, description="Weight of the Sinkhorn alignment term (mode augment)."
    )
    adaptability_weight: float | None = Field(
        None, ge=0, description="Weight of the self-fit term (mode adaptable)."
    )
    rival_weight: float | None = Field(
        None, ge=0, description="Mode rival only: weight of the term that raises a surrogate "
        "attacker's error (docs/keys.md, 'Rival strength'). Default 0, the paper's objective."
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="Steps between checkpoints (when output.checkpoint is set or "
        "forging runs with --resume). Default: the library's (100)."
    )
    rivalry: RivalrySection = Field(
        default_factory=RivalrySection, description="The rivalry check after forging: target "
        "ratio and time budget of the attackers."
    )
    round_integers: bool = Field(
        False, description="Round forged values of integer columns (and an integer target) to "
        "whole numbers at the end; the key's cost is measured and reported."
    )
    hard_labels: bool = Field(
        False, description="Classification keys: give each forged row one class (its most likely) "
        "at the end, one-hot; the key's cost is measured and reported (forged_soft)."
    )

    @model_validator(mode="after")
    def _dial_mode(self) -> "ForgeSection":
        if self.rivalry.explicit_dial and self.mode not in (None, "rival"):
            raise ValueError(f"rivalry.max_key_cost / rivalry.dial: on (the rival dial) applies to mode "
                             f"rival only, not {self.mode!r}")
        return self

    def forge_kwargs(self) -> dict[str, Any]:
        """The settings given, as keyword arguments of :func:`enfo_sdk.forge`."""
        return {k: v for k, v in self.model_dump().items() if v is not None and k not in _WORKFLOW_ONLY}

    def settings(self, **overrides: Any):
        """The section as a :class:`enfo_sdk.forging.settings.ForgeSettings` (defaults for the
        settings left out), with ``overrides`` applied."""
        from .forging.settings import ForgeSettings

        return ForgeSettings.build(**{**self.forge_kwargs(), **overrides})


class OutputSection(_Section):
    """Where results go (relative paths resolve against the contract's folder)."""

    bundle: str = Field(description="The signed bundle (a Parquet file) to write.")
    report: str | None = Field(
        None, description="Optional JSON file with the run's summary and forging history."
    )
    checkpoint: str | None = Field(
        None, description="Forging checkpoint (.npz, no pickle), written during forging; "
        "`enfo-owner forge --resume` continues from it. Default with --resume: the bundle "
        "path followed by .checkpoint.npz."
    )
    overwrite: bool = Field(
        False, description="Replace outputs that already exist (as `enfo-owner forge --force` "
        "does). Without it an existing bundle, report or checkpoint stops the run before any work."
    )
    seal_to: str | None = Field(
        None, min_length=1, description="The partner's public sealing key file (`enfo-x25519 ...`, made by "
        "`enfo-partner keygen`). The key's hyperparameters, preprocessing and probe points are then "
        "sealed to it inside the signed manifest (bundle format v4): anyone can check the signature, "
        "only that partner can rebuild the key."
    )

    @field_validator("bundle")
    @classmethod
    def _parquet(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name a file")
        return v


class SigningSection(_Section):
    """The owner's signing key and name."""

    key: str | None = Field(
        None,
        description=f"Ed25519 private key (PKCS8 PEM). Default: ${OWNER_KEY_ENV} or "
        f"{DEFAULT_KEY_PATH}, created there on first use.",
    )
    owner: str | None = Field(
        None, min_length=1, description="Owner name written to the manifest. Default: the "
        "login name."
    )
    passphrase_env: str = Field(
        "ENFO_KEY_PASSPHRASE",
        description="Environment variable holding the key's passphrase (encrypted keys).",
    )


class PartnerSection(_Section):
    """The partner a bundle is forged for (optional)."""

    name: str = Field(min_length=1, description="Partner name; verification checks it.")
    public_key: str | None = Field(None, description="The partner's public key file.")
    expires_in_days: int | None = Field(
        None, ge=1, le=36_500, description="The bundle expires this many days after forging."
    )
    expires_at: str | None = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$",
        description="The bundle expires at this instant: an ISO date (its 00:00 UTC) or date-time "
        "(2027-06-30T18:00:00+02:00; without an offset, UTC), as in a licence's end date. In the "
        "future and at most 36,500 days ahead when forging starts; not with expires_in_days.",
    )

    @field_validator("expires_at", mode="before")
    @classmethod
    def _yaml_timestamp(cls, v: Any) -> Any:
        """YAML reads an unquoted 2027-06-30 as a date (and a time stamp as a datetime)."""
        import datetime as _dt

        if isinstance(v, _dt.datetime):
            return v.isoformat()
        if isinstance(v, _dt.date):
            return v.isoformat()
        return v

    @field_validator("expires_at")
    @classmethod
    def _instant(cls, v: str | None) -> str | None:
        if v is not None:
            cls.expiry_instant(v)
        return v

    @model_validator(mode="after")
    def _one_expiry(self) -> "PartnerSection":
        if self.expires_in_days is not None and self.expires_at is not None:
            raise ValueError("give expires_in_days or expires_at, not both")
        return self

    @staticmethod
    def expiry_instant(text: str, now=None):
        """``expires_at`` as an aware UTC datetime, checked to lie in (now, now + 36,500 days]."""
        from datetime import datetime, timedelta, timezone

        from .errors import SigningError
        from .signing import parse_expiry

        try:
            when = parse_expiry(text)
        except SigningError as e:
            raise ValueError(str(e)) from None
        now = now or datetime.now(timezone.utc)
        if when <= now:
            raise ValueError(f"{text} is not in the future (now {now.isoformat(timespec='seconds')})")
        if when > now + timedelta(days=36_500):
            raise ValueError(f"{text} is more than 36,500 days ahead")
        return when


class Contract(_Section):
    """An EnFo owner contract, version 1."""

    model_config = ConfigDict(extra="forbid", strict=True, title="EnFo contract")

    version: Literal[1] = Field(description="Contract format version.")
    data: DataSection
    key: KeySection = Field(default_factory=KeySection)
    forge: ForgeSection
    output: OutputSection
    signing: SigningSection = Field(default_factory=SigningSection)
    partner: PartnerSection | None = None

    _file: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _dial_in_memory(self) -> "Contract":
        if self.data.stream and self.forge.rivalry.explicit_dial:
            raise ValueError("forge.rivalry.max_key_cost / forge.rivalry.dial: on (the rival dial) needs "
                             "the owner's rows in memory, and data.stream streams them: drop one of them")
        return self

    @property
    def file(self) -> Path | None:
        """The file the contract was loaded from (None when built in Python)."""
        return self._file

    def where(self, key_path: str) -> str:
        """``file: key.path`` for messages."""
        return f"{self._file}: {key_path}" if self._file is not None else key_path

    def resolved(self, base: str | Path) -> "Contract":
        """A copy whose relative paths are made absolute against ``base`` (``~`` expanded)."""
        base = Path(base)

        def fix(p: str | None, resolve: bool = True) -> str | None:
            if p is None:
                return None
            q = Path(p).expanduser()
            if not resolve:  # outputs: a symbolic link must stay visible to be refused
                return os.path.abspath(q if q.is_absolute() else base / q)
            return str(q if q.is_absolute() else (base / q).resolve())

        d = self.model_dump(exclude_unset=True, exclude_none=False)
        src = self.data.source
        if isinstance(src, SqlSource):
            from .data.sql import resolve_connection

            d["data"]["source"]["connection"] = resolve_connection(src.connection, base)
        elif not src.startswith(_BUILTIN):
            d["data"]["source"] = fix(src)
        d["output"]["bundle"] = fix(self.output.bundle, resolve=False)
        if self.output.report is not None:
            d["output"]["report"] = fix(self.output.report, resolve=False)
        if self.output.checkpoint is not None:
            d["output"]["checkpoint"] = fix(self.output.checkpoint, resolve=False)
        if self.output.seal_to is not None:
            d["output"]["seal_to"] = fix(self.output.seal_to)
        if self.signing.key is not None:
            d.setdefault("signing", {})["key"] = fix(self.signing.key)
        if self.partner is not None and self.partner.public_key is not None:
            d["partner"]["public_key"] = fix(self.partner.public_key)
        out = type(self).model_validate(d)
        out._file = self._file
        return out


# -- loading -----------------------------------------------------------------------------------
def parse_contract(text: str, file: str | Path = "<contract>") -> Contract:
    """Parse contract text (YAML); paths are left as written.

    Raises
    ------
    ConfigError
        On a YAML syntax error (with line and column), a non-mapping document, or any schema
        violation (every one listed, each with line, key path and value).
    """
    return parse_yaml_model(
        text, Contract, file, what="contract",
        keys="version, data, key, forge, output, ...",
    )


def load_contract(path: str | Path) -> Contract:
    """Read and validate a contract file; relative paths resolve against its folder.

    Parameters
    ----------
    path : str or pathlib.Path
        The YAML contract.

    Returns
    -------
    Contract
        With absolute paths (``~`` expanded) and :attr:`Contract.file` set.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not valid YAML, or does not match the schema; the
        message names the file, the line, the key path and the bad value.
    """
    path = Path(path)
    contract = parse_contract(read_config_text(path, "contract"), path)
    contract._file = path
    return contract.resolved(path.resolve().parent)
