"""The table schema model of the PyPI ``murr`` 0.3.1 client (``murr.client.schema``).

``TableSchema`` and ``ColumnSchema`` have the same fields, defaults and methods
(``model_validate``, ``model_dump``, ``model_dump_json``, ``key_columns``) as the client's
pydantic models, without depending on pydantic. Every call that takes a schema also takes
one of the client's own models or a plain dict in either schema JSON form:
form 3 ``{"columns": {name: {"dtype", "nullable", "key", "strict"}}}`` or
form 2 ``{"key": name, "columns": {name: {"dtype", "nullable", "strict"}}}``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Mapping, Optional, Union


class DType(str, Enum):
    UTF8 = "utf8"
    BOOL = "bool"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    # embedding vectors (murr's decision 0012; not in the PyPI 0.3.1 client's enum)
    LIST_FLOAT32 = "list<float32>"
    LIST_FLOAT16 = "list<float16>"
    LIST_INT8 = "list<int8>"


_COLUMN_FIELDS = ("dtype", "nullable", "key", "strict", "dim")


@dataclass
class ColumnSchema:
    """A single table column.

    Key columns must be non-nullable and of a utf8 or integer dtype. A strict column only
    accepts writes which cannot change a value: set ``strict=False`` to allow lossy casts
    such as float64 into a float32 column. A list column (an embedding) has a fixed
    ``dim`` (elements per row) or none (variable length); ``dim`` is dumped only when set,
    so a schema without lists is the PyPI client's JSON.
    """

    dtype: DType
    nullable: bool = True
    key: bool = False
    strict: bool = True
    dim: Optional[int] = None

    def __post_init__(self) -> None:
        self.dtype = DType(self.dtype)

    @classmethod
    def model_validate(cls, obj: Any) -> "ColumnSchema":
        if isinstance(obj, ColumnSchema):
            return obj
        if not isinstance(obj, Mapping):
            obj = _dump(obj)
        extra = set(obj) - set(_COLUMN_FIELDS)
        if extra:
            raise ValueError("column schema: unknown field(s) %s" % sorted(extra))
        return cls(**dict(obj))

    def model_dump(self, mode: str = "json") -> Dict[str, Any]:
        out: Dict[str, Any] = {"dtype": self.dtype.value, "nullable": self.nullable, "key": self.key,
                               "strict": self.strict}
        if self.dim is not None:
            out["dim"] = self.dim
        return out


@dataclass
class TableSchema:
    """Table columns in order. Several key columns form a compound key."""

    columns: Dict[str, ColumnSchema] = field(default_factory=dict)

    @property
    def key_columns(self) -> List[str]:
        return [name for name, column in self.columns.items() if column.key]

    @classmethod
    def model_validate(cls, obj: Any) -> "TableSchema":
        """From a dict in form 3 or form 2 (whose top-level ``key`` becomes ``key=True``),
        a ``TableSchema`` or the PyPI client's model."""
        if isinstance(obj, TableSchema):
            return obj
        if not isinstance(obj, Mapping):
            obj = _dump(obj)
        extra = set(obj) - {"columns", "key"}
        if extra:
            raise ValueError("table schema: unknown field(s) %s" % sorted(extra))
        key = obj.get("key")
        columns = {}
        for name, col in obj["columns"].items():
            c = ColumnSchema.model_validate(col)
            if key is not None and name == key:
                c = ColumnSchema(c.dtype, c.nullable, True, c.strict, c.dim)
            columns[name] = c
        return cls(columns)

    @classmethod
    def model_validate_json(cls, text: Union[str, bytes]) -> "TableSchema":
        return cls.model_validate(json.loads(text))

    def model_dump(self, mode: str = "json") -> Dict[str, Any]:
        return {"columns": {n: c.model_dump() for n, c in self.columns.items()}}

    def model_dump_json(self) -> str:
        return json.dumps(self.model_dump(), separators=(",", ":"))


SchemaLike = Union[TableSchema, Mapping[str, Any], Any]


def _dump(obj: Any) -> Dict[str, Any]:
    """A pydantic model (the PyPI client's) as a plain dict."""
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        raise TypeError("expected a TableSchema, a murr.client.TableSchema or a dict, got %s" % type(obj).__name__)
    return dump(mode="json")


def schema_json(schema: SchemaLike) -> str:
    """The JSON text sent to the engine or server: a plain dict as given (either form, so a
    form-2 dict creates a form-2 table), a model in form 3."""
    if isinstance(schema, Mapping):
        return json.dumps(schema, separators=(",", ":"), default=lambda v: v.value)
    return TableSchema.model_validate(schema).model_dump_json()
