"""Strict YAML configs (the contract, the consortium file): reading, parsing and the error style.

:func:`parse_yaml_model` validates a YAML document against a strict pydantic model and turns
every problem into one :class:`~enfo_sdk.errors.ConfigError` naming the file, the line, the
dotted key path and the bad value, with a did-you-mean for unknown keys. The loader refuses a
key given twice in one mapping and reads ``1e308`` without a dot as a number (YAML 1.2).
:func:`read_config_text` reads a config file's text within a size bound.

Moved out of :mod:`enfo_sdk.contract` (which re-exports both public functions) so that the
contract module holds the contract's model only.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

__all__ = ["MAX_CONTRACT_BYTES", "parse_yaml_model", "read_config_text"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def _construct_timestamp(loader: _UniqueKeyLoader, node: yaml.ScalarNode):
    """PyYAML's timestamp, with an impossible date (2027-02-30) a YAML error at its line, not a
    ValueError traceback."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as e:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a valid date ({e})", node.start_mark
        ) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
# YAML 1.1 (PyYAML) reads ``1e308`` or ``1e-3`` without a dot as a *string*; YAML 1.2 and
# every user read them as numbers, and so do we.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _line_index(text: str) -> dict[tuple, int]:
    """Map each key path (tuple of keys/indices) to its 1-based line in the YAML text."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple, int] = {}

    def walk(node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = path + (k.value,)
                lines[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                lines[path + (i,)] = v.start_mark.line + 1
                walk(v, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _field_names(loc: tuple, root: type[BaseModel]) -> list[str]:
    """Allowed keys of the section a location points into (for typo hints)."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list of sections: same model
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)]
        model = next((a for a in candidates if issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields) if isinstance(model, type) else []


_UNION_TAG = re.compile(r"[\[\]]|^(int|float|str|bool|none|dict|list)$")


def _describe(err: dict, lines: dict[tuple, int], file: str, root: type[BaseModel]) -> tuple[int, str]:
    """(line, message) for one pydantic error."""
    loc = tuple(err["loc"])
    # pydantic appends union member tags to the location (e.g. 'list[int]'); drop them
    clean = tuple(p for p in loc if isinstance(p, int) or not _UNION_TAG.search(str(p)))
    where = _dotted(clean)
    line = None
    for n in range(len(clean), 0, -1):
        if clean[:n] in lines:
            line = lines[clean[:n]]
            break
    place = f"{file}:{line}" if line else file
    return line or 0, f"{place}: {where}: {_message(err, clean, root)}"


def _message(err: dict, clean: tuple, root: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _field_names(clean, root)
        hint = difflib.get_close_matches(str(clean[-1]), allowed, n=1)
        msg = f"unknown key {str(clean[-1])!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        elif allowed:
            msg += f"; allowed here: {', '.join(allowed)}"
        return msg
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":  # our validators' messages name the value themselves
        return err["msg"].removeprefix("Value error, ")
    return f"{err['msg']}, got {err.get('input')!r}"


def parse_yaml_model(text: str, model: type[BaseModel], file: str | Path, *, what: str, keys: str):
    """Validate YAML text against a strict pydantic model, with the contract's error style.

    Used by the contract and by other YAML configs (e.g. the consortium's). Duplicate keys,
    YAML syntax errors and schema violations raise one :class:`ConfigError` naming the file,
    the line, the dotted key path and the bad value (with a did-you-mean for unknown keys).

    Parameters
    ----------
    text : str
        The YAML document.
    model : type of pydantic.BaseModel
        The root model.
    file : str or pathlib.Path
        Named in messages.
    what : str
        What the document is ("contract"), for messages.
    keys : str
        Its top-level keys, for the message when the document is not a mapping.
    """
    file = str(file)
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        detail = f"{context}, {problem}" if context and problem else problem
        raise ConfigError(f"{where}: invalid YAML: {detail}") from e
    if raw is None:
        raise ConfigError(f"{file}: the {what} is empty")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{file}: a {what} is a mapping of keys ({keys}), got a {type(raw).__name__}"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        lines = _line_index(text)
        found = sorted(_describe(err, lines, file, model) for err in e.errors())
        messages = list(dict.fromkeys(msg for _, msg in found))
        head = messages[0] if len(messages) == 1 else (
            f"{file}: {len(messages)} problems:\n  " + "\n  ".join(messages)
        )
        raise ConfigError(head) from e


#: Largest contract file read (a contract is a page of YAML; anything larger is a mistake).
MAX_CONTRACT_BYTES = 1 << 20


def read_config_text(path: Path, what: str) -> str:
    """A config file's text (a contract, a consortium file): a regular file of at most
    :data:`MAX_CONTRACT_BYTES`, UTF-8 (a byte-order mark allowed); anything else is a
    :class:`ConfigError` naming it."""
    from .fs import read_bounded

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} file not found: {path}")
    raw = read_bounded(path, MAX_CONTRACT_BYTES, what=f"{what} file", error=ConfigError)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read {what} file {path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
