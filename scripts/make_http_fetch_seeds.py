# Seeds for fuzz_http_request: murr 0.3 fetch forms (Arrow IPC requests, JSON key objects) and
# the 0.2 key list on a compound-key table. Usage: build/venv/bin/python scripts/make_http_fetch_seeds.py fuzz/corpus/http
import json, pyarrow as pa, sys
out = sys.argv[1]
def http(path, ctype, body, accept=None):
    h = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
    if accept: h += f"Accept: {accept}\r\n"
    h += f"Content-Length: {len(body)}\r\n\r\n"
    return b"\0" + h.encode() + body
def arrow_req(tbl, cols):
    md = {b"columns": json.dumps(cols).encode()}
    tbl = tbl.replace_schema_metadata(md)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, tbl.schema) as w:
        for b in tbl.to_batches(max_chunksize=2):
            w.write_batch(b)
    return sink.getvalue().to_pybytes()
A = "application/vnd.apache.arrow.stream"
seeds = {
 "fetch_arrow_t.bin": http("/api/v1/table/t/fetch", A, arrow_req(pa.table({"id": ["a", "b", "zz"]}), ["score", "s"]), A),
 "fetch_arrow_ui.bin": http("/api/v1/table/ui/fetch", A, arrow_req(pa.table({"user": pa.array([1, 2, 3], pa.int32()), "item": ["a", "b", "c"]}), ["score"])),
 "fetch_object_ui.txt": http("/api/v1/table/ui/fetch", "application/json", json.dumps({"keys": {"user": [1, -7], "item": ["a", "b"]}, "columns": ["score"]}).encode(), A),
 "fetch_object_t.txt": http("/api/v1/table/t/fetch", "application/json", json.dumps({"keys": {"id": ["a", "q"]}, "columns": []}).encode()),
 "fetch_list_ui.txt": http("/api/v1/table/ui/fetch", "application/json", json.dumps({"keys": [1, 2], "columns": ["score"]}).encode()),
}
for n, b in seeds.items():
    open(f"{out}/{n}", "wb").write(b)
print(len(seeds), "seeds")
