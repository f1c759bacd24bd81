/* abi.c - murr_py_abi_version: pymurr refuses a library built from another release of the
 * C API than the one its ctypes declarations describe. The read fast path is py_read.c. */
#include "murr.h"

MURR_API const char *murr_py_abi_version(void);

MURR_API const char *murr_py_abi_version(void) { return MURR_VERSION; }
