"""Writes the seed corpus of fuzz/fuzz_flight.c into fuzz/corpus/flight/:
    build/venv/bin/python tests/e2e/flight_corpus.py
Connection seeds (first byte 0): the HTTP/2 preface, SETTINGS and one or more gRPC calls
built with flight_wire (literal HPACK headers, DATA frames). Message seeds (first byte odd):
gRPC-framed FlightData messages as DoPut sends them. Table "t" (id utf8, score float32?,
s utf8?) exists in the fuzzer's engine."""
import json
import sys
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flight_wire as fw  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "flight"
SCHEMA = pa.schema([("id", pa.string()), ("score", pa.float32()), ("s", pa.string())])
BATCH = pa.record_batch([pa.array(["a", "b", "c"]), pa.array([1.0, None, 3.0], pa.float32()),
                         pa.array(["x", None, "zz"])], schema=SCHEMA)


def call(stream, method, msgs, ctype="application/grpc", extra=(), compressed=False):
    hdrs = fw.request_headers(fw.SVC + method, content_type=ctype, extra=extra)
    out = fw.frame(fw.HEADERS, fw.END_HEADERS, stream, hdrs)
    body = b"".join(fw.grpc_frame(m, compressed) for m in msgs)
    return out + fw.frame(fw.DATA, fw.END_STREAM, stream, body)


def conn(*calls):
    return b"\x00" + fw.PREFACE + fw.frame(fw.SETTINGS, 0, 0, b"") + b"".join(calls)


def put_msgs(table="t", desc=None):
    h, _ = fw.ipc_parts(SCHEMA)
    return [fw.flight_data(header=h, desc=desc or fw.descriptor([table])), fw.flight_data(*fw.ipc_parts(BATCH))]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    ticket = fw.ticket(json.dumps({"table": "t", "keys": ["a", "b", "q"], "columns": ["score", "s"]}).encode())
    seeds = {
        "get_schema.bin": conn(call(1, "GetSchema", [fw.descriptor(["t"])])),
        "get_flight_info.bin": conn(call(1, "GetFlightInfo", [fw.descriptor(["t"])])),
        "list_flights.bin": conn(call(1, "ListFlights", [b""])),
        "do_get.bin": conn(call(1, "DoGet", [ticket])),
        "do_put.bin": conn(call(1, "DoPut", put_msgs()), call(3, "DoGet", [ticket])),
        "do_put_unknown_table.bin": conn(call(1, "DoPut", put_msgs("nope"))),
        "do_put_replace.bin": conn(call(1, "DoPut", put_msgs(desc=fw.cmd_descriptor(
            json.dumps({"table": "t", "mode": "replace"}).encode()))), call(3, "DoGet", [ticket])),
        "do_put_bad_cmd.bin": conn(call(1, "DoPut", put_msgs(desc=fw.cmd_descriptor(b'{"table": "t", "mode": 1}'))),
                                   call(3, "DoPut", put_msgs(desc=fw.cmd_descriptor(b'{"table"')))),
        "bad_ticket.bin": conn(call(1, "DoGet", [fw.ticket(b"not json")])),
        "content_type.bin": conn(call(1, "GetSchema", [fw.descriptor(["t"])], ctype="text/plain")),
        "compressed.bin": conn(call(1, "GetSchema", [fw.descriptor(["t"])], compressed=True)),
        "timeout.bin": conn(call(1, "DoGet", [ticket], extra=[("grpc-timeout", "1n")])),
        "encoding.bin": conn(call(1, "DoGet", [ticket], extra=[("grpc-encoding", "gzip")])),
        "unimplemented.bin": conn(call(1, "DoAction", [b""]), call(3, "Nope", [b""])),
        "two_calls_rst.bin": conn(call(1, "DoGet", [ticket]),
                                  fw.frame(fw.RST_STREAM, 0, 1, b"\x00\x00\x00\x08"),
                                  call(3, "GetSchema", [fw.descriptor(["t"])])),
        "messages_put.bin": b"\x01" + b"".join(fw.grpc_frame(m) for m in put_msgs()),
        "messages_put_split.bin": b"\x0f" + b"".join(fw.grpc_frame(m) for m in put_msgs()),
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
