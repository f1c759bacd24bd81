"""Writes the decode bombs of issue 17 (tests/e2e/bombs.py, built with pyarrow) as fuzz seeds
(fuzz/corpus/arrow_ipc/bomb-*.bin with the driver's feed-split byte, fuzz/corpus/parquet/
bomb-*.parquet) and as unit-test inputs (tests/data/bombs/). Run from the repository root:
    build/venv/bin/python scripts/make_bomb_corpus.py"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import bombs  # noqa: E402

MiB = 1 << 20
ipc = {
    "bomb-dictionary": bombs.ipc_dictionary_bomb(),                                # 750 MiB of strings
    "bomb-zstd": bombs.ipc_zstd_bomb(batches=16, rows_per_batch=8 * MiB),          # 2 GiB of int64
}
pq = {
    "bomb-dictionary": bombs.parquet_dictionary_bomb(),                            # 4 GiB of strings
    "bomb-dictionary-small": bombs.parquet_dictionary_bomb(ncols=2, rows=64, value_len=1024),  # 128 KiB
}
data = ROOT / "tests" / "data" / "bombs"
data.mkdir(parents=True, exist_ok=True)
for name, body in ipc.items():
    (ROOT / "fuzz" / "corpus" / "arrow_ipc" / f"{name}.bin").write_bytes(b"\x07" + body)
    (data / f"{name}.arrows").write_bytes(body)
for name, body in pq.items():
    (ROOT / "fuzz" / "corpus" / "parquet" / f"{name}.parquet").write_bytes(body)
    (data / f"{name}.parquet").write_bytes(body)
for p in sorted(data.iterdir()):
    print(p.relative_to(ROOT), p.stat().st_size)
