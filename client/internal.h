/*
 * internal.h - what the modules of libdaytona share and nothing outside
 * the library sees: the client and sandbox structs, the one HTTP entry
 * point (dt__perform, which owns retries, timeouts, auth headers and error
 * decoding), a URL builder that percent-encodes path segments and query
 * values, JSON helpers, and a WebSocket client over libcurl's
 * CONNECT_ONLY mode (so https/wss works the same as on the emulator).
 *
 * Naming: internal cross-file functions carry a double underscore (dt__).
 */
#ifndef DT_CLIENT_INTERNAL_H
#define DT_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "daytona/daytona.h"

#define DT__CLIENT_MAGIC 0x44544331u   /* "DTC1" */
#define DT__SANDBOX_MAGIC 0x44545342u  /* "DTSB" */

/* Defaults (documented in daytona.h). */
#define DT__DEFAULT_REQUEST_TIMEOUT_MS 60000L
#define DT__DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DT__DEFAULT_MAX_RESPONSE ((size_t)64 * 1024 * 1024)
#define DT__DEFAULT_WAIT_MS 60000L

/* Sent on every request and WebSocket handshake: a real daemon picks its
 * session output mode from the SDK version (split stdout/stderr and JSON
 * logs from 0.167 on; reference toolbox.md 1.4), so the client declares
 * the SDK version whose behaviour it implements. */
#define DT__SDK_VERSION_HEADER "X-Daytona-SDK-Version: 0.218.0"

struct dt_client {
    unsigned magic;
    char *api_url;           /* no trailing slash */
    char *auth_header;       /* "Authorization: Bearer ..." */
    char *org_header;        /* "X-Daytona-Organization-ID: ..." or NULL */
    char *target;            /* or NULL */
    char *user_agent;
    long request_timeout_ms;
    long connect_timeout_ms;
    size_t max_response;
    dt_retry_policy retry;
    /* Idle curl easy handles kept for connection reuse (each handle keeps
     * its own connection cache, so nothing is shared between threads that
     * curl would need locks for). */
    pthread_mutex_t pool_mu;
    void *pool[8];
    int pool_n;
};

struct dt_sandbox {
    unsigned magic;
    dt_client *client;       /* borrowed */
    cJSON *json;             /* the last record fetched */
    char *json_text;         /* its text, made on demand by dt_sandbox_json */
    char *toolbox_base;      /* toolboxProxyUrl "/" id, no trailing slash */
};

/* ---- errors ---- */

/* Fills err (if non-NULL) and returns code.  printf-style message. */
dt_code dt__fail(dt_error *err, dt_code code, long status, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
/* The dt_code for an HTTP error status (>= 400). */
dt_code dt__code_for_status(long status);
/* Decodes an error response: Daytona's {"statusCode","message","error"}
 * envelope (message may be a string or an array of strings, joined with
 * "; "), the daemon's {"message"} / {"error"} forms, or plain text.  Fills
 * err and returns dt__code_for_status(status). */
dt_code dt__fail_response(dt_error *err, long status, const char *body,
                          size_t len);

/* ---- URLs ---- */

typedef struct {
    buf b;
    int has_query;
    dt_code rc;              /* first failure, reported by dt__url_take */
} dt__url;

void dt__url_init(dt__url *u, const char *base);
/* Appends text as it is (a literal like "/sandbox"). */
void dt__url_raw(dt__url *u, const char *text);
/* Appends "/" and the percent-encoded segment (RFC 3986 unreserved kept). */
void dt__url_seg(dt__url *u, const char *segment);
/* Appends ?key=value / &key=value, both percent-encoded. */
void dt__url_query(dt__url *u, const char *key, const char *value);
void dt__url_query_int(dt__url *u, const char *key, long long value);
/* Returns the URL (free()) or NULL and sets *rc; always releases u. */
char *dt__url_take(dt__url *u, dt_code *rc);
/* Percent-encodes s into b (unreserved characters kept as they are). */
int dt__pct_encode(buf *b, const char *s);

/* ---- HTTP ---- */

/* Streaming upload source: fill up to cap bytes, return the count, 0 at
 * the end, or (size_t)-1 to abort. */
typedef size_t (*dt__read_fn)(void *ctx, char *dst, size_t cap);

typedef struct {
    const char *method;          /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *url;             /* absolute */
    const char *content_type;    /* NULL = none */
    const void *body;            /* NULL = no body (unless read_fn) */
    size_t body_len;
    dt__read_fn read_fn;         /* streaming body instead of `body` */
    void *read_ctx;
    long long read_len;          /* its length, or -1 (chunked) */
    /* Streaming response: a 2xx body is passed here instead of being
     * buffered (error bodies are still buffered and decoded).  Return 0 to
     * go on.  A request with a sink is never retried once bytes were
     * delivered. */
    dt_output_cb sink;
    void *sink_ctx;
    const char *const *headers;  /* extra "Name: value" lines, NULL-ended */
    long timeout_ms;             /* 0 = client default; <0 = none */
    int retry_unsafe;            /* 1: this POST is idempotent, retry it */
} dt__request;

typedef struct {
    long status;
    buf body;                    /* buffered body (capped) */
    char content_type[256];
} dt__response;

void dt__response_init(dt__response *rs);
void dt__response_release(dt__response *rs);

/*
 * Performs a request with the client's auth headers, timeouts and retry
 * policy.  Returns DT_OK for any 2xx (rs filled); for an HTTP error status
 * the decoded error (dt__fail_response) with rs still filled; for a
 * transport failure the mapped code.  rs must be initialised by the
 * caller and is released by the caller.
 */
dt_code dt__perform(dt_client *c, const dt__request *rq, dt__response *rs,
                    dt_error *err);

/* Frees the client's idle curl handles (dt_client_free). */
void dt__pool_drain(dt_client *c);

/* JSON request: body (may be NULL = no body) serialised, the response
 * parsed into *out when out is non-NULL (an empty 2xx body gives a NULL
 * *out).  A 2xx body that is not JSON is DT_EPROTO. */
dt_code dt__json(dt_client *c, const char *method, const char *url,
                 const cJSON *body, cJSON **out, dt_error *err);
/* The same with a per-request timeout (as dt__request.timeout_ms). */
dt_code dt__json_t(dt_client *c, const char *method, const char *url,
                   const cJSON *body, long timeout_ms, cJSON **out,
                   dt_error *err);

/*
 * One JSON exchange through dt__perform: body (NULL = none) serialised,
 * a 2xx answer parsed into *out when out is non-NULL (NULL for an empty
 * body; a body that is not JSON is DT_EPROTO unless raw is non-NULL, in
 * which case the raw body is handed over there instead: free()).  Like
 * every request, it carries X-Daytona-SDK-Version (internal.h).
 * timeout_ms as dt__request.  *status (may be NULL) gets the HTTP status.
 */
dt_code dt__json_ex(dt_client *c, const char *method, const char *url,
                    const cJSON *body, long timeout_ms, cJSON **out,
                    char **raw, long *status, dt_error *err);

/* ---- retry decisions (pure; unit-tested) ---- */

typedef enum {
    DT__FAIL_NONE = 0,        /* an HTTP response arrived */
    DT__FAIL_RESOLVE,         /* name resolution failed: nothing sent */
    DT__FAIL_CONNECT,         /* refused / connect timeout: nothing sent */
    DT__FAIL_SEND,            /* failed while sending: may have arrived */
    DT__FAIL_RECV,            /* reset/empty reply after sending */
    DT__FAIL_TIMEOUT,         /* timed out after connecting */
    DT__FAIL_OTHER            /* anything else (TLS, too big, ...) */
} dt__failure;

/* 1 when another attempt is allowed: transient failure kind or status
 * (429, 502, 503, 504), and for non-idempotent requests only when the
 * request provably was not processed (RESOLVE, CONNECT, 429). */
int dt__retry_allowed(const char *method, int retry_unsafe, dt__failure f,
                      long status);
/* Backoff before retry number `attempt` (1 = the first retry): "equal
 * jitter", cap/2 + rnd * cap/2 with cap = min(max, initial *
 * 2^(attempt-1)), `rnd` in [0,1). */
long dt__backoff_ms(const dt_retry_policy *p, int attempt, double rnd);
/* Parses Retry-After (delta-seconds or an HTTP date) into ms; -1 if none
 * or invalid.  now_ms is the current wall-clock time (for dates). */
long dt__retry_after_ms(const char *value, int64_t now_ms);

/* ---- JSON helpers ---- */

/* String member or NULL (also NULL when not a string). */
const char *dt__jstr(const cJSON *o, const char *key);
/* Number member or dflt. */
double dt__jnum(const cJSON *o, const char *key, double dflt);
/* Heap copy or NULL (for NULL input).  Sets *rc = DT_ENOMEM on failure. */
char *dt__strdup(const char *s, dt_code *rc);
/* {"k":"v",...} from pairs; NULL on allocation failure or a NULL key. */
cJSON *dt__kv_object(const dt_kv *kv, size_t n);

/* ---- sandboxes (sandbox.c) ---- */

/* Makes a handle from a sandbox record; takes ownership of json. */
dt_code dt__sandbox_from_json(dt_client *c, cJSON *json, dt_sandbox **out,
                              dt_error *err);
/* The toolbox URL for a path under the sandbox ("/process/execute"):
 * initialises u at the toolbox base and appends path as is. */
void dt__toolbox_url(const dt_sandbox *sb, dt__url *u, const char *path);

/* ---- WebSocket client (ws_client.c) ---- */

typedef struct dt__ws dt__ws;

/* Connects to an http(s) URL (ws/wss also accepted) and performs the
 * upgrade with the client's auth headers.  timeout_ms bounds the
 * connect + handshake.  A non-101 answer is decoded like an HTTP error. */
dt_code dt__ws_connect(dt_client *c, const char *url, long timeout_ms,
                       dt__ws **out, dt_error *err);
/* Sends one message (opcode WS_OP_TEXT / WS_OP_BINARY). */
dt_code dt__ws_send(dt__ws *w, int opcode, const void *data, size_t len,
                    dt_error *err);
/* Receives the next data message into msg (reset first) and its opcode.
 * Pings are answered.  When the peer closes: returns DT_OK with
 * *opcode = WS_OP_CLOSE and the close code in *close_code (1005 when none).
 * timeout_ms < 0 waits forever; on timeout DT_ETIMEOUT (the connection
 * stays usable). */
dt_code dt__ws_recv(dt__ws *w, int *opcode, buf *msg, int *close_code,
                    long timeout_ms, dt_error *err);
/* Sends a close frame (if not yet sent) and frees.  NULL is a no-op. */
void dt__ws_close(dt__ws *w, int code);

#endif
