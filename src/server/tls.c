/* tls.c - OpenSSL server contexts (build, ALPN, client certificates, reload) and the
 * nonblocking per-connection transport. See tls.h. */
#include "server/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"

/* Plaintext is gathered into records of at most this many bytes (the TLS record maximum):
 * one SSL_write per record instead of one per iovec (headers are a few hundred bytes).
 * A range holding a whole record or more is written from the caller's buffer instead. */
#define TLS_STAGE 16384

struct mr_tls_server {
    pthread_mutex_t lock;
    SSL_CTX *ctx;                 /* guarded by lock; each SSL holds its own reference */
    char *cert, *key, *client_ca; /* mr_strdup'ed paths */
    const char *alpn;             /* static MR_TLS_ALPN_* */
};

typedef struct tls_conn {
    SSL *ssl;
    int fd;
    unsigned hs_wants;            /* handshake: the events OpenSSL waits for (0: not started) */
    unsigned rd_wants, wr_wants;  /* established: a read waiting to write, a write waiting for input */
    bool established;
    bool drained;                 /* the last read ended at EAGAIN: what OpenSSL read ahead
                                   * (if anything) is an incomplete record, epoll sees the rest */
    size_t staged;                /* bytes in stage not yet accepted by SSL_write (retry them) */
    unsigned char stage[TLS_STAGE];
} tls_conn_t;

/* OpenSSL's error queue as one line ("file: reason"), emptied. */
static int ssl_err(mr_error_t *err, int code, const char *what, const char *path)
{
    char reason[256] = "unknown OpenSSL error";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    return mr_err_set(err, code, "%s %s: %s", what, path, reason);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    const char *want = arg;
    size_t wl = strlen(want);
    for (unsigned i = 0; i < inlen;) { /* the client's list: length-prefixed names */
        unsigned n = in[i];
        if (i + 1 + n > inlen)
            break;
        if (n == wl && memcmp(in + i + 1, want, wl) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    (void)ssl;
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol: it would not understand us */
}

static int build_ctx(const mr_tls_server_t *s, SSL_CTX **out, mr_error_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return ssl_err(err, MURR_ENOMEM, "cannot create a TLS context for", s->cert);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* a peer that closes without close_notify is an ordinary end of stream for HTTP/1.1 and
     * gRPC (both frame their messages), not an error */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* one read() per record (header and body together, several records at once when the
     * peer sent them) instead of two; pending() accounts for the bytes read ahead */
    SSL_CTX_set_read_ahead(ctx, 1);
    int rc = 0;
    if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1)
        rc = ssl_err(err, MURR_EINVAL, "server.tls.cert_file: cannot load the PEM certificate chain", s->cert);
    else if (SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1)
        rc = ssl_err(err, MURR_EINVAL, "server.tls.key_file: cannot load the PEM private key", s->key);
    else if (SSL_CTX_check_private_key(ctx) != 1)
        rc = ssl_err(err, MURR_EINVAL, "server.tls.key_file: the key does not match the certificate of", s->cert);
    if (rc == 0 && s->client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, s->client_ca, NULL) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            rc = ssl_err(err, MURR_EINVAL, "server.tls.client_ca_file: cannot load PEM CA certificates from",
                         s->client_ca);
        } else {
            SSL_CTX_set_client_CA_list(ctx, names);
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
    }
    if (rc != 0) {
        SSL_CTX_free(ctx);
        return rc;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)s->alpn);
    *out = ctx;
    return 0;
}

int mr_tls_server_new(const char *cert_file, const char *key_file, const char *client_ca, const char *alpn,
                      mr_tls_server_t **out, mr_error_t *err)
{
    mr_tls_server_t *s = mr_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->cert = mr_xstrdup(cert_file);
    s->key = mr_xstrdup(key_file);
    s->client_ca = client_ca && *client_ca ? mr_xstrdup(client_ca) : NULL;
    s->alpn = alpn;
    int rc = build_ctx(s, &s->ctx, err);
    if (rc != 0) {
        mr_tls_server_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int mr_tls_server_from_config(const mr_config_t *cfg, const char *alpn, mr_tls_server_t **out, mr_error_t *err)
{
    *out = NULL;
    if (cfg->tls.cert_file[0] == '\0')
        return 0;
    return mr_tls_server_new(cfg->tls.cert_file, cfg->tls.key_file, cfg->tls.client_ca_file, alpn, out, err);
}

int mr_tls_server_reload(mr_tls_server_t *s, mr_error_t *err)
{
    SSL_CTX *ctx;
    MR_RETURN_NOT_OK(build_ctx(s, &ctx, err));
    pthread_mutex_lock(&s->lock);
    SSL_CTX *old = s->ctx;
    s->ctx = ctx;
    pthread_mutex_unlock(&s->lock);
    SSL_CTX_free(old); /* connections made with it hold their own references */
    return 0;
}

void mr_tls_server_free(mr_tls_server_t *s)
{
    if (s == NULL)
        return;
    SSL_CTX_free(s->ctx);
    mr_free(s->cert);
    mr_free(s->key);
    mr_free(s->client_ca);
    pthread_mutex_destroy(&s->lock);
    mr_free(s);
}

/* ---- the transport ---- */

/* Maps an SSL_* result to the transport contract: EAGAIN with *wants set to the event
 * OpenSSL waits for, 0 at a clean end, -1 with errno for a failure (EPROTO: the peer broke
 * the protocol or was refused). */
static ssize_t io_result(tls_conn_t *c, int r, bool reading, unsigned *wants)
{
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ: *wants = EPOLLIN; errno = EAGAIN; return -1;
    case SSL_ERROR_WANT_WRITE: *wants = EPOLLOUT; errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading)
            return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0)
            errno = reading ? 0 : EPIPE;
        return reading && errno == 0 ? 0 : -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

/* Drives the handshake: 1 when established, else the io_result of the step. */
static ssize_t handshake(tls_conn_t *c)
{
    if (c->established)
        return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->established = true;
        c->hs_wants = 0;
        return 1;
    }
    if (io_result(c, r, false, &c->hs_wants) < 0 && errno == EPIPE)
        errno = ECONNRESET; /* the peer went away mid-handshake */
    return -1;
}

static ssize_t tls_read(void *t, void *buf, size_t n)
{
    tls_conn_t *c = t;
    if (handshake(c) != 1)
        return -1;
    c->rd_wants = 0;
    ERR_clear_error();
    size_t got = 0;
    int r = SSL_read_ex(c->ssl, buf, n, &got);
    if (r == 1) {
        c->drained = false;
        return (ssize_t)got;
    }
    unsigned w = 0;
    ssize_t res = io_result(c, 0, true, &w);
    c->rd_wants = w & EPOLLOUT; /* waiting for input is the core's EPOLLIN, not ours */
    /* OpenSSL asks the socket only for a record it does not hold whole: what it read ahead
     * is a record's start, epoll reports the rest (waiting to write: on_input on EPOLLOUT) */
    c->drained = res < 0 && errno == EAGAIN;
    return res;
}

/* One SSL_write_ex (with SSL_MODE_ENABLE_PARTIAL_WRITE: at most one record): the bytes it
 * took, or -1 (EAGAIN with wr_wants set, or a failure). */
static ssize_t ssl_write(tls_conn_t *c, const void *p, size_t len)
{
    size_t done = 0;
    ERR_clear_error();
    if (SSL_write_ex(c->ssl, p, len, &done) == 1)
        return (ssize_t)done;
    unsigned w = 0;
    ssize_t res = io_result(c, 0, false, &w);
    c->wr_wants = w & EPOLLIN; /* waiting to write is the core's EPOLLOUT, not ours */
    return res;
}

/* Writes the staged record: the bytes taken (the rest moves to the front, retried first). */
static ssize_t write_stage(tls_conn_t *c)
{
    ssize_t w = ssl_write(c, c->stage, c->staged);
    if (w > 0) {
        memmove(c->stage, c->stage + w, c->staged - (size_t)w);
        c->staged -= (size_t)w;
    }
    return w;
}

static ssize_t tls_writev(void *t, const struct iovec *iov, int n)
{
    tls_conn_t *c = t;
    if (handshake(c) != 1)
        return -1;
    c->wr_wants = 0;
    size_t total = 0;
    /* staged bytes are the caller's first bytes (an EAGAIN consumed none of them): retry
     * those before gathering more */
    size_t skip = c->staged;
    int i = 0;
    size_t off = 0;
    while (skip > 0 && i < n) { /* step past what is already staged */
        size_t k = iov[i].iov_len - off < skip ? iov[i].iov_len - off : skip;
        skip -= k;
        off += k;
        if (off == iov[i].iov_len)
            i++, off = 0;
    }
    for (;;) {
        ssize_t w;
        if (c->staged == 0 && i < n && iov[i].iov_len - off >= TLS_STAGE) {
            /* a whole record in one range (a large answer's body): sealed from the caller's
             * buffer, no copy. A retry after EAGAIN comes back with the same range, as long
             * as it was, which is what OpenSSL needs to finish the record. */
            w = ssl_write(c, (const char *)iov[i].iov_base + off, iov[i].iov_len - off);
            if (w > 0 && (off += (size_t)w) == iov[i].iov_len)
                i++, off = 0;
        } else {
            while (c->staged < TLS_STAGE && i < n) {
                size_t room = TLS_STAGE - c->staged, k = iov[i].iov_len - off < room ? iov[i].iov_len - off : room;
                memcpy(c->stage + c->staged, (const char *)iov[i].iov_base + off, k);
                c->staged += k;
                off += k;
                if (off == iov[i].iov_len)
                    i++, off = 0;
            }
            if (c->staged == 0)
                return (ssize_t)total;
            w = write_stage(c);
            if (w > 0 && c->staged > 0) /* partial record: let the caller come back */
                return (ssize_t)(total + (size_t)w);
        }
        if (w < 0)
            return total > 0 ? (ssize_t)total : -1;
        total += (size_t)w;
    }
}

static unsigned tls_wants(void *t)
{
    tls_conn_t *c = t;
    if (!c->established) /* a server's handshake starts by reading the ClientHello */
        return c->hs_wants ? c->hs_wants : EPOLLIN;
    return c->rd_wants | c->wr_wants;
}

/* Decrypted bytes, or else 1 while OpenSSL holds read-ahead bytes that may be a whole record
 * (no read found them incomplete yet). After a read that ended at EAGAIN the read-ahead
 * bytes are the start of a record whose rest epoll will report: 0, or the core would spin. */
static size_t tls_pending(void *t)
{
    tls_conn_t *c = t;
    if (!c->established)
        return 0;
    int n = SSL_pending(c->ssl);
    if (n > 0)
        return (size_t)n;
    return !c->drained && SSL_has_pending(c->ssl) ? 1 : 0;
}

static void tls_shutdown_read(void *t)
{
    tls_conn_t *c = t;
    shutdown(c->fd, SHUT_RD);
}

static void tls_free(void *t)
{
    tls_conn_t *c = t;
    if (c->established)
        SSL_shutdown(c->ssl); /* best effort close_notify; nonblocking */
    ERR_clear_error();
    SSL_free(c->ssl);
    close(c->fd);
    mr_free(c);
}

static const mr_transport_ops_t tls_ops = {
    .read = tls_read,
    .writev = tls_writev,
    .wants = tls_wants,
    .pending = tls_pending,
    .shutdown_read = tls_shutdown_read,
    .free = tls_free,
};

int mr_tls_transport_new(void *arg, int fd, mr_transport_t *out)
{
    mr_tls_server_t *s = arg;
    pthread_mutex_lock(&s->lock);
    SSL *ssl = SSL_new(s->ctx); /* takes its own reference on the context */
    pthread_mutex_unlock(&s->lock);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        close(fd);
        return MURR_ENOMEM;
    }
    SSL_set_accept_state(ssl);
    tls_conn_t *c = mr_xmalloc(sizeof(*c));
    c->ssl = ssl;
    c->fd = fd;
    c->hs_wants = c->rd_wants = c->wr_wants = 0;
    c->established = false;
    c->drained = false;
    c->staged = 0;
    out->ops = &tls_ops;
    out->t = c;
    return 0;
}

const unsigned char *mr_tls_transport_alpn(void *t, unsigned *len)
{
    const unsigned char *p = NULL;
    *len = 0;
    SSL_get0_alpn_selected(((tls_conn_t *)t)->ssl, &p, len);
    return p;
}

int mr_tls_transport_established(void *t) { return ((tls_conn_t *)t)->established; }
