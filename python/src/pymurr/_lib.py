"""ctypes declarations of libmurr_py (include/murr.h and include/murr_server.h).

ctypes releases the GIL for the duration of every foreign call, so the engine's work runs
in parallel with other Python threads.
"""
from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, byref, c_bool, c_char, c_char_p, c_double, c_int, c_int64, c_size_t
from ctypes import c_uint32, c_uint64, c_void_p

from .errors import error_for_code

ABI_VERSION = b"0.3.0"


class Error(ctypes.Structure):
    _fields_ = [("code", c_int), ("message", c_char * 512)]


class Options(ctypes.Structure):
    _fields_ = [("sync_writes", c_bool), ("segment_max_bytes", c_uint64), ("compact_garbage_ratio", c_double),
                ("background_compaction", c_bool), ("reopen_interval_ms", c_uint32), ("keep_versions", c_uint32)]


class VersionInfo(ctypes.Structure):
    _fields_ = [("id", c_uint64), ("rows", c_uint64), ("bytes", c_uint64), ("created", c_int64),
                ("serving", c_bool), ("source", c_char * 256)]


class ServerOptions(ctypes.Structure):
    _fields_ = [("host", c_char_p), ("http_port", c_int), ("grpc_port", c_int), ("http_threads", c_uint32)]


class ArrowSchema(ctypes.Structure):
    pass


class ArrowArray(ctypes.Structure):
    pass


ArrowSchema._fields_ = [("format", c_char_p), ("name", c_char_p), ("metadata", c_char_p), ("flags", c_int64),
                        ("n_children", c_int64), ("children", c_void_p), ("dictionary", c_void_p),
                        ("release", ctypes.CFUNCTYPE(None, POINTER(ArrowSchema))), ("private_data", c_void_p)]
ArrowArray._fields_ = [("length", c_int64), ("null_count", c_int64), ("offset", c_int64), ("n_buffers", c_int64),
                       ("n_children", c_int64), ("buffers", c_void_p), ("children", c_void_p),
                       ("dictionary", c_void_p), ("release", ctypes.CFUNCTYPE(None, POINTER(ArrowArray))),
                       ("private_data", c_void_p)]

_P = c_void_p
_E = POINTER(Error)
_SIGNATURES = {
    "murr_py_abi_version": (c_char_p, []),
    "murr_options_default": (None, [POINTER(Options)]),
    "murr_open": (c_int, [c_char_p, POINTER(Options), POINTER(_P), _E]),
    "murr_close": (None, [_P]),
    "murr_free": (None, [_P]),
    "murr_schema_from_json": (c_int, [c_char_p, c_size_t, POINTER(_P), _E]),
    "murr_schema_to_json": (_P, [_P]),
    "murr_schema_free": (None, [_P]),
    "murr_create_table": (c_int, [_P, c_char_p, _P, _E]),
    "murr_drop_table": (c_int, [_P, c_char_p, _E]),
    "murr_list_tables": (c_int, [_P, POINTER(POINTER(c_char_p)), POINTER(c_size_t), _E]),
    "murr_names_free": (None, [POINTER(c_char_p), c_size_t]),
    "murr_describe_table": (c_int, [_P, c_char_p, POINTER(_P), _E]),
    "murr_write_many": (c_int, [_P, c_char_p, POINTER(_P), c_size_t, _E]),
    "murr_replace": (c_int, [_P, c_char_p, POINTER(_P), c_size_t, c_char_p, _E]),
    "murr_list_versions": (c_int, [_P, c_char_p, POINTER(POINTER(VersionInfo)), POINTER(c_size_t), _E]),
    "murr_rollback": (c_int, [_P, c_char_p, c_uint64, POINTER(c_uint64), _E]),
    "murr_read_keys": (c_int, [_P, c_char_p, _P, POINTER(c_char_p), c_size_t, ctypes.c_uint, POINTER(_P), _E]),
    "murr_compact": (c_int, [_P, c_char_p, _E]),
    "murr_batch_free": (None, [_P]),
    "murr_batch_export_arrow": (c_int, [_P, POINTER(ArrowArray), POINTER(ArrowSchema), _E]),
    "murr_batch_import_arrow": (c_int, [POINTER(ArrowArray), POINTER(ArrowSchema), POINTER(_P), _E]),
    "murr_py_read_joined": (c_int, [_P, c_char_p, c_char_p, c_size_t, c_size_t, POINTER(c_char_p), c_size_t,
                                    ctypes.c_uint, POINTER(_P), _E]),
    "murr_py_batch_columns": (c_int64, [_P, POINTER(c_int64), c_size_t]),
    "murr_memory_in_use": (c_uint64, []),
    "murr_server_options_default": (None, [POINTER(ServerOptions)]),
    "murr_server_start": (c_int, [_P, POINTER(ServerOptions), POINTER(_P), _E]),
    "murr_server_http_port": (c_int, [_P]),
    "murr_server_grpc_port": (c_int, [_P]),
    "murr_server_stop": (None, [_P]),
}

READ_SPARSE = 1
PY_ESPLIT = -2  # murr_py_read_joined: the joined keys do not split into len(keys) (py_read.c)
PY_COL_FIELDS = 5  # int64s per column of murr_py_batch_columns


def _load() -> ctypes.CDLL:
    path = os.environ.get("PYMURR_LIB") or os.path.join(os.path.dirname(__file__), "libmurr_py.so")
    lib = ctypes.CDLL(path)
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    version = lib.murr_py_abi_version()
    if version != ABI_VERSION:
        raise ImportError("%s is libmurr %s, pymurr expects %s" % (path, version.decode(), ABI_VERSION.decode()))
    return lib


lib = _load()


def check(rc: int, err: Error) -> None:
    """Raises the MurrError of a failed call."""
    if rc != 0:
        raise error_for_code(rc, err.message.decode("utf-8", "replace"))


def take_string(p: int) -> str:
    """A malloc'd C string from libmurr, freed."""
    try:
        return ctypes.string_at(p).decode()
    finally:
        lib.murr_free(p)


__all__ = ["lib", "check", "take_string", "Error", "Options", "VersionInfo", "ServerOptions", "ArrowArray",
           "ArrowSchema", "READ_SPARSE", "PY_ESPLIT", "PY_COL_FIELDS", "byref"]
