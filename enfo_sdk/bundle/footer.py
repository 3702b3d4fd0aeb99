"""Reading a Parquet footer without trusting it: framing, size limits, a strict Thrift decoder.

A Parquet file is ``PAR1 <column data> <footer> <footer length: u32 LE> PAR1``; the footer
is a ``FileMetaData`` struct in Thrift's compact protocol. We decode it here, in plain
Python, instead of asking pyarrow: pyarrow turns the footer's ``ARROW:schema`` entry into an
Arrow schema as soon as a file is opened (even by ``pyarrow.parquet.read_metadata``), and
that deserialises any registered Arrow extension type -- which, for user-registered types,
can mean ``pickle.loads`` on bytes from the file. Only after this module has shown that the
footer holds nothing but the envelope may pyarrow open the file.

The decoder is generic (every struct becomes ``{field id: value}``) and strict: bounded
nesting depth, collection sizes bounded by the bytes left, duplicate field ids refused (one
parser must not see a different footer than another), and trailing bytes refused.

Fields used (parquet-format ``parquet.thrift``): FileMetaData 2 schema, 3 num_rows,
5 key_value_metadata, 8 encryption_algorithm; SchemaElement 1 type, 3 repetition_type,
4 name, 5 num_children, 6 converted_type, 10 logicalType; KeyValue 1 key, 2 value.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BundleFormatError, BundleTooLargeError, NotParquetError, TruncatedBundleError

MAGIC = b"PAR1"
ENCRYPTED_MAGIC = b"PARE"

#: Parquet physical type numbers (parquet.thrift ``Type``)
PHYSICAL_TYPES = {
    0: "BOOLEAN", 1: "INT32", 2: "INT64", 3: "INT96", 4: "FLOAT", 5: "DOUBLE",
    6: "BYTE_ARRAY", 7: "FIXED_LEN_BYTE_ARRAY",
}
DOUBLE = 5
REPETITIONS = {0: "REQUIRED", 1: "OPTIONAL", 2: "REPEATED"}

__all__ = ["Footer", "FooterColumn", "Limits", "DEFAULT_LIMITS", "parse_footer", "read_bounded"]


@dataclass(frozen=True)
class Limits:
    """Size limits applied before anything in a file is parsed.

    Attributes
    ----------
    max_file_bytes : int
        Whole file (default 2 GiB); the file is read into memory once, so that what is
        verified is exactly what is decoded.
    max_footer_bytes : int
        Parquet footer (default 16 MiB).
    max_envelope_bytes : int
        The ``enfo.envelope`` JSON (default 4 MiB).
    """

    max_file_bytes: int = 2 * 1024**3
    max_footer_bytes: int = 16 * 1024**2
    max_envelope_bytes: int = 4 * 1024**2


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class FooterColumn:
    """One leaf of the Parquet schema, as the footer describes it."""

    name: str
    physical_type: int | None
    repetition: int | None
    converted_type: int | None
    has_logical_type: bool

    @property
    def type_name(self) -> str:
        return PHYSICAL_TYPES.get(self.physical_type, f"type {self.physical_type}")


@dataclass(frozen=True)
class Footer:
    """What verification needs from a Parquet footer (nothing here is trusted yet)."""

    num_rows: int
    columns: list[FooterColumn]
    nested: bool
    key_value: list[tuple[str, bytes | None]] = field(default_factory=list)
    size: int = 0

    def entries(self, key: str) -> list[bytes | None]:
        return [v for k, v in self.key_value if k == key]


# -- framing ----------------------------------------------------------------------------------
def read_bounded(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The whole file, refusing anything over ``limits.max_file_bytes`` before reading it."""
    from ..fs import read_bounded as _read

    return _read(path, limits.max_file_bytes, what="bundle", error=BundleFormatError,
                 too_large=BundleTooLargeError)


def parse_footer(raw: bytes, name: str = "file", limits: Limits = DEFAULT_LIMITS) -> Footer:
    """Check the Parquet framing and decode the footer of the file bytes ``raw``.

    Raises
    ------
    NotParquetError, TruncatedBundleError, BundleTooLargeError, BundleFormatError
    """
    n = len(raw)
    if not raw.startswith(MAGIC):
        if raw.startswith(ENCRYPTED_MAGIC) or raw.endswith(ENCRYPTED_MAGIC):
            raise BundleFormatError(f"{name}: an encrypted-footer Parquet file; bundles are never encrypted")
        head = raw[:4]
        raise NotParquetError(
            f"{name}: not a Parquet file (a Parquet file starts with the bytes 'PAR1', this one "
            f"starts with {head!r}{', and is empty' if n == 0 else ''})"
        )
    if n < 12 or not raw.endswith(MAGIC):
        raise TruncatedBundleError(
            f"{name}: the file starts like Parquet but its end is missing ({n:,} bytes, no closing "
            "'PAR1' footer magic); it was probably cut off while copying -- fetch it again"
        )
    (footer_len,) = struct.unpack("<I", raw[-8:-4])
    if footer_len > limits.max_footer_bytes:
        raise BundleTooLargeError(
            f"{name}: the Parquet footer claims {footer_len:,} bytes, over the limit of "
            f"{limits.max_footer_bytes:,}"
        )
    if footer_len + 12 > n:
        raise TruncatedBundleError(
            f"{name}: the Parquet footer claims {footer_len:,} bytes but the file has only {n:,}; "
            "the file is truncated or damaged"
        )
    start = n - 8 - footer_len
    try:
        meta = _CompactReader(memoryview(raw)[start:n - 8]).read_message()
        return _interpret(meta, footer_len)
    except _ThriftError as e:
        raise BundleFormatError(f"{name}: the Parquet footer is corrupt ({e})") from None


def _interpret(meta: dict, size: int) -> Footer:
    if 8 in meta:
        raise _ThriftError("the file uses Parquet modular encryption, which bundles never do")
    schema = _get(meta, 2, list, "schema")
    num_rows = _get(meta, 3, int, "num_rows")
    if not schema:
        raise _ThriftError("empty schema")
    root = schema[0]
    if not isinstance(root, dict):
        raise _ThriftError("schema root is not a struct")
    leaves = schema[1:]
    nested = root.get(5) != len(leaves)
    columns = []
    for el in leaves:
        if not isinstance(el, dict):
            raise _ThriftError("schema element is not a struct")
        if el.get(5):
            nested = True
        columns.append(FooterColumn(
            name=_text(_get(el, 4, bytes, "schema element name")),
            physical_type=el.get(1),
            repetition=el.get(3),
            converted_type=el.get(6),
            has_logical_type=10 in el,
        ))
    kv = []
    for item in meta.get(5, []) or []:
        if not isinstance(item, dict):
            raise _ThriftError("key_value_metadata entry is not a struct")
        value = item.get(2)
        if value is not None and not isinstance(value, bytes):
            raise _ThriftError("key_value_metadata value is not a string")
        kv.append((_text(_get(item, 1, bytes, "key_value_metadata key")), value))
    if num_rows < 0:
        raise _ThriftError(f"negative row count {num_rows}")
    return Footer(num_rows=num_rows, columns=columns, nested=nested, key_value=kv, size=size)


def _get(struct_: dict, fid: int, kind: type, what: str):
    if fid not in struct_:
        raise _ThriftError(f"missing {what}")
    value = struct_[fid]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _ThriftError(f"{what} has the wrong type")
    return value


def _text(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _ThriftError(f"a name is not valid UTF-8 ({e})") from None


# -- Thrift compact protocol --------------------------------------------------------------------
class _ThriftError(Exception):
    pass


_BOOL_TRUE, _BOOL_FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_MAX_DEPTH = 32


class _CompactReader:
    """A strict decoder of Thrift's compact protocol (generic: structs become dicts)."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def read_message(self) -> dict:
        value = self._struct(0)
        if self.pos != len(self.buf):
            raise _ThriftError(f"{len(self.buf) - self.pos} unexpected bytes after the footer struct")
        return value

    def _byte(self) -> int:
        if self.pos >= len(self.buf):
            raise _ThriftError("unexpected end of the footer")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def _take(self, k: int) -> bytes:
        if k < 0 or self.pos + k > len(self.buf):
            raise _ThriftError("a length runs past the end of the footer")
        out = bytes(self.buf[self.pos:self.pos + k])
        self.pos += k
        return out

    def _varint(self) -> int:
        result = shift = 0
        for _ in range(10):
            b = self._byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
        raise _ThriftError("a varint is longer than 10 bytes")

    def _zigzag(self) -> int:
        v = self._varint()
        return (v >> 1) ^ -(v & 1)

    def _size(self, k: int, min_bytes_each: int = 1) -> int:
        if k * min_bytes_each > len(self.buf) - self.pos:
            raise _ThriftError(f"a collection of {k} elements cannot fit in the bytes left")
        return k

    def _value(self, t: int, depth: int, in_collection: bool = False):
        if t in (_BOOL_TRUE, _BOOL_FALSE):
            if not in_collection:
                return t == _BOOL_TRUE
            b = self._byte()
            if b not in (0, 1, 2):
                raise _ThriftError(f"bad boolean byte {b}")
            return b == 1
        if t == _BYTE:
            b = self._byte()
            return b - 256 if b > 127 else b
        if t in (_I16, _I32, _I64):
            return self._zigzag()
        if t == _DOUBLE:
            return struct.unpack("<d", self._take(8))[0]
        if t == _BINARY:
            return self._take(self._varint())
        if t in (_LIST, _SET):
            return self._list(depth + 1)
        if t == _MAP:
            return self._map(depth + 1)
        if t == _STRUCT:
            return self._struct(depth + 1)
        raise _ThriftError(f"unknown Thrift type {t}")

    def _list(self, depth: int) -> list:
        if depth > _MAX_DEPTH:
            raise _ThriftError("nesting too deep")
        header = self._byte()
        size, etype = header >> 4, header & 0x0F
        if size == 15:
            size = self._varint()
        self._size(size)
        return [self._value(etype, depth, in_collection=True) for _ in range(size)]

    def _map(self, depth: int) -> list:
        if depth > _MAX_DEPTH:
            raise _ThriftError("nesting too deep")
        size = self._size(self._varint(), 2)
        if size == 0:
            return []
        types = self._byte()
        kt, vt = types >> 4, types & 0x0F
        return [(self._value(kt, depth, True), self._value(vt, depth, True)) for _ in range(size)]

    def _struct(self, depth: int) -> dict:
        if depth > _MAX_DEPTH:
            raise _ThriftError("nesting too deep")
        out: dict[int, object] = {}
        last = 0
        while True:
            header = self._byte()
            if header == 0:
                return out
            delta, t = header >> 4, header & 0x0F
            fid = last + delta if delta else self._zigzag()
            if fid in out:
                raise _ThriftError(f"field {fid} appears twice in one struct")
            out[fid] = self._value(t, depth)
            last = fid
