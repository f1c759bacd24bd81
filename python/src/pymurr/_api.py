"""The calls every mode shares, written once over the mode's primitive operations."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from . import _arrow


class ClientBase:
    """What the embedded database and the clients share beyond their transport."""

    _keys: Dict[str, List[str]]
    # defined by each mode: get_schema(name) -> TableSchema, read(table, keys, columns) -> pa.Table, close()

    def read_numpy(self, table: str, keys: _arrow.KeysLike, columns: Sequence[str]) -> Dict[str, Any]:
        """``read`` then ``to_numpy``: ``{"_idx": ..., column: array}``."""
        return _arrow.to_numpy(self.read(table, keys, columns))  # type: ignore[attr-defined]

    def _key_columns(self, table: str) -> List[str]:
        k = self._keys.get(table)
        if k is None:
            k = self.get_schema(table).key_columns  # type: ignore[attr-defined]
            self._keys[table] = k
        return k

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()  # type: ignore[attr-defined]
