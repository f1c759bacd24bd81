/* flight_auth.c - access control on the Flight listener (server/auth.h): the scope each RPC
 * needs, the `authorization: Bearer <token>` call header, and the Handshake that turns basic
 * credentials into a bearer token (what pyarrow's FlightClient.authenticate_basic_token
 * sends: call header `authorization: Basic base64(user:password)`, no messages; it reads the
 * token from the `authorization` response header). The password is the token; the user name
 * is ignored. Refusals are UNAUTHENTICATED (no or unknown token) or PERMISSION_DENIED (a
 * token without the scope). Runs on the loop thread. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "server/auth.h"
#include "server/flight/flight_internal.h"

unsigned mr_flight_scope_of_rpc(mr_flight_rpc_t rpc, bool replace)
{
    switch (rpc) {
    case MR_FLIGHT_RPC_HANDSHAKE: return MR_AUTH_NONE; /* it is how a client authenticates */
    case MR_FLIGHT_RPC_DO_PUT: return replace ? MR_AUTH_ADMIN : MR_AUTH_WRITE; /* known from the descriptor */
    /* the reads, and the RPCs murr does not serve (PollFlightInfo, DoExchange, DoAction, ListActions):
     * those need read scope too and then answer UNIMPLEMENTED, so an anonymous client cannot probe */
    default: return MR_AUTH_READ;
    }
}

static void refuse(mr_flight_stream_t *st, mr_auth_result_t r, unsigned need, unsigned have, const char *what)
{
    char ns[24], hs[24];
    mr_auth_count_failure(MR_AUTH_FLIGHT, r);
    bool handshake = st->rpc == MR_FLIGHT_RPC_HANDSHAKE;
    switch (r) {
    case MR_AUTH_MISSING:
        if (handshake) {
            mr_flight_fail(st, MR_GRPC_UNAUTHENTICATED, "Handshake needs credentials: the call header "
                           "'authorization: Basic base64(user:token)' (authenticate_basic_token) or 'Bearer <token>'");
            break;
        }
        mr_flight_fail(st, MR_GRPC_UNAUTHENTICATED, "%s needs the call header 'authorization: Bearer <token>' with "
                       "scope %s (or a Handshake with basic credentials)", what, mr_auth_scopes_str(need, ns, sizeof(ns)));
        break;
    case MR_AUTH_MALFORMED:
        mr_flight_fail(st, MR_GRPC_UNAUTHENTICATED, "the authorization header is not one 'Bearer <token>'%s (token68, "
                       "at most %d characters)", handshake ? " or 'Basic base64(user:token)'" : "", MR_AUTH_TOKEN_MAX);
        break;
    case MR_AUTH_WRONG_TOKEN:
        mr_flight_fail(st, MR_GRPC_UNAUTHENTICATED, "the token is not one of server.auth.tokens_file");
        break;
    default:
        mr_flight_fail(st, MR_GRPC_PERMISSION_DENIED, "%s needs a token with scope %s; the token has %s", what,
                       mr_auth_scopes_str(need, ns, sizeof(ns)), mr_auth_scopes_str(have, hs, sizeof(hs)));
        break;
    }
}

/* The header as the client sent it, or NULL when absent; too long or repeated is malformed. */
static mr_auth_result_t header_of(const mr_flight_stream_t *st, const char **h, size_t *n)
{
    *h = NULL;
    *n = 0;
    if (st->nauthorization == 0)
        return MR_AUTH_MISSING;
    if (st->nauthorization > 1 || st->authorization_too_long)
        return MR_AUTH_MALFORMED;
    *h = st->authorization;
    *n = strlen(st->authorization);
    return MR_AUTH_OK;
}

bool mr_flight_authorize(mr_flight_stream_t *st, unsigned need, const char *what)
{
    if (need == MR_AUTH_NONE)
        return true;
    mr_auth_t *a = mr_auth_acquire();
    if (a == NULL)
        return true; /* no tokens configured: open, as before issue 14 */
    const char *h;
    size_t n;
    unsigned have = 0;
    mr_auth_result_t r = header_of(st, &h, &n);
    if (r == MR_AUTH_OK || r == MR_AUTH_MISSING)
        r = mr_auth_check_bearer(a, h, n, need, &have);
    mr_auth_unref(a);
    if (r == MR_AUTH_OK)
        return true;
    refuse(st, r, need, have, what);
    return false;
}

void mr_flight_handshake_begin(mr_flight_stream_t *st)
{
    mr_auth_t *a = mr_auth_acquire();
    if (a == NULL)
        return; /* nothing to authenticate against: an empty, successful handshake */
    const char *h, *tok = NULL;
    size_t n, tl = 0;
    unsigned have = 0;
    char scratch[sizeof(st->authorization)];
    mr_auth_result_t r = header_of(st, &h, &n);
    if (r == MR_AUTH_OK) {
        if (n > 6 && strncasecmp(h, "Basic ", 6) == 0) {
            r = mr_auth_check_basic(a, h, n, scratch, &tok, &tl);
        } else {
            /* "Bearer <token>": a client renewing; the answer is the same token */
            r = mr_auth_check_bearer(a, h, n, MR_AUTH_ANY, &have);
            tok = h + 6;
            while (*tok == ' ' || *tok == '\t')
                tok++;
            tl = strlen(tok);
            while (tl > 0 && (tok[tl - 1] == ' ' || tok[tl - 1] == '\t'))
                tl--;
        }
    }
    mr_auth_unref(a);
    if (r != MR_AUTH_OK) { /* at once: a client may wait for an answer before it half-closes */
        refuse(st, r, MR_AUTH_NONE, have, "Handshake");
        return;
    }
    char *v = mr_arena_alloc(&st->arena, tl + 8);
    if (v == NULL) {
        mr_flight_fail(st, MR_GRPC_RESOURCE_EXHAUSTED, "out of memory for the Handshake answer");
        return;
    }
    memcpy(v, "Bearer ", 7);
    memcpy(v + 7, tok, tl);
    v[7 + tl] = '\0';
    memset(scratch, 0, sizeof(scratch));
    st->resp_authorization = v;
}

void mr_flight_handshake_end(mr_flight_stream_t *st)
{
    if (!st->done && mr_flight_respond(st) != 0)
        mr_flight_fail(st, MR_GRPC_INTERNAL, "cannot start the Handshake response");
}
