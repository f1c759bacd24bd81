/*
 * tls.h - TLS for the listeners over OpenSSL (issue 14, docs/decisions/0010-auth-tls.md):
 * a server context per listener built from server.tls.{cert_file,key_file,client_ca_file},
 * reloadable, and a per-connection transport implementing server/transport.h.
 *
 * mr_tls_server_t is a listener's TLS state: the files, the ALPN protocol it speaks
 * ("h2" for Flight, "http/1.1" for HTTP) and the current OpenSSL context. Each accepted
 * connection takes the current context (OpenSSL's own reference count keeps it alive for the
 * connection), so mr_tls_server_reload swaps the certificate for new connections while open
 * ones keep theirs: nothing is dropped. A reload that fails (unreadable file, key that does
 * not match the certificate) keeps the current context and says why.
 *
 * ALPN: a client that offers protocols must offer the listener's (h2 on Flight: gRPC needs
 * it; on HTTP a client offering h2 and http/1.1 gets http/1.1); one that offers none is
 * served (prior knowledge). TLS 1.2 is the minimum. With client_ca_file, a client must
 * present a certificate that chains to one of its CAs, or the handshake fails.
 *
 * The transport (mr_tls_transport_new, a mr_transport_factory_t whose arg is the
 * mr_tls_server_t) is nonblocking: the handshake is driven from read and writev, and wants()
 * reports the events OpenSSL waits for (EPOLLIN during a handshake even when the protocol
 * only has output, EPOLLOUT when a record could not be written). OpenSSL reads ahead (one
 * read() takes every record the socket has): callers read until EAGAIN or, when they stop
 * before, go by pending(), which covers decrypted bytes and records read but not decrypted.
 * A writev that returned EAGAIN must be retried with the same leading bytes (the unwritten
 * ones), as with a socket, and the range they start in no shorter than before (a range of
 * 16 KiB or more is sealed from the caller's memory; OpenSSL finishes that record from it).
 * Thread-safety: the server object may be used from any thread (a mutex guards the current
 * context); a connection's transport from one thread at a time.
 */
#ifndef MR_SERVER_TLS_H
#define MR_SERVER_TLS_H

#include "conf/config.h"
#include "core/error.h"
#include "server/transport.h"

typedef struct mr_tls_server mr_tls_server_t;

#define MR_TLS_ALPN_H2 "h2"
#define MR_TLS_ALPN_HTTP1 "http/1.1"

/* Builds the listener's first context; errors name the file and OpenSSL's reason
 * (MURR_EINVAL for unreadable or mismatched files). client_ca may be NULL or "". alpn is one
 * of the MR_TLS_ALPN_* strings (kept by pointer). */
int mr_tls_server_new(const char *cert_file, const char *key_file, const char *client_ca, const char *alpn,
                      mr_tls_server_t **out, mr_error_t *err);
/* The listener's TLS from server.tls.*: *out = NULL (cleartext) when cert_file is unset. */
int mr_tls_server_from_config(const mr_config_t *cfg, const char *alpn, mr_tls_server_t **out, mr_error_t *err);
/* Re-reads the files into a new context for new connections; on error the current one stays. */
int mr_tls_server_reload(mr_tls_server_t *s, mr_error_t *err);
/* Frees the listener state; open connections keep their context until they are freed. */
void mr_tls_server_free(mr_tls_server_t *s);

/* The transport factory: arg is a mr_tls_server_t. Owns fd (closed also on failure). */
int mr_tls_transport_new(void *arg, int fd, mr_transport_t *out);
/* The ALPN protocol the connection negotiated (*len = 0 when none, or before the handshake);
 * the bytes belong to the connection. */
const unsigned char *mr_tls_transport_alpn(void *t, unsigned *len);
/* True once the handshake completed. */
int mr_tls_transport_established(void *t);

#endif
