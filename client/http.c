/*
 * http.c - libdaytona's transport: the URL builder, the retry rules, and
 * dt__perform, the single place a request meets libcurl.
 *
 * Every request gets the client's auth headers and timeouts; a transient
 * failure is retried with backoff inside a bounded total time.  Which
 * failures are retried is decided by dt__retry_allowed (pure, unit-tested):
 * the line that matters is that a POST is never repeated when it may have
 * reached the server (a reset after sending, a timeout, 502/504), because
 * creating a sandbox twice is worse than reporting an error.
 *
 * Thread-safety: dt__perform may run on many threads with one client; the
 * only shared state is the pool of idle curl handles, behind pool_mu.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "internal.h"
#include "rnd.h"
#include "timeutil.h"

/* ---- URL builder ---- */

int dt__pct_encode(buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                   *p == '_' || *p == '~';
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (buf_add(b, keep ? (const char *)p : enc, keep ? 1 : 3) != BUF_OK)
            return -1;
    }
    return 0;
}

/* URLs are bounded like any other variable-length data. */
#define DT__MAX_URL (64 * 1024)

void dt__url_init(dt__url *u, const char *base)
{
    buf_init(&u->b, DT__MAX_URL);
    u->has_query = 0;
    u->rc = DT_OK;
    if (!base || buf_adds(&u->b, base) != BUF_OK)
        u->rc = base ? DT_ENOMEM : DT_EINVAL;
}

void dt__url_raw(dt__url *u, const char *text)
{
    if (u->rc == DT_OK && buf_adds(&u->b, text) != BUF_OK)
        u->rc = DT_ENOMEM;
}

void dt__url_seg(dt__url *u, const char *segment)
{
    if (u->rc != DT_OK)
        return;
    if (!segment) {
        u->rc = DT_EINVAL;
        return;
    }
    if (buf_adds(&u->b, "/") != BUF_OK || dt__pct_encode(&u->b, segment))
        u->rc = DT_ENOMEM;
}

void dt__url_query(dt__url *u, const char *key, const char *value)
{
    if (u->rc != DT_OK)
        return;
    if (!key || !value) {
        u->rc = DT_EINVAL;
        return;
    }
    if (buf_adds(&u->b, u->has_query ? "&" : "?") != BUF_OK ||
        dt__pct_encode(&u->b, key) || buf_adds(&u->b, "=") != BUF_OK ||
        dt__pct_encode(&u->b, value))
        u->rc = DT_ENOMEM;
    u->has_query = 1;
}

void dt__url_query_int(dt__url *u, const char *key, long long value)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", value);
    dt__url_query(u, key, num);
}

char *dt__url_take(dt__url *u, dt_code *rc)
{
    char *s = NULL;
    if (u->rc == DT_OK && !(s = buf_detach(&u->b, NULL)))
        u->rc = DT_ENOMEM;
    if (rc && u->rc != DT_OK)
        *rc = u->rc;
    buf_release(&u->b);
    return s;
}

/* ---- retry rules ---- */

static int is_unsafe_method(const char *m)
{
    return strcasecmp(m, "POST") == 0 || strcasecmp(m, "PATCH") == 0;
}

int dt__retry_allowed(const char *method, int retry_unsafe, dt__failure f,
                      long status)
{
    int idempotent = retry_unsafe || !is_unsafe_method(method);
    switch (f) {
    case DT__FAIL_RESOLVE:
    case DT__FAIL_CONNECT:
        return 1;   /* nothing left the machine */
    case DT__FAIL_SEND:
    case DT__FAIL_RECV:
    case DT__FAIL_TIMEOUT:
        return idempotent;
    case DT__FAIL_NONE:
        /* 429 and 503 say "not processed, come back later" (RFC 9110
         * 15.6.4); a 502/504 gateway may have passed the request on. */
        if (status == 429 || status == 503)
            return 1;
        if (status == 502 || status == 504)
            return idempotent;
        return 0;
    case DT__FAIL_OTHER:
    default:
        return 0;
    }
}

long dt__backoff_ms(const dt_retry_policy *p, int attempt, double rnd)
{
    long cap = p->initial_backoff_ms;
    for (int i = 1; i < attempt && cap < p->max_backoff_ms; i++)
        cap = cap > p->max_backoff_ms / 2 ? p->max_backoff_ms : cap * 2;
    if (cap > p->max_backoff_ms)
        cap = p->max_backoff_ms;
    if (rnd < 0)
        rnd = 0;
    if (rnd >= 1)
        rnd = 0.999999;
    return cap / 2 + (long)(rnd * (double)(cap - cap / 2));
}

long dt__retry_after_ms(const char *value, int64_t now_ms)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value)
        return -1;
    char *end = NULL;
    errno = 0;
    long long secs = strtoll(value, &end, 10);
    if (end != value && (*end == '\0' || *end == ' ' || *end == '\r')) {
        if (errno || secs < 0 || secs > 86400LL * 365)
            return -1;
        return (long)(secs * 1000);
    }
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    int64_t ms = (int64_t)t * 1000 - now_ms;
    return ms < 0 ? 0 : (long)(ms > 86400000LL * 365 ? 86400000LL * 365 : ms);
}

/* ---- handle pool ---- */

static CURL *handle_get(dt_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_n > 0)
        h = c->pool[--c->pool_n];
    pthread_mutex_unlock(&c->pool_mu);
    if (h) {
        curl_easy_reset(h);   /* options go, the connection cache stays */
        return h;
    }
    return curl_easy_init();
}

static void handle_put(dt_client *c, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_n < (int)(sizeof c->pool / sizeof c->pool[0])) {
        c->pool[c->pool_n++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

void dt__pool_drain(dt_client *c)
{
    pthread_mutex_lock(&c->pool_mu);
    while (c->pool_n > 0)
        curl_easy_cleanup(c->pool[--c->pool_n]);
    pthread_mutex_unlock(&c->pool_mu);
}

/* ---- one attempt ---- */

typedef struct {
    const dt__request *rq;
    dt__response *rs;
    CURL *h;
    size_t delivered;        /* bytes handed to rq->sink */
    int too_big, canceled, read_failed, read_called;
    char retry_after[64];
} attempt;

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
    attempt *a = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
    if (a->rq->sink && status >= 200 && status < 300) {
        if (a->rq->sink(a->rq->sink_ctx, data, len) != 0) {
            a->canceled = 1;
            return 0;   /* anything but len aborts the transfer */
        }
        a->delivered += len;
        return len;
    }
    if (buf_add(&a->rs->body, data, len) != BUF_OK) {
        a->too_big = 1;
        return 0;
    }
    return len;
}

/* Copies the value of header line `line` if it is `name:`, trimmed. */
static int header_value(const char *line, size_t len, const char *name,
                        char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vl = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return 1;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    attempt *a = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line (after 100 Continue or a retry): forget the
         * previous response's headers. */
        a->retry_after[0] = '\0';
        a->rs->content_type[0] = '\0';
        return len;
    }
    if (!header_value(data, len, "Retry-After", a->retry_after,
                      sizeof a->retry_after))
        header_value(data, len, "Content-Type", a->rs->content_type,
                     sizeof a->rs->content_type);
    return len;
}

static size_t on_read(char *dst, size_t size, size_t n, void *ud)
{
    attempt *a = ud;
    a->read_called = 1;
    size_t got = a->rq->read_fn(a->rq->read_ctx, dst, size * n);
    if (got == (size_t)-1) {
        a->read_failed = 1;
        return CURL_READFUNC_ABORT;
    }
    return got;
}

static struct curl_slist *build_headers(const dt_client *c,
                                        const dt__request *rq)
{
    struct curl_slist *l = NULL, *t;
    char ct[300];
    const char *fixed[] = {c->auth_header, c->org_header,
                           "X-Daytona-Source: libdaytona",
                           DT__SDK_VERSION_HEADER,
                           /* no 1 s wait for "100 Continue" on uploads */
                           "Expect:", NULL};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!fixed[i])
            continue;
        if (!(t = curl_slist_append(l, fixed[i])))
            goto fail;
        l = t;
    }
    if (rq->content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", rq->content_type);
        if (!(t = curl_slist_append(l, ct)))
            goto fail;
        l = t;
    }
    for (size_t i = 0; rq->headers && rq->headers[i]; i++) {
        if (!(t = curl_slist_append(l, rq->headers[i])))
            goto fail;
        l = t;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static void set_body(CURL *h, const dt__request *rq, attempt *a)
{
    int is_get = strcasecmp(rq->method, "GET") == 0;
    /* Transfers move in 512 KiB pieces rather than curl's 16/64 KiB:
     * a quarter of the system calls and callbacks per GiB (bench 8). */
    if (rq->sink)
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
    if (rq->read_fn) {
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, a);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)rq->read_len);
    } else if (rq->body || !is_get) {
        /* POST/PUT/DELETE without a body still send Content-Length: 0,
         * which some proxies require. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(rq->body ? rq->body_len : 0));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
    }
    if (strcasecmp(rq->method, "POST") != 0 && !is_get)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    else if (is_get && !rq->body && !rq->read_fn)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    else if (is_get)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "GET");
}

static dt__failure classify(CURLcode cc, CURL *h)
{
    curl_off_t connect_us = 0;
    switch (cc) {
    case CURLE_OK:
        return DT__FAIL_NONE;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return DT__FAIL_RESOLVE;
    case CURLE_COULDNT_CONNECT:
        return DT__FAIL_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
        return connect_us == 0 ? DT__FAIL_CONNECT : DT__FAIL_TIMEOUT;
    case CURLE_SEND_ERROR:
        return DT__FAIL_SEND;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return DT__FAIL_RECV;
    default:
        return DT__FAIL_OTHER;
    }
}

/* The dt_code and message for a transport failure. */
static dt_code transport_error(const attempt *a, CURLcode cc, dt__failure f,
                               const char *curl_msg, dt_error *err)
{
    const dt__request *rq = a->rq;
    const char *detail = curl_msg[0] ? curl_msg : curl_easy_strerror(cc);
    if (a->too_big)
        return dt__fail(err, DT_ETOOBIG, 0,
                        "%s %s: response larger than %zu bytes", rq->method,
                        rq->url, a->rs->body.max);
    if (a->canceled)
        return dt__fail(err, DT_ECANCELED, 0, "%s %s: canceled by callback",
                        rq->method, rq->url);
    if (a->read_failed)
        return dt__fail(err, DT_EFILE, 0,
                        "%s %s: reading the request body failed", rq->method,
                        rq->url);
    dt_code code = f == DT__FAIL_RESOLVE || f == DT__FAIL_CONNECT
                       ? DT_ECONNECT
                   : f == DT__FAIL_TIMEOUT ? DT_ETIMEOUT
                                           : DT_EIO;
    if (cc == CURLE_OPERATION_TIMEDOUT)
        code = DT_ETIMEOUT;
    return dt__fail(err, code, 0, "%s %s: %s", rq->method, rq->url, detail);
}

/* One HTTP exchange.  Returns the dt_code and sets *f / *status for the
 * retry decision. */
static dt_code attempt_once(dt_client *c, const dt__request *rq,
                            dt__response *rs, long timeout_ms, attempt *a,
                            dt__failure *f, dt_error *err)
{
    char curl_msg[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    dt_code rc = DT_OK;
    CURL *h = handle_get(c);
    if (!h || !(hdrs = build_headers(c, rq))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        *f = DT__FAIL_OTHER;
        goto cleanup;
    }
    memset(a, 0, sizeof *a);
    a->rq = rq;
    a->rs = rs;
    a->h = h;
    buf_reset(&rs->body);
    rs->status = 0;
    rs->content_type[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);   /* threads: no SIGALRM */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    set_body(h, rq, a);
    CURLcode cc = curl_easy_perform(h);
    *f = classify(cc, h);
    if (cc != CURLE_OK) {
        rc = transport_error(a, cc, *f, curl_msg, err);
        if (a->too_big || a->canceled || a->read_failed)
            *f = DT__FAIL_OTHER;
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
    if (rs->status >= 400)
        rc = dt__fail_response(err, rs->status, rs->body.data, rs->body.len);
    else if (rs->status < 200 || rs->status >= 300)
        rc = dt__fail(err, DT_EPROTO, rs->status,
                      "%s %s: unexpected status %ld", rq->method, rq->url,
                      rs->status);
cleanup:
    curl_slist_free_all(hdrs);
    handle_put(c, h);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double rnd_unit(void)
{
    uint32_t r = 0;
    if (rnd_bytes(&r, sizeof r) != 0)
        return 0.5;
    return (double)r / 4294967296.0;
}

void dt__response_init(dt__response *rs)
{
    memset(rs, 0, sizeof *rs);
    buf_init(&rs->body, DT__DEFAULT_MAX_RESPONSE);
}

void dt__response_release(dt__response *rs)
{
    buf_release(&rs->body);
}

/* How long to wait before the next attempt, or -1 to give up. */
static long next_wait(const dt_client *c, const attempt *a, long status,
                      int retry_no, int64_t deadline)
{
    long wait = dt__backoff_ms(&c->retry, retry_no, rnd_unit());
    if (status == 429 || status == 503) {
        long ra = dt__retry_after_ms(a->retry_after, time_now_ms());
        if (ra >= 0)
            wait = ra;
    }
    if (deadline >= 0 && time_mono_ms() + wait >= deadline)
        return -1;
    return wait;
}

dt_code dt__perform(dt_client *c, const dt__request *rq, dt__response *rs,
                    dt_error *err)
{
    if (!c || c->magic != DT__CLIENT_MAGIC || !rq || !rq->url || !rq->method)
        return dt__fail(err, DT_EINVAL, 0, "invalid client or request");
    rs->body.max = c->max_response;
    int64_t deadline = c->retry.total_ms >= 0
                           ? time_mono_ms() + c->retry.total_ms : -1;
    long per_try = rq->timeout_ms ? rq->timeout_ms : c->request_timeout_ms;
    dt_code rc = DT_OK;
    for (int n = 1;; n++) {
        attempt a;
        dt__failure f = DT__FAIL_OTHER;
        long t = per_try;
        if (deadline >= 0 && t > 0 && n > 1) {
            /* Later attempts get only what is left of the total. */
            int64_t left = deadline - time_mono_ms();
            if (left < t)
                t = left > 1 ? (long)left : 1;
        }
        rc = attempt_once(c, rq, rs, t, &a, &f, err);
        if (rc == DT_OK)
            return DT_OK;
        if (n >= c->retry.max_attempts || a.delivered > 0 ||
            (rq->read_fn && a.read_called) ||
            !dt__retry_allowed(rq->method, rq->retry_unsafe, f, rs->status))
            return rc;
        long wait = next_wait(c, &a, f == DT__FAIL_NONE ? rs->status : 0, n,
                              deadline);
        if (wait < 0)
            return rc;
        sleep_ms(wait);
    }
}
