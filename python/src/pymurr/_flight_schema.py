"""A table's schema from what murr's Flight service answers: every FlightInfo (GetFlightInfo,
ListFlights) carries the table's schema JSON in ``app_metadata``, the same text as
``GET /api/v1/table/{name}/schema`` (the form the table was created in: key columns and
``strict`` flags included), next to the Arrow schema, which cannot say which columns form a
form-3 table's key. A server that leaves ``app_metadata`` empty (murr 0.3.1, or murr before
it carried it) cannot describe a table over Flight alone: the caller says to pass
``http_endpoint=``.

pyarrow exposes ``FlightInfo.app_metadata`` from version 15 on; where it does not, the
field is read from the FlightInfo's protobuf bytes (``serialize()``, field 7).
"""
from __future__ import annotations

from typing import Optional

import pyarrow.flight as fl

_APP_METADATA = 7  # FlightInfo.app_metadata (Flight.proto)


def _varint(b: bytes, i: int) -> "tuple[int, int]":
    v = shift = 0
    while True:
        if i >= len(b) or shift > 63:
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _field(msg: bytes, number: int) -> Optional[bytes]:
    """The last length-delimited field `number` of a protobuf message, or None."""
    i, found = 0, None
    while i < len(msg):
        key, i = _varint(msg, i)
        wire = key & 7
        if wire == 0:
            _, i = _varint(msg, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = _varint(msg, i)
            if i + n > len(msg):
                raise ValueError("truncated field %d" % (key >> 3))
            if key >> 3 == number:
                found = msg[i:i + n]
            i += n
        else:
            raise ValueError("protobuf wire type %d" % wire)
    return found


def schema_json(info: fl.FlightInfo) -> Optional[str]:
    """The schema JSON a murr FlightInfo carries, or None when its app_metadata is empty."""
    meta = getattr(info, "app_metadata", None)
    if meta is None:
        meta = _field(info.serialize(), _APP_METADATA)
    if not meta:
        return None
    return bytes(meta).decode("utf-8")
