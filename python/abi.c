/* abi.c - the version check of libmurr_py: pymurr refuses a library built from another
 * release of the C API than the one its ctypes declarations describe. */
#include "murr.h"

MURR_API const char *murr_py_abi_version(void);

MURR_API const char *murr_py_abi_version(void) { return MURR_VERSION; }
