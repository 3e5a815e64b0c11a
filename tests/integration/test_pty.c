/*
 * test_pty.c - the toolbox PTY API (shared/reference/toolbox.md §8, trap 19
 * and trap 20 in §12) of the real daytona-emu binary, over HTTP and
 * WebSocket.
 *
 * One emulator for most tests, with two sandboxes (A and B, B for the
 * isolation checks); tests that stop a sandbox make their own.  Two tests
 * that can leave the emulator wedged (concurrent DELETE, a client that
 * never reads) run against an emulator of their own.  Every call is
 * /toolbox/<sandboxId>/process/pty... with "Authorization: Bearer <key>".
 *
 * WebSockets are opened by hand over a TCP socket (tests/support/ws_client;
 * the upgrade request's headers are chosen here).  Frames are SENT with
 * common/ws.h's client ws_conn (masked).  They are READ frame by frame
 * (wsc_frame_next, ws_frame_parse underneath) rather than with ws_recv,
 * because the PTY protocol puts the exit status in the close frame's
 * REASON (§8.4), which ws_recv does not hand out; pings are never sent by
 * the server, so nothing is lost by not using ws_recv.
 *
 * Shell output is matched on markers built with arithmetic
 * ("echo M-$((40+2))" prints "M-42") so the terminal's echo of the typed
 * command never matches.
 *
 * Processes are looked for in the host's /proc among the descendants of
 * this run's emulator.
 */
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "api_util.h"
#include "buf.h"
#include "cu_run.h"
#include "test_net.h"
#include "timeutil.h"
#include "ws.h"
#include "ws_client.h"

#define K "pty-test-key"
#define EXIT_CTL "X-Daytona-Pty-Exit-Control"
#define ENVS_PFX "X-Daytona-Pty-Envs~"
#define MAX_FRAME (8 * 1024 * 1024)
#define MAX_TEXTS 32

static char SA[64], SBX[64];      /* sandbox ids */
static int E_ns;                  /* level is namespaced or cgroups */

/* ---------- small utilities ---------- */

/* "/toolbox/<sb>/process/pty" + printf(fmt, ...), pooled */
static const char *pp(const char *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *pp(const char *sb, const char *fmt, ...)
{
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return api_fmt("/toolbox/%s/process/pty%s", sb, tmp);
}

/* A printable rendering of bytes (\r, \n, \xNN), pooled; long input is cut
 * to its last `max` bytes. */
static const char *show_n(const char *s, size_t n, size_t max)
{
    if (n > max) {
        s += n - max;
        n = max;
    }
    buf b;
    buf_init(&b, n * 4 + 16);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char t[8];
        if (c == '\n')
            snprintf(t, sizeof t, "\\n");
        else if (c == '\r')
            snprintf(t, sizeof t, "\\r");
        else if (c < 0x20 || c >= 0x7f)
            snprintf(t, sizeof t, "\\x%02x", c);
        else
            snprintf(t, sizeof t, "%c", c);
        buf_adds(&b, t);
    }
    const char *out = api_fmt("%s", buf_str(&b));
    buf_release(&b);
    return out;
}

static const char *show(const char *s)
{
    return s ? show_n(s, strlen(s), 600) : "(null)";
}

/* base64url without padding (own encoder: the emulator's decoder is under
 * test), pooled. */
static const char *b64url(const char *s)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    char *o = malloc(n / 3 * 4 + 8);
    if (!o)
        return "";
    size_t j = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)u[i + 1] << 8;
        if (i + 2 < n)
            v |= u[i + 2];
        o[j++] = al[(v >> 18) & 63];
        o[j++] = al[(v >> 12) & 63];
        if (i + 1 < n)
            o[j++] = al[(v >> 6) & 63];
        if (i + 2 < n)
            o[j++] = al[v & 63];
    }
    o[j] = '\0';
    const char *out = api_fmt("%s", o);
    free(o);
    return out;
}

/* The envs subprotocol token for a JSON object text. */
static const char *envs_token(const char *json)
{
    return api_fmt(ENVS_PFX "%s", b64url(json));
}

/* 1 when the JSON texts a and b are deeply equal (exact key sets). */
static int json_same(const char *a, const char *b)
{
    cJSON *x = a ? cJSON_Parse(a) : NULL, *y = b ? cJSON_Parse(b) : NULL;
    int ok = x && y && cJSON_Compare(x, y, 1);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return ok;
}

/* ---------- caller-located checks ---------- */

/* The PTY handlers' own error body: exactly {"error": want} (want NULL =
 * any non-empty string). */
static void pty_err_at(const http_resp *r, long status, const char *want,
                       const char *file, unsigned line)
{
    api_expect_status_at(r, status, file, line);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    int ok = cJSON_IsObject(r->json) && cJSON_GetArraySize(r->json) == 1 &&
             cJSON_IsString(e) && e->valuestring[0] &&
             (!want || strcmp(e->valuestring, want) == 0);
    api_check_txt(ok, file, line, "body is {\"error\":\"%s\"}", want ? want : "*");
    if (!ok)
        fprintf(stderr, "\n  %s:%u: %s: expected %ld {\"error\":\"%s\"}, got %ld %.600s\n",
                file, line, api_what(r), status, want ? want : "*", r->status, r->body);
}
#define pty_err(r, st, want) pty_err_at((r), (st), (want), __FILE__, __LINE__)

/* o[key] is the string want exactly. */
static void str_is_at(const cJSON *o, const char *key, const char *want,
                      const char *file, unsigned line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int ok = cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
    api_check_txt(ok, file, line, "%s == \"%s\"", key, show(want));
    if (!ok)
        fprintf(stderr, "\n  %s:%u: %s: expected \"%s\", got %s\n", file, line, key,
                show(want), cJSON_IsString(v) ? show(v->valuestring)
                                              : (v ? "<not a string>" : "<absent>"));
}
#define str_is(o, key, want) str_is_at((o), (key), (want), __FILE__, __LINE__)

/* ---------- requests with a client timeout ---------- */

static size_t grow_cb(char *data, size_t sz, size_t nm, void *ud)
{
    buf *b = ud;
    return buf_add(b, data, sz * nm) == BUF_OK ? sz * nm : 0;
}

/* One request with a client timeout of timeout_ms; status 0 when it timed
 * out or failed.  Not pooled, no CUnit calls: safe from other threads. */
static http_resp raw_req(const emu_proc *e, const char *method, const char *path,
                         const char *body, long timeout_ms)
{
    http_resp r;
    memset(&r, 0, sizeof r);
    buf b;
    buf_init(&b, 64 * 1024 * 1024);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Authorization: Bearer " K);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    char url[4096];
    snprintf(url, sizeof url, "%s%s", e->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    size_t len = 0;
    r.body = buf_detach(&b, &len);
    if (!r.body)
        r.body = calloc(1, 1);
    r.body_len = len;
    r.headers = calloc(1, 1);
    r.json = len ? cJSON_Parse(r.body) : NULL;
    return r;
}

/* The same against the suite's emulator, pooled. */
static http_resp *req_t(const char *method, const char *path, const char *body,
                        long timeout_ms)
{
    static http_resp none;
    if (api.nresp >= API_POOL_MAX) {
        CU_FAIL("pool exhausted");
        return &none;
    }
    int i = api.nresp++;
    api.resp[i] = raw_req(&api.emu, method, path, body, timeout_ms);
    api.what[i] = strdup(api_fmt("%s %s", method, path));
    return &api.resp[i];
}

/* ---------- PTY REST helpers ---------- */

static http_resp *create_rest(const char *sb, const char *body)
{
    return POST(pp(sb, "%s", ""), K, body);
}

/* Best-effort DELETE (cleanup); status not checked. */
static void cleanup_pty(const char *sb, const char *id)
{
    req_t("DELETE", pp(sb, "/%s", api_urlenc(id)), NULL, 15000);
}

/* The item with this id in a {"sessions":[...]} response, or NULL. */
static const cJSON *list_find(const http_resp *r, const char *id)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->json, "sessions");
    const cJSON *s;
    cJSON_ArrayForEach(s, a) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "id");
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
            return s;
    }
    return NULL;
}

/* Whether sandbox sb's list has id (asserts the list answers 200). */
static int listed(const char *sb, const char *id)
{
    http_resp *r = req_t("GET", pp(sb, "%s", ""), NULL, 10000);
    expect_status(r, 200);
    return list_find(r, id) != NULL;
}

/* Polls the list until id is gone; returns 1 when it went within ms. */
static int wait_unlisted(const char *sb, const char *id, int ms)
{
    int64_t end = time_mono_ms() + ms;
    for (;;) {
        http_resp *r = req_t("GET", pp(sb, "%s", ""), NULL, 10000);
        if (r->status == 200 && !list_find(r, id))
            return 1;
        if (time_mono_ms() >= end)
            return 0;
        tn_sleep_ms(50);
    }
}

/*
 * PtySessionInfo (§8.1): exactly id, cwd, envs, cols, rows, createdAt,
 * active, lazyStart, with these types; id, cwd, cols, rows as given
 * (cwd NULL = not checked).
 */
static void info_at(const cJSON *o, const char *id, const char *cwd, int cols,
                    int rows, const char *file, unsigned line)
{
    static const char *const keys[] = {"id", "cwd", "envs", "cols", "rows",
                                       "createdAt", "active", "lazyStart"};
    API_CHECK_AT(cJSON_IsObject(o), file, line);
    if (!cJSON_IsObject(o))
        return;
    int nk = cJSON_GetArraySize(o);
    api_check_txt(nk == 8, file, line, "PtySessionInfo has exactly 8 fields");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int has = cJSON_GetObjectItemCaseSensitive(o, keys[i]) != NULL;
        api_check_txt(has, file, line, "PtySessionInfo has %s", keys[i]);
    }
    if (nk != 8) {
        char *t = cJSON_PrintUnformatted(o);
        fprintf(stderr, "\n  %s:%u: PtySessionInfo: %s\n", file, line, t ? t : "");
        free(t);
    }
    str_is_at(o, "id", id, file, line);
    if (cwd)
        str_is_at(o, "cwd", cwd, file, line);
    api_num_at(o, "cols", cols, file, line);
    api_num_at(o, "rows", rows, file, line);
    api_kind_at(o, "envs", 'o', file, line);
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(o, "createdAt");
    api_check_txt(cJSON_IsString(ca) && strlen(ca->valuestring) >= 20 &&
                  ca->valuestring[4] == '-' && ca->valuestring[10] == 'T',
                  file, line, "createdAt is an RFC 3339 time");
    api_kind_at(o, "active", 't', file, line);
    api_kind_at(o, "lazyStart", 'f', file, line);
}
#define assert_info(o, id, cwd, c, r) info_at((o), (id), (cwd), (c), (r), __FILE__, __LINE__)

/* ---------- /proc: processes under an emulator ---------- */

/* Open descriptors of a process (-1 if unreadable). */
static int count_fds(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---------- WebSocket client ---------- */

/*
 * GET <path> as a WebSocket upgrade with the bearer token, offering
 * `protos` as Sec-WebSocket-Protocol (NULL: no header).  upgrade = 0 sends
 * a plain GET (no Upgrade headers).  Returns 0 on a 101 (w->c ready), -1
 * otherwise (status/head/body describe the answer).  rcvbuf > 0 shrinks
 * the socket's receive buffer.  Close w with wsc_close.
 */
static int ws_open_ex(wsc *w, const emu_proc *e, const char *path,
                      const char *protos, int upgrade, int rcvbuf)
{
    const char *extra = api_fmt("%s%s%s"
                                "Authorization: Bearer " K "\r\n"
                                "X-Daytona-SDK-Version: 0.218.0\r\n"
                                "X-Daytona-Source: sdk-typescript-legacy\r\n",
                                protos ? "Sec-WebSocket-Protocol: " : "",
                                protos ? protos : "", protos ? "\r\n" : "");
    return wsc_open(w, e->port, path, upgrade, extra, rcvbuf, MAX_FRAME, 20000);
}

static int ws_open(wsc *w, const char *path, const char *protos)
{
    return ws_open_ex(w, &api.emu, path, protos, 1, 0);
}

/* What a PTY socket delivered. */
typedef struct {
    buf out;                 /* BINARY payloads (tail only past 1 MiB) */
    size_t total;            /* BINARY bytes in all */
    size_t max_bin;          /* largest BINARY frame */
    int nbin;
    int ntext;
    char *texts[MAX_TEXTS];  /* TEXT messages, in order */
    int text_nonjson;        /* TEXT messages that are not control JSON */
    size_t out_at_exited;    /* total when "exited" arrived */
    int got_exited;
    int got_close;
    int close_code;          /* 1005 when the close had no code */
    char close_reason[256];
    int eof;                 /* ended without a close frame */
    int pongs;
    int frames_after_close;
} pty_res;

static void res_init(pty_res *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->out, 4 * 1024 * 1024);
}

static void res_free(pty_res *r)
{
    buf_release(&r->out);
    for (int i = 0; i < r->ntext; i++)
        free(r->texts[i]);
    memset(r, 0, sizeof *r);
}

static const char *res_out(const pty_res *r)
{
    return r->out.data ? r->out.data : "";
}

/* Status of the i-th TEXT message if it is {"type":"control",...}, else NULL. */
static const char *text_status(const pty_res *r, int i, char *out, size_t n)
{
    cJSON *j = cJSON_Parse(r->texts[i]);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
    const char *res = NULL;
    if (cJSON_IsString(t) && strcmp(t->valuestring, "control") == 0 && cJSON_IsString(s)) {
        snprintf(out, n, "%s", s->valuestring);
        res = out;
    }
    cJSON_Delete(j);
    return res;
}

/* Index of the first control message with this status, or -1. */
static int find_ctl(const pty_res *r, const char *status)
{
    for (int i = 0; i < r->ntext; i++) {
        char st[64];
        const char *s = text_status(r, i, st, sizeof st);
        if (s && strcmp(s, status) == 0)
            return i;
    }
    return -1;
}

/*
 * Reads frames into r until a close frame, EOF or timeout_ms; with `until`,
 * also stops once that text is in the output (or, for until_ctl, once a
 * control message with that status arrived).  Returns 1 when the stop
 * condition (until / until_ctl / close-or-EOF when neither) was met.
 */
static int pty_read_ex(wsc *w, pty_res *r, int timeout_ms, const char *until,
                       const char *until_ctl)
{
    int64_t end = time_mono_ms() + timeout_ms;
    buf pl;
    buf_init(&pl, MAX_FRAME + 1);
    int met = 0;
    for (;;) {
        if (until && r->out.data && strstr(r->out.data, until)) {
            met = 1;
            break;
        }
        if (until_ctl && find_ctl(r, until_ctl) >= 0) {
            met = 1;
            break;
        }
        if (r->got_close || r->eof) {
            met = !until && !until_ctl;
            break;
        }
        int left = (int)(end - time_mono_ms());
        if (left <= 0)
            break;
        int op = 0;
        int rc = wsc_frame_next(w, &op, NULL, &pl, left);
        if (rc == 0)
            break;
        if (rc < 0) {
            r->eof = 1;
            continue;
        }
        if (r->got_close) {
            r->frames_after_close++;
            continue;
        }
        if (op == WS_OP_BINARY || op == WS_OP_CONT) {
            r->nbin++;
            r->total += pl.len;
            if (pl.len > r->max_bin)
                r->max_bin = pl.len;
            if (r->out.len > 1024 * 1024) {   /* keep the tail */
                size_t keep = 8192;
                memmove(r->out.data, r->out.data + r->out.len - keep, keep);
                r->out.len = keep;
                r->out.data[keep] = '\0';
            }
            buf_add(&r->out, pl.data ? pl.data : "", pl.len);
        } else if (op == WS_OP_TEXT) {
            char st[64];
            if (r->ntext < MAX_TEXTS)
                r->texts[r->ntext++] = strndup(pl.data ? pl.data : "", pl.len);
            const char *s = r->ntext <= MAX_TEXTS ? text_status(r, r->ntext - 1, st, sizeof st)
                                                  : NULL;
            if (!s)
                r->text_nonjson++;
            else if (strcmp(s, "exited") == 0 && !r->got_exited) {
                r->got_exited = 1;
                r->out_at_exited = r->total;
            }
        } else if (op == WS_OP_PONG) {
            r->pongs++;
        } else if (op == WS_OP_CLOSE) {
            r->got_close = 1;
            r->close_code = wsc_close_payload(&pl, r->close_reason, sizeof r->close_reason);
        }
    }
    buf_release(&pl);
    return met;
}

static int pty_read(wsc *w, pty_res *r, int timeout_ms, const char *until)
{
    return pty_read_ex(w, r, timeout_ms, until, NULL);
}

/* A diagnostic dump of what arrived. */
static void res_dump(const char *what, const pty_res *r)
{
    fprintf(stderr, "\n  [%s] texts=%d", what, r->ntext);
    for (int i = 0; i < r->ntext; i++)
        fprintf(stderr, " <%s>", r->texts[i]);
    fprintf(stderr, " close=%d(%s)%s%s binary=%zu bytes, tail: %s\n",
            r->got_close ? r->close_code : 0, r->close_reason,
            r->got_close ? "" : " no-close", r->eof ? " EOF" : "",
            r->total, show_n(res_out(r), r->out.len, 300));
}

/* Opens a create-connect socket that must answer 101 and deliver
 * "connected"; returns 0 when it did. */
static int open_pty_at(wsc *w, pty_res *r, const char *path, const char *protos,
                       const char *file, unsigned line)
{
    res_init(r);
    int ok = ws_open(w, path, protos) == 0;
    api_check_txt(ok, file, line, "GET %s upgrades (101)", path);
    if (!ok) {
        fprintf(stderr, "\n  %s:%u: GET %s: %s%s\n", file, line, path, w->head, w->body);
        return -1;
    }
    int c = pty_read_ex(w, r, 10000, NULL, "connected");
    api_check_txt(c, file, line, "control connected arrives within 10 s");
    if (!c)
        res_dump(path, r);
    return c ? 0 : -1;
}
#define open_pty(w, r, path, protos) open_pty_at((w), (r), (path), (protos), __FILE__, __LINE__)

/* Types a line into the PTY (binary frame, as the SDK does). */
static void type_line(wsc *w, const char *line)
{
    CU_ASSERT_EQUAL(wsc_send_str(w, WS_OP_BINARY, line), 0);
}

/* Waits for `until` in the output; asserts it came. */
static void expect_out_at(wsc *w, pty_res *r, const char *until, int ms,
                          const char *file, unsigned line)
{
    int ok = pty_read(w, r, ms, until);
    api_check_txt(ok, file, line, "output contains \"%s\"", until);
    if (!ok)
        res_dump(until, r);
}
#define expect_out(w, r, until, ms) expect_out_at((w), (r), (until), (ms), __FILE__, __LINE__)

/* Reads to the end (close or EOF) within ms; asserts it ended. */
static void expect_end_at(wsc *w, pty_res *r, int ms, const char *file, unsigned line)
{
    int ok = pty_read(w, r, ms, NULL);
    api_check_txt(ok, file, line, "the socket ends (close frame or EOF)");
    if (!ok)
        res_dump("end", r);
}
#define expect_end(w, r, ms) expect_end_at((w), (r), (ms), __FILE__, __LINE__)

/* The exited control message equals want exactly; it arrived before the
 * close and after all output. */
static void expect_exited_at(const pty_res *r, const char *want, const char *file,
                             unsigned line)
{
    int i = find_ctl(r, "exited");
    int ok = i >= 0 && json_same(r->texts[i], want);
    api_check_txt(ok, file, line, "exited message == %s", want);
    if (!ok)
        res_dump(want, r);
    api_check_txt(i < 0 || r->out_at_exited == r->total, file, line,
                  "no output after the exited message");
}
#define expect_exited(r, want) expect_exited_at((r), (want), __FILE__, __LINE__)

/* The close frame has this code and (want_reason non-NULL) a reason that
 * is this JSON exactly ("" = an empty reason). */
static void expect_close_at(const pty_res *r, int code, const char *want_reason,
                            const char *file, unsigned line)
{
    int ok_c = r->got_close && r->close_code == code;
    api_check_txt(ok_c, file, line, "close frame with code %d", code);
    int ok_r = 1;
    if (want_reason)
        ok_r = want_reason[0] ? json_same(r->close_reason, want_reason)
                              : r->close_reason[0] == '\0';
    api_check_txt(ok_r, file, line, "close reason == %s",
                  want_reason && want_reason[0] ? want_reason : "<empty>");
    if (!ok_c || !ok_r)
        res_dump("close", r);
}
#define expect_close(r, code, reason) expect_close_at((r), (code), (reason), __FILE__, __LINE__)

/* Runs a one-shot PTY: create-connect with protos, types cmd, reads to the
 * end.  r must be freed by the caller. */
static void one_shot(const char *sb, const char *query, const char *protos,
                     const char *cmd, pty_res *r)
{
    wsc w;
    if (open_pty(&w, r, pp(sb, "/create-connect?%s", query), protos) == 0) {
        type_line(&w, cmd);
        expect_end(&w, r, 15000);
    }
    wsc_close(&w);
}

/* ================= tests: REST ================= */

static void test_rest_create(void)
{
    const char *id = api_uniq("rc");
    http_resp *r = create_rest(SA, api_fmt("{\"id\":\"%s\"}", id));
    expect_status(r, 201);
    CU_ASSERT(cJSON_IsObject(r->json) && cJSON_GetArraySize(r->json) == 1);
    str_is(r->json, "sessionId", id);
    /* duplicate */
    pty_err(create_rest(SA, api_fmt("{\"id\":\"%s\",\"cols\":100}", id)), 409,
            api_fmt("PTY session with ID '%s' already exists", id));
    /* missing / empty id, no body */
    pty_err(create_rest(SA, "{\"cols\":80}"), 400, "session ID is required");
    pty_err(create_rest(SA, "{\"id\":\"\"}"), 400, "session ID is required");
    pty_err(api_req("POST", pp(SA, "%s", ""), K, NULL, NULL, 0), 400, NULL);
    /* bounds: above 1000 is 400, 1000 itself is fine */
    const char *big = api_uniq("rc-big");
    pty_err(create_rest(SA, api_fmt("{\"id\":\"%s\",\"cols\":1001}", big)), 400, NULL);
    pty_err(create_rest(SA, api_fmt("{\"id\":\"%s\",\"rows\":1001}", big)), 400, NULL);
    CU_ASSERT(!listed(SA, big));
    const char *edge = api_uniq("rc-edge");
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\",\"cols\":1000,\"rows\":1000}",
                                          edge)), 201);
    cleanup_pty(SA, id);
    cleanup_pty(SA, edge);
    api_release();
}

static void test_rest_list_get(void)
{
    const char *id = api_uniq("lg"), *id2 = api_uniq("lg-def");
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\",\"cwd\":\"/tmp\",\"envs\":"
                                          "{\"FOO\":\"bar\"},\"cols\":100,\"rows\":40}",
                                          id)), 201);
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\"}", id2)), 201);
    http_resp *l = GET(pp(SA, "%s", ""), K);
    expect_status(l, 200);
    CU_ASSERT(cJSON_IsObject(l->json) && cJSON_GetArraySize(l->json) == 1);
    assert_kind(l->json, "sessions", 'A');
    const cJSON *it = list_find(l, id);
    CU_ASSERT_PTR_NOT_NULL(it);
    assert_info(it, id, "/tmp", 100, 40);
    const cJSON *envs = cJSON_GetObjectItemCaseSensitive(it, "envs");
    str_is(envs, "FOO", "bar");
    str_is(envs, "TERM", "xterm-256color");      /* added when missing */
    /* defaults: cwd = workDir, 80x24 */
    const cJSON *d = list_find(l, id2);
    CU_ASSERT_PTR_NOT_NULL(d);
    assert_info(d, id2, E_ns ? "/home/daytona" : NULL, 80, 24);
    str_is(cJSON_GetObjectItemCaseSensitive(d, "envs"), "TERM", "xterm-256color");
    /* get */
    http_resp *g = GET(pp(SA, "/%s", id), K);
    expect_status(g, 200);
    assert_info(g->json, id, "/tmp", 100, 40);
    str_is(cJSON_GetObjectItemCaseSensitive(g->json, "envs"), "FOO", "bar");
    pty_err(GET(pp(SA, "/%s", api_uniq("nope")), K), 404, "PTY session not found");
    cleanup_pty(SA, id);
    cleanup_pty(SA, id2);
    api_release();
}

static void test_resize(void)
{
    const char *id = api_uniq("rz");
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s&cols=90&rows=30", id), EXIT_CTL) == 0) {
        type_line(&w, "echo \"S1[$(stty size)]\"\n");
        expect_out(&w, &r, "S1[30 90]", 10000);
        http_resp *z = POST(pp(SA, "/%s/resize", id), K, "{\"cols\":133,\"rows\":44}");
        expect_status(z, 200);
        assert_info(z->json, id, NULL, 133, 44);
        http_resp *g = GET(pp(SA, "/%s", id), K);
        assert_num(g->json, "cols", 133);
        assert_num(g->json, "rows", 44);
        type_line(&w, "echo \"S2[$(stty size)]\"\n");
        expect_out(&w, &r, "S2[44 133]", 10000);
        /* out of bounds: 400, size unchanged */
        pty_err(POST(pp(SA, "/%s/resize", id), K, "{\"cols\":1001,\"rows\":44}"), 400, NULL);
        pty_err(POST(pp(SA, "/%s/resize", id), K, "{\"cols\":133,\"rows\":1001}"), 400, NULL);
        assert_num(GET(pp(SA, "/%s", id), K)->json, "cols", 133);
    }
    wsc_close(&w);
    res_free(&r);
    /* unknown: 410, not 404 (trap 20) */
    const char *nope = api_uniq("rz-nope");
    pty_err(POST(pp(SA, "/%s/resize", nope), K, "{\"cols\":100,\"rows\":30}"), 410,
            api_fmt("PTY session %s not found", nope));
    /* terminated (deleted): 410 as well */
    expect_status(DEL(pp(SA, "/%s", id), K), 200);
    pty_err(POST(pp(SA, "/%s/resize", id), K, "{\"cols\":100,\"rows\":30}"), 410,
            api_fmt("PTY session %s not found", id));
    api_release();
}

static void test_delete(void)
{
    const char *id = api_uniq("del");
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\"}", id)), 201);
    http_resp *d = DEL(pp(SA, "/%s", id), K);
    expect_status(d, 200);
    CU_ASSERT(json_same(d->body, "{\"message\":\"PTY session deleted\"}"));
    pty_err(GET(pp(SA, "/%s", id), K), 404, "PTY session not found");
    CU_ASSERT(!listed(SA, id));
    pty_err(DEL(pp(SA, "/%s", id), K), 404, "PTY session not found");
    /* the id is free again */
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\"}", id)), 201);
    cleanup_pty(SA, id);
    api_release();
}

/* Path params are percent-encoded by the SDK's generated client (trap 18):
 * getPtySessionInfo/resizePtySession/killPtySession of an id with a space. */
static void test_encoded_id(void)
{
    const char *id = api_fmt("%s x", api_uniq("enc"));
    const char *e = api_urlenc(id);
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\"}", id)), 201);
    http_resp *g = GET(pp(SA, "/%s", e), K);
    expect_status(g, 200);
    str_is(g->json, "id", id);
    expect_status(POST(pp(SA, "/%s/resize", e), K, "{\"cols\":100,\"rows\":30}"), 200);
    expect_status(DEL(pp(SA, "/%s", e), K), 200);
    CU_ASSERT(!listed(SA, id));
    api_release();
}

/* A start failure on REST create is 500 {"error":"failed to start PTY
 * session"} (§8.1); a nonexistent cwd makes the shell fail to start. */
static void test_rest_bad_cwd(void)
{
    const char *id = api_uniq("badcwd");
    http_resp *r = create_rest(SA, api_fmt("{\"id\":\"%s\",\"cwd\":\"/no/such/dir\"}", id));
    pty_err(r, 500, "failed to start PTY session");
    cleanup_pty(SA, id);
    api_release();
}

/* ================= tests: handshake ================= */

/* Trap 19 / §8.2: exactly one offered token is echoed, Exit-Control
 * preferred, then the SDK-version token, then the first; none offered, no
 * header. */
static void test_subprotocol_echo(void)
{
    struct {
        const char *offer;
        const char *want;        /* NULL = no header */
    } cases[] = {
        {EXIT_CTL, EXIT_CTL},
        {NULL, NULL},
        {"some-other-token", "some-other-token"},
        {"first-token, second-token", "first-token"},
        {"foo, X-Daytona-SDK-Version~0.218.0", "X-Daytona-SDK-Version~0.218.0"},
        {"X-Daytona-SDK-Version~0.218.0, " EXIT_CTL, EXIT_CTL},
        {NULL, EXIT_CTL},        /* envs token first, then Exit-Control (SDK order) */
    };
    cases[6].offer = api_fmt("%s, " EXIT_CTL, envs_token("{\"A\":\"1\"}"));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *id = api_uniq("sp");
        wsc w;
        int up = ws_open(&w, pp(SA, "/create-connect?id=%s", id), cases[i].offer);
        CU_ASSERT_EQUAL(up, 0);
        char v[512];
        int n = wsc_head_value(w.head, "Sec-WebSocket-Protocol", v, sizeof v);
        int ok = cases[i].want ? n == 1 && strcmp(v, cases[i].want) == 0 : n == 0;
        CU_ASSERT(ok);
        if (!ok || up != 0)
            fprintf(stderr, "\n  offer [%s]: expected %s, got %d header(s) [%s]; head:\n%s%s\n",
                    cases[i].offer ? cases[i].offer : "(none)",
                    cases[i].want ? cases[i].want : "no header", n, v, w.head, w.body);
        wsc_close(&w);
        cleanup_pty(SA, id);
    }
    api_release();
}

/* The echo rule has no length limit: a client offering only an envs token
 * (a long one: 300+ characters) must get it back, or Node's ws rejects the
 * handshake ("Server sent no subprotocol"). */
static void test_subprotocol_long_token(void)
{
    char val[301];
    memset(val, 'v', 300);
    val[300] = '\0';
    const char *tok = envs_token(api_fmt("{\"BIG\":\"%s\"}", val));
    const char *id = api_uniq("sp-long");
    wsc w;
    int up = ws_open(&w, pp(SA, "/create-connect?id=%s", id), tok);
    CU_ASSERT_EQUAL(up, 0);
    char v[1024];
    int n = wsc_head_value(w.head, "Sec-WebSocket-Protocol", v, sizeof v);
    CU_ASSERT(n == 1 && strcmp(v, tok) == 0);
    if (!(n == 1 && strcmp(v, tok) == 0))
        fprintf(stderr, "\n  offered only %.40s… (%zu chars): got %d header(s) [%.60s]\n",
                tok, strlen(tok), n, v);
    wsc_close(&w);
    cleanup_pty(SA, id);
    api_release();
}

/* Errors before the upgrade (§8.2): missing id 400, existing id 409,
 * cols/rows above 1000 400, malformed envs token 400; none creates a
 * session. */
static void test_create_connect_errors(void)
{
    wsc w;
    /* missing id */
    CU_ASSERT_NOT_EQUAL(ws_open(&w, pp(SA, "/create-connect?cols=80"), EXIT_CTL), 0);
    CU_ASSERT_EQUAL(w.status, 400);
    wsc_close(&w);
    /* existing id */
    const char *id = api_uniq("cce");
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\"}", id)), 201);
    CU_ASSERT_NOT_EQUAL(ws_open(&w, pp(SA, "/create-connect?id=%s", id), EXIT_CTL), 0);
    CU_ASSERT_EQUAL(w.status, 409);
    cJSON *j = cJSON_Parse(w.body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    CU_ASSERT(cJSON_IsString(e) && strcmp(e->valuestring,
              api_fmt("PTY session with ID '%s' already exists", id)) == 0);
    cJSON_Delete(j);
    wsc_close(&w);
    cleanup_pty(SA, id);
    /* too big */
    const char *big = api_uniq("cce-big");
    CU_ASSERT_NOT_EQUAL(ws_open(&w, pp(SA, "/create-connect?id=%s&cols=1001", big), EXIT_CTL), 0);
    CU_ASSERT_EQUAL(w.status, 400);
    wsc_close(&w);
    CU_ASSERT_NOT_EQUAL(ws_open(&w, pp(SA, "/create-connect?id=%s&rows=1001", big), EXIT_CTL), 0);
    CU_ASSERT_EQUAL(w.status, 400);
    wsc_close(&w);
    CU_ASSERT(!listed(SA, big));
    /* malformed envs tokens: not base64, not JSON, not an object */
    const char *bad[] = {
        ENVS_PFX "!!!not-base64!!!",
        api_fmt(ENVS_PFX "%s", b64url("{not json")),
        api_fmt(ENVS_PFX "%s", b64url("[1,2]")),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *bid = api_uniq("cce-env");
        int up = ws_open(&w, pp(SA, "/create-connect?id=%s", bid),
                         api_fmt("%s, " EXIT_CTL, bad[i]));
        CU_ASSERT_NOT_EQUAL(up, 0);
        CU_ASSERT_EQUAL(w.status, 400);
        if (w.status != 400)
            fprintf(stderr, "\n  malformed envs token %s: got %ld\n", bad[i], w.status);
        wsc_close(&w);
        CU_ASSERT(!listed(SA, bid));
        cleanup_pty(SA, bid);
    }
    /* cols/rows that do not parse silently become the defaults */
    const char *dflt = api_uniq("cce-dflt");
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s&cols=abc&rows=", dflt), EXIT_CTL) == 0) {
        http_resp *g = GET(pp(SA, "/%s", dflt), K);
        assert_num(g->json, "cols", 80);
        assert_num(g->json, "rows", 24);
    }
    wsc_close(&w);
    res_free(&r);
    cleanup_pty(SA, dflt);
    api_release();
}

/* "After upgrading, the server creates and starts the session" (§8.2): a
 * GET that is not a WebSocket upgrade fails and must leave no session. */
static void test_create_connect_no_upgrade(void)
{
    const char *id = api_uniq("noup");
    wsc w;
    CU_ASSERT_NOT_EQUAL(ws_open_ex(&w, &api.emu, pp(SA, "/create-connect?id=%s", id),
                                   NULL, 0, 0), 0);
    CU_ASSERT(w.status >= 400 && w.status < 500);
    wsc_close(&w);
    int there = listed(SA, id);
    CU_ASSERT(!there);
    if (there)
        fprintf(stderr, "\n  plain GET create-connect?id=%s answered %ld but left a "
                "running PTY session in the list\n", id, w.status);
    cleanup_pty(SA, id);
    api_release();
}

/* ================= tests: frame protocol ================= */

static void test_connected_output_input(void)
{
    const char *id = api_uniq("io");
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s", id), EXIT_CTL) == 0) {
        /* connected is a TEXT control frame exactly */
        int ci = find_ctl(&r, "connected");
        CU_ASSERT(ci >= 0 && json_same(r.texts[ci], "{\"type\":\"control\",\"status\":\"connected\"}"));
        /* input as a BINARY frame */
        type_line(&w, "echo \"BIN-$((40+2))\"\n");
        expect_out(&w, &r, "BIN-42", 10000);
        /* input as a TEXT frame */
        CU_ASSERT_EQUAL(wsc_send_str(&w, WS_OP_TEXT, "echo \"TXT-$((50+5))\"\n"), 0);
        expect_out(&w, &r, "TXT-55", 10000);
        /* a ping is answered */
        CU_ASSERT_EQUAL(ws_send_ping(w.c, "pp", 2), WS_OK);
        /* bulk output: BINARY frames of at most 32 KiB */
        type_line(&w, "head -c 200000 /dev/zero | tr '\\0' y; echo; echo \"BULK-$((60+6))\"\n");
        expect_out(&w, &r, "BULK-66", 20000);
        CU_ASSERT(r.total >= 200000);
        CU_ASSERT(r.max_bin <= 32768);
        if (r.max_bin > 32768)
            fprintf(stderr, "\n  largest BINARY frame %zu bytes (max 32768)\n", r.max_bin);
        CU_ASSERT(r.pongs >= 1);
        /* output only ever comes as BINARY: every TEXT is control JSON */
        CU_ASSERT_EQUAL(r.text_nonjson, 0);
        CU_ASSERT_EQUAL(r.ntext, 1);
        if (r.ntext != 1)
            res_dump("texts", &r);
    }
    wsc_close(&w);
    res_free(&r);
    cleanup_pty(SA, id);
    api_release();
}

/* Envs via the X-Daytona-Pty-Envs~ token (base64url, no padding): values
 * chosen so the token contains both '-' and '_'; TERM can be overridden. */
static void test_envs_token(void)
{
    const char *id = api_uniq("env");
    const char *json = "{\"A_B\":\"x?>~~>?y\",\"QQ\":\"\xc3\xbc/+==?\",\"TERM\":\"vt100\","
                       "\"SP\":\"a b  c\"}";
    const char *tok = envs_token(json);
    CU_ASSERT(strchr(tok, '-') && strchr(tok, '_'));     /* the test's own premise */
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s", id),
                 api_fmt("%s, " EXIT_CTL, tok)) == 0) {
        type_line(&w, "printf 'E1<%s|%s|%s|%s>\\n' \"$A_B\" \"$QQ\" \"$TERM\" \"$SP\"\n");
        expect_out(&w, &r, "E1<x?>~~>?y|\xc3\xbc/+==?|vt100|a b  c>", 10000);
        http_resp *g = GET(pp(SA, "/%s", id), K);
        const cJSON *envs = cJSON_GetObjectItemCaseSensitive(g->json, "envs");
        str_is(envs, "A_B", "x?>~~>?y");
        str_is(envs, "TERM", "vt100");
        type_line(&w, "exit\n");
        expect_end(&w, &r, 10000);
    }
    wsc_close(&w);
    res_free(&r);
    /* without an envs token TERM defaults to xterm-256color */
    const char *id2 = api_uniq("env-term");
    pty_res r2;
    res_init(&r2);
    one_shot(SA, api_fmt("id=%s", id2), EXIT_CTL,
             "echo \"T<$TERM>\"; exit\n", &r2);
    CU_ASSERT(strstr(res_out(&r2), "T<xterm-256color>") != NULL);
    res_free(&r2);
    api_release();
}

/* An env value of 5000 bytes is an ordinary environment variable (Linux
 * allows 128 KiB per string); the SDK sends it in the envs token. */
static void test_envs_large_value(void)
{
    char *val = malloc(5001);
    CU_ASSERT_FATAL(val != NULL);
    memset(val, 'z', 5000);
    val[5000] = '\0';
    const char *tok = envs_token(api_fmt("{\"BIG\":\"%s\"}", val));
    free(val);
    const char *id = api_uniq("env-big");
    wsc w;
    int up = ws_open(&w, pp(SA, "/create-connect?id=%s", id), api_fmt("%s, " EXIT_CTL, tok));
    CU_ASSERT_EQUAL(up, 0);
    if (up != 0) {
        fprintf(stderr, "\n  envs token with a 5000-byte value: %ld %s\n", w.status, w.body);
    } else {
        pty_res r;
        res_init(&r);
        type_line(&w, "echo \"LEN<${#BIG}>\"; exit\n");
        expect_out(&w, &r, "LEN<5000>", 10000);
        res_free(&r);
    }
    wsc_close(&w);
    cleanup_pty(SA, id);
    api_release();
}

static void test_exit_zero(void)
{
    const char *id = api_uniq("ex0");
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s", id), EXIT_CTL) == 0) {
        type_line(&w, "echo \"BYE-$((1+1))\"; exit 0\n");
        expect_end(&w, &r, 15000);
        CU_ASSERT(strstr(res_out(&r), "BYE-2") != NULL);
        expect_exited(&r, "{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":0}");
        expect_close(&r, 1000, NULL);
    }
    wsc_close(&w);
    res_free(&r);
    /* an exited PTY disappears from the list; GET is 404 */
    CU_ASSERT(wait_unlisted(SA, id, 3000));
    pty_err(GET(pp(SA, "/%s", id), K), 404, "PTY session not found");
    api_release();
}

static void test_exit_nonzero(void)
{
    const char *id = api_uniq("ex3");
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s", id), EXIT_CTL) == 0) {
        type_line(&w, "exit 3\n");
        expect_end(&w, &r, 15000);
        expect_exited(&r, "{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":3,"
                          "\"exitReason\":\"non-zero exit\"}");
        expect_close(&r, 1011, "{\"exitCode\":3,\"exitReason\":\"non-zero exit\"}");
    }
    wsc_close(&w);
    res_free(&r);
    CU_ASSERT(wait_unlisted(SA, id, 3000));
    api_release();
}

/* §8.4: reasons for 130, 137, 143 and other codes above 128. */
static void test_exit_reasons(void)
{
    struct {
        int code;
        const char *reason;
    } cases[] = {{130, "Ctrl+C"}, {137, "SIGKILL"}, {143, "SIGTERM"}, {129, "signal 1"},
                 {200, "signal 72"}, {1, "non-zero exit"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pty_res r;
        res_init(&r);
        one_shot(SA, api_fmt("id=%s", api_uniq("exr")), EXIT_CTL,
                 api_fmt("exit %d\n", cases[i].code), &r);
        expect_exited(&r, api_fmt("{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":%d,"
                                  "\"exitReason\":\"%s\"}", cases[i].code, cases[i].reason));
        expect_close(&r, 1011, api_fmt("{\"exitCode\":%d,\"exitReason\":\"%s\"}",
                                       cases[i].code, cases[i].reason));
        res_free(&r);
    }
    api_release();
}

/* The exited message is for clients that advertised Exit-Control (§8.4);
 * others still get the close frame with the reason. */
static void test_exit_without_exit_control(void)
{
    pty_res r;
    res_init(&r);
    one_shot(SA, api_fmt("id=%s", api_uniq("noctl")), NULL, "exit 3\n", &r);
    CU_ASSERT_EQUAL(find_ctl(&r, "exited"), -1);
    expect_close(&r, 1011, "{\"exitCode\":3,\"exitReason\":\"non-zero exit\"}");
    res_free(&r);
    res_init(&r);
    one_shot(SA, api_fmt("id=%s", api_uniq("noctl0")), NULL, "exit\n", &r);
    CU_ASSERT_EQUAL(find_ctl(&r, "exited"), -1);
    expect_close(&r, 1000, NULL);
    res_free(&r);
    api_release();
}

/* §8.4: "A shell killed by a signal from outside is reported by the reaper
 * as exit -1, which gives non-zero exit." */
static void test_shell_killed_from_outside(void)
{
    pty_res r;
    res_init(&r);
    one_shot(SA, api_fmt("id=%s", api_uniq("kill9")), EXIT_CTL, "kill -KILL $$\n", &r);
    expect_exited(&r, "{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":-1,"
                      "\"exitReason\":\"non-zero exit\"}");
    expect_close(&r, 1011, "{\"exitCode\":-1,\"exitReason\":\"non-zero exit\"}");
    res_free(&r);
    api_release();
}

/* §8.2: a start failure after the upgrade sends the error control message
 * and closes (no "connected"). */
static void test_create_connect_bad_cwd(void)
{
    const char *id = api_uniq("cc-badcwd");
    wsc w;
    pty_res r;
    res_init(&r);
    int up = ws_open(&w, pp(SA, "/create-connect?id=%s&cwd=%%2Fno%%2Fsuch%%2Fdir", id), EXIT_CTL);
    CU_ASSERT_EQUAL(up, 0);
    if (up == 0) {
        expect_end(&w, &r, 10000);
        int err = find_ctl(&r, "error"), con = find_ctl(&r, "connected");
        CU_ASSERT(err >= 0);
        CU_ASSERT_EQUAL(con, -1);
        if (err < 0 || con >= 0)
            res_dump("create-connect with a nonexistent cwd", &r);
    }
    wsc_close(&w);
    res_free(&r);
    cleanup_pty(SA, id);
    api_release();
}

/* S218 builds the query with URLSearchParams: '+' is a space, cwd is
 * percent-encoded; cwd sets the shell's directory. */
static void test_create_connect_query(void)
{
    const char *base = api_uniq("q");
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s+x&cols=100&rows=30&cwd=%%2Ftmp", base),
                 EXIT_CTL) == 0) {
        http_resp *l = GET(pp(SA, "%s", ""), K);
        const cJSON *it = list_find(l, api_fmt("%s x", base));
        CU_ASSERT_PTR_NOT_NULL(it);
        if (it)
            assert_info(it, api_fmt("%s x", base), "/tmp", 100, 30);
        type_line(&w, "echo \"P<$(pwd)>\"; exit\n");
        expect_out(&w, &r, "P</tmp>", 10000);
        expect_end(&w, &r, 10000);
    }
    wsc_close(&w);
    res_free(&r);
    api_release();
}

/* §8.3: connect upgrades first; an unknown id gets a TEXT error and the
 * socket closes without a close frame. */
static void test_connect_unknown(void)
{
    const char *id = api_uniq("unk");
    wsc w;
    pty_res r;
    res_init(&r);
    int up = ws_open(&w, pp(SA, "/%s/connect", id), EXIT_CTL);
    CU_ASSERT_EQUAL(up, 0);
    char v[256];
    CU_ASSERT(wsc_head_value(w.head, "Sec-WebSocket-Protocol", v, sizeof v) == 1 &&
              strcmp(v, EXIT_CTL) == 0);
    if (up == 0) {
        expect_end(&w, &r, 10000);
        CU_ASSERT_EQUAL(r.ntext, 1);
        CU_ASSERT(r.ntext >= 1 && json_same(r.texts[0], api_fmt(
            "{\"type\":\"control\",\"status\":\"error\",\"error\":"
            "\"Failed to connect to PTY session: PTY session %s not found\"}", id)));
        CU_ASSERT(!r.got_close && r.eof);
        if (r.ntext != 1 || r.got_close)
            res_dump("connect unknown", &r);
    }
    wsc_close(&w);
    res_free(&r);
    api_release();
}

/* connect to a REST-created PTY; a second client sees the same output;
 * input from either reaches the shell; both get the exit. */
static void test_two_clients(void)
{
    const char *id = api_uniq("two");
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\"}", id)), 201);
    wsc a, b;
    pty_res ra, rb;
    int ok = open_pty(&a, &ra, pp(SA, "/%s/connect", id), EXIT_CTL) == 0;
    ok = open_pty(&b, &rb, pp(SA, "/%s/connect", id), EXIT_CTL) == 0 && ok;
    if (ok) {
        type_line(&b, "echo \"TWO-$((20+1))\"\n");
        expect_out(&a, &ra, "TWO-21", 10000);
        expect_out(&b, &rb, "TWO-21", 10000);
        CU_ASSERT_EQUAL(wsc_send_str(&a, WS_OP_TEXT, "echo \"ONE-$((30+3))\"\n"), 0);
        expect_out(&a, &ra, "ONE-33", 10000);
        expect_out(&b, &rb, "ONE-33", 10000);
        type_line(&a, "exit 0\n");
        expect_end(&a, &ra, 10000);
        expect_end(&b, &rb, 10000);
        expect_exited(&ra, "{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":0}");
        expect_exited(&rb, "{\"type\":\"control\",\"status\":\"exited\",\"exitCode\":0}");
        expect_close(&ra, 1000, NULL);
        expect_close(&rb, 1000, NULL);
    }
    wsc_close(&a);
    wsc_close(&b);
    res_free(&ra);
    res_free(&rb);
    /* connecting after the exit: the not-found error */
    CU_ASSERT(wait_unlisted(SA, id, 3000));
    wsc c;
    pty_res rc;
    res_init(&rc);
    if (ws_open(&c, pp(SA, "/%s/connect", id), EXIT_CTL) == 0) {
        expect_end(&c, &rc, 10000);
        CU_ASSERT(rc.ntext >= 1 && find_ctl(&rc, "error") == 0);
        CU_ASSERT_EQUAL(find_ctl(&rc, "connected"), -1);
    } else {
        CU_FAIL("connect after exit did not upgrade");
    }
    wsc_close(&c);
    res_free(&rc);
    api_release();
}

/* DELETE while attached: close 1011 {"exitCode":137,"exitReason":"SIGKILL"}
 * to every client, the shell's processes are gone, the session removed. */
static void test_delete_attached(void)
{
    const char *id = api_uniq("delatt");
    wsc a, b;
    pty_res ra, rb;
    int ok = open_pty(&a, &ra, pp(SA, "/create-connect?id=%s", id), EXIT_CTL) == 0;
    ok = ok && open_pty(&b, &rb, pp(SA, "/%s/connect", id), EXIT_CTL) == 0;
    if (ok) {
        type_line(&a, "sleep 4244 & echo \"BG-$((4240+4))\"\n");
        expect_out(&a, &ra, "BG-4244", 10000);
        CU_ASSERT_EQUAL(api_wait_procs("sleep", "4244", 1, 5000), 1);
        int64_t t0 = time_mono_ms();
        http_resp *d = req_t("DELETE", pp(SA, "/%s", id), NULL, 15000);
        expect_status(d, 200);
        CU_ASSERT(json_same(d->body, "{\"message\":\"PTY session deleted\"}"));
        CU_ASSERT(time_mono_ms() - t0 < 6000);
        expect_end(&a, &ra, 10000);
        expect_end(&b, &rb, 10000);
        expect_close(&ra, 1011, "{\"exitCode\":137,\"exitReason\":\"SIGKILL\"}");
        expect_close(&rb, 1011, "{\"exitCode\":137,\"exitReason\":\"SIGKILL\"}");
        CU_ASSERT_EQUAL(api_wait_procs("sleep", "4244", 0, 5000), 0);
        pty_err(GET(pp(SA, "/%s", id), K), 404, "PTY session not found");
        CU_ASSERT(!listed(SA, id));
    }
    wsc_close(&a);
    wsc_close(&b);
    res_free(&ra);
    res_free(&rb);
    api_release();
}

/* The shell is an interactive login bash (-i -l) inside the sandbox, as
 * the sandbox user, in the sandbox's home. */
static void test_shell_identity(void)
{
    const char *home = E_ns ? "/home/daytona" : NULL;
    http_resp *h = GET(api_fmt("/toolbox/%s/user-home-dir", SA), K);
    if (!home && h->status == 200)
        home = resp_str(h, "dir");
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(SA, "/create-connect?id=%s", api_uniq("who")), EXIT_CTL) == 0) {
        type_line(&w, "echo \"W<$(whoami)>\"; echo \"D<$(pwd)>\"; echo \"H<$HOME>\"; "
                      "shopt -q login_shell && echo \"L-$((1+1))\"; "
                      "[[ $- == *i* ]] && echo \"I-$((2+2))\"; [ -t 0 ] && echo \"T-$((3+3))\"; "
                      "echo \"U<$(id -u)>\"; exit\n");
        expect_end(&w, &r, 15000);
        const char *o = res_out(&r);
        if (E_ns)
            CU_ASSERT(strstr(o, "W<daytona>") != NULL);
        if (home) {
            CU_ASSERT(strstr(o, api_fmt("D<%s>", home)) != NULL);
            CU_ASSERT(strstr(o, api_fmt("H<%s>", home)) != NULL);
        }
        CU_ASSERT(strstr(o, "L-2") != NULL);
        CU_ASSERT(strstr(o, "I-4") != NULL);
        CU_ASSERT(strstr(o, "T-6") != NULL);
        CU_ASSERT(strstr(o, "U<0>") == NULL || !E_ns);
        if (!strstr(o, "L-2") || !strstr(o, "I-4") || (E_ns && !strstr(o, "W<daytona>")))
            res_dump("identity", &r);
    }
    wsc_close(&w);
    res_free(&r);
    api_release();
}

/* PTYs belong to their sandbox. */
static void test_two_sandboxes(void)
{
    const char *id = api_uniq("iso");
    expect_status(create_rest(SA, api_fmt("{\"id\":\"%s\"}", id)), 201);
    CU_ASSERT(!listed(SBX, id));
    pty_err(GET(pp(SBX, "/%s", id), K), 404, "PTY session not found");
    pty_err(POST(pp(SBX, "/%s/resize", id), K, "{\"cols\":100,\"rows\":30}"), 410, NULL);
    pty_err(DEL(pp(SBX, "/%s", id), K), 404, "PTY session not found");
    wsc w;
    pty_res r;
    res_init(&r);
    if (ws_open(&w, pp(SBX, "/%s/connect", id), EXIT_CTL) == 0) {
        expect_end(&w, &r, 10000);
        CU_ASSERT(find_ctl(&r, "error") == 0 && find_ctl(&r, "connected") < 0);
    } else {
        CU_FAIL("connect from the other sandbox did not upgrade");
    }
    wsc_close(&w);
    res_free(&r);
    /* the same id in B is no conflict */
    expect_status(create_rest(SBX, api_fmt("{\"id\":\"%s\"}", id)), 201);
    expect_status(GET(pp(SA, "/%s", id), K), 200);
    cleanup_pty(SA, id);
    cleanup_pty(SBX, id);
    api_release();
}

/* ================= tests: lifetime ================= */

static int new_sandbox(const char *name, char *out, size_t n)
{
    return api_new_sandbox(K, api_uniq(name), out, n);
}

static void test_stop_ends_ptys(void)
{
    char sc[64];
    CU_ASSERT_FATAL(new_sandbox("pty-stop", sc, sizeof sc) == 0);
    const char *id = api_uniq("stop");
    wsc w;
    pty_res r;
    if (open_pty(&w, &r, pp(sc, "/create-connect?id=%s", id), EXIT_CTL) == 0) {
        type_line(&w, "sleep 4245 & echo \"ST-$((4240+5))\"\n");
        expect_out(&w, &r, "ST-4245", 10000);
        CU_ASSERT_EQUAL(api_wait_procs("sleep", "4245", 1, 5000), 1);
        expect_status(req_t("POST", api_fmt("/api/sandbox/%s/stop", sc), NULL, 30000), 200);
        expect_end(&w, &r, 15000);
        CU_ASSERT_EQUAL(api_wait_procs("sleep", "4245", 0, 5000), 0);
        CU_ASSERT(api_wait_state(sc, "stopped", K, 15000) == 0);
        expect_status(req_t("POST", api_fmt("/api/sandbox/%s/start", sc), NULL, 30000), 200);
        CU_ASSERT(api_wait_state(sc, "started", K, 15000) == 0);
        CU_ASSERT(!listed(sc, id));
        pty_err(GET(pp(sc, "/%s", id), K), 404, "PTY session not found");
    }
    wsc_close(&w);
    res_free(&r);
    req_t("DELETE", api_fmt("/api/sandbox/%s", sc), NULL, 30000);
    api_release();
}

/* A PTY whose shell exited on its own must release what it held: the
 * emulator's open descriptors do not grow with each one. */
static void test_exited_ptys_release_fds(void)
{
    /* warm-up: first use of a sandbox may open lasting descriptors */
    pty_res r;
    res_init(&r);
    one_shot(SA, api_fmt("id=%s", api_uniq("fdw")), EXIT_CTL, "exit\n", &r);
    res_free(&r);
    tn_sleep_ms(300);
    int before = count_fds(api.emu.pid);
    for (int i = 0; i < 6; i++) {
        res_init(&r);
        one_shot(SA, api_fmt("id=%s", api_uniq("fd")), EXIT_CTL, "exit\n", &r);
        expect_close(&r, 1000, NULL);
        res_free(&r);
    }
    tn_sleep_ms(500);
    int after = count_fds(api.emu.pid);
    CU_ASSERT(before > 0 && after - before <= 1);
    if (after - before > 1)
        fprintf(stderr, "\n  emulator fds: %d before, %d after 6 PTYs that exited by "
                "themselves (ls -l /proc/%d/fd shows the extra /dev/ptmx and pipe fds)\n",
                before, after, (int)api.emu.pid);
    api_release();
}

/* Stopping a sandbox whose PTY already exited is as quick as stopping one
 * whose PTY was deleted (the exited shell must not count as running). */
static void test_stop_after_exited_pty(void)
{
    char s1[64], s2[64];
    CU_ASSERT_FATAL(new_sandbox("pty-exstop", s1, sizeof s1) == 0);
    CU_ASSERT_FATAL(new_sandbox("pty-delstop", s2, sizeof s2) == 0);
    pty_res r;
    res_init(&r);
    one_shot(s1, api_fmt("id=%s", api_uniq("xs")), EXIT_CTL, "exit\n", &r);
    expect_close(&r, 1000, NULL);
    res_free(&r);
    const char *id2 = api_uniq("ds");
    expect_status(create_rest(s2, api_fmt("{\"id\":\"%s\"}", id2)), 201);
    expect_status(DEL(pp(s2, "/%s", id2), K), 200);
    tn_sleep_ms(300);
    int64_t t0 = time_mono_ms();
    expect_status(req_t("POST", api_fmt("/api/sandbox/%s/stop", s2), NULL, 30000), 200);
    int64_t t_del = time_mono_ms() - t0;
    t0 = time_mono_ms();
    expect_status(req_t("POST", api_fmt("/api/sandbox/%s/stop", s1), NULL, 30000), 200);
    int64_t t_exit = time_mono_ms() - t0;
    CU_ASSERT(t_exit < t_del + 1000);
    if (t_exit >= t_del + 1000)
        fprintf(stderr, "\n  POST stop took %lld ms after a PTY exited by itself, "
                "%lld ms after a PTY was deleted\n", (long long)t_exit, (long long)t_del);
    req_t("DELETE", api_fmt("/api/sandbox/%s", s1), NULL, 30000);
    req_t("DELETE", api_fmt("/api/sandbox/%s", s2), NULL, 30000);
    api_release();
}

/* ================= tests on an emulator of their own ================= */

static int own_emu(emu_proc *e, char *sb, size_t n)
{
    static const char *const args[] = {"--api-key", K, NULL};
    if (emu_start(e, ":memory:", args) != 0)
        return -1;
    http_resp c = raw_req(e, "POST", "/api/sandbox", "{\"name\":\"pty-own\"}", 30000);
    const char *id = resp_str(&c, "id");
    int ok = c.status == 200 && id;
    if (ok)
        snprintf(sb, n, "%s", id);
    http_resp_free(&c);
    return ok ? 0 : -1;
}

typedef struct {
    const emu_proc *e;
    char path[512];
    long status;
    int64_t ms;
} del_job;

static void *del_thread(void *arg)
{
    del_job *j = arg;
    int64_t t0 = time_mono_ms();
    http_resp r = raw_req(j->e, "DELETE", j->path, NULL, 15000);
    j->status = r.status;
    j->ms = time_mono_ms() - t0;
    http_resp_free(&r);
    return NULL;
}

/* Three DELETEs of one PTY at once: each answers (one 200, the rest 200 or
 * 404), and the emulator still shuts down cleanly. */
static void test_concurrent_delete(void)
{
    emu_proc e;
    char sb[64];
    CU_ASSERT_FATAL(own_emu(&e, sb, sizeof sb) == 0);
    char path[512];
    snprintf(path, sizeof path, "/toolbox/%s/process/pty/cd1", sb);
    http_resp c = raw_req(&e, "POST", api_fmt("/toolbox/%s/process/pty", sb),
                          "{\"id\":\"cd1\"}", 15000);
    CU_ASSERT_EQUAL(c.status, 201);
    http_resp_free(&c);
    del_job jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].e = &e;
        snprintf(jobs[i].path, sizeof jobs[i].path, "%s", path);
        pthread_create(&th[i], NULL, del_thread, &jobs[i]);
    }
    int n200 = 0, answered = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        answered += jobs[i].status != 0;
        n200 += jobs[i].status == 200;
        if (jobs[i].status == 0)
            fprintf(stderr, "\n  concurrent DELETE %s #%d: no answer within %lld ms\n",
                    path, i, (long long)jobs[i].ms);
        else
            CU_ASSERT(jobs[i].status == 200 || jobs[i].status == 404);
    }
    CU_ASSERT_EQUAL(answered, 3);
    CU_ASSERT(n200 >= 1);
    http_resp l = raw_req(&e, "GET", api_fmt("/toolbox/%s/process/pty", sb), NULL, 5000);
    CU_ASSERT_EQUAL(l.status, 200);
    http_resp_free(&l);
    int64_t t0 = time_mono_ms();
    int st = emu_stop(&e);
    CU_ASSERT_EQUAL(st, 0);
    if (st != 0)
        fprintf(stderr, "\n  after concurrent DELETEs the emulator did not exit on SIGTERM "
                "(status %d after %lld ms)\n", st, (long long)(time_mono_ms() - t0));
    api_release();
}

/* A client that never reads (its TCP window full) must not stall the PTY
 * for the others nor the PTY REST API: §8.4 closes a slow consumer with
 * 1008 "slow consumer". */
static void test_slow_consumer(void)
{
    emu_proc e;
    char sb[64];
    CU_ASSERT_FATAL(own_emu(&e, sb, sizeof sb) == 0);
    wsc fast, slow;
    pty_res rf, rs;
    res_init(&rf);
    res_init(&rs);
    int ok = ws_open_ex(&fast, &e, api_fmt("/toolbox/%s/process/pty/create-connect?id=sl",
                                           sb), EXIT_CTL, 1, 0) == 0;
    ok = ok && pty_read_ex(&fast, &rf, 10000, NULL, "connected");
    ok = ok && ws_open_ex(&slow, &e, api_fmt("/toolbox/%s/process/pty/sl/connect", sb),
                          EXIT_CTL, 1, 4096) == 0;
    CU_ASSERT_FATAL(ok);
    tn_sleep_ms(300);
    type_line(&fast, "head -c 16000000 /dev/zero | tr '\\0' x; echo; echo \"SLOW-$((40+2))\"\n");
    /* the reading client gets everything */
    int got = pty_read(&fast, &rf, 8000, "SLOW-42");
    /* meanwhile the REST API answers */
    int64_t t0 = time_mono_ms();
    http_resp l = raw_req(&e, "GET", api_fmt("/toolbox/%s/process/pty", sb), NULL, 5000);
    int64_t t_list = time_mono_ms() - t0;
    CU_ASSERT_EQUAL(l.status, 200);
    http_resp_free(&l);
    if (!got)
        got = pty_read(&fast, &rf, 12000, "SLOW-42");
    CU_ASSERT(got);
    if (!got || t_list >= 5000)
        fprintf(stderr, "\n  with one non-reading client: the reading client got %zu of "
                ">16000000 bytes and no end marker in 20 s; GET list %s after %lld ms\n",
                rf.total, t_list >= 5000 ? "had no answer" : "answered", (long long)t_list);
    /* the non-reading client is closed with 1008 */
    int closed = pty_read(&slow, &rs, 10000, NULL);
    CU_ASSERT(closed && rs.got_close && rs.close_code == 1008);
    if (!(closed && rs.got_close && rs.close_code == 1008))
        fprintf(stderr, "\n  non-reading client: %s, %zu bytes read\n",
                rs.got_close ? api_fmt("close %d", rs.close_code) : "no close frame",
                rs.total);
    wsc_close(&slow);
    wsc_close(&fast);
    res_free(&rf);
    res_free(&rs);
    http_resp d = raw_req(&e, "DELETE", api_fmt("/toolbox/%s/process/pty/sl", sb), NULL, 15000);
    http_resp_free(&d);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
    api_release();
}

/* ================= fixtures ================= */

static int read_level(void)
{
    http_resp r = http_do(&api.emu, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r.json, "executor");
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(ex, "level");
    E_ns = cJSON_IsString(lv) && (strcmp(lv->valuestring, "namespaced") == 0 ||
                                  strcmp(lv->valuestring, "cgroups") == 0);
    fprintf(stderr, "test_pty: isolation level %s\n",
            cJSON_IsString(lv) ? lv->valuestring : "?");
    http_resp_free(&r);
    return 0;
}

static int suite_init(void)
{
    static const char *const args[] = {"--api-key", K, NULL};
    if (api_suite_start(args) != 0)
        return -1;
    int rc = read_level() || new_sandbox("pty-a", SA, sizeof SA) ||
             new_sandbox("pty-b", SBX, sizeof SBX);
    api_release();
    return rc ? -1 : 0;
}

static int suite_cleanup(void)
{
    return api_suite_stop();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(curl_global_cleanup);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("pty", suite_init, suite_cleanup);
    CU_pSuite s2 = CU_add_suite("pty (own emulator)", NULL, NULL);
    struct {
        CU_pSuite *suite;
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {&s, "REST create: 201 {sessionId}, 409, 400s", test_rest_create},
        {&s, "REST list/get: PtySessionInfo fields and defaults", test_rest_list_get},
        {&s, "resize: 200 info, stty size follows, 400, 410", test_resize},
        {&s, "delete: 200 message, then 404", test_delete},
        {&s, "percent-encoded id in the path", test_encoded_id},
        {&s, "REST create with a nonexistent cwd: 500", test_rest_bad_cwd},
        {&s, "subprotocol echo rule", test_subprotocol_echo},
        {&s, "subprotocol echo: a long token offered alone", test_subprotocol_long_token},
        {&s, "create-connect: errors before the upgrade", test_create_connect_errors},
        {&s, "create-connect without an upgrade leaves no session", test_create_connect_no_upgrade},
        {&s, "connected, BINARY output, binary and text input", test_connected_output_input},
        {&s, "envs token reaches the shell", test_envs_token},
        {&s, "envs token with a 5000-byte value", test_envs_large_value},
        {&s, "exit 0: exited, close 1000, gone from the list", test_exit_zero},
        {&s, "exit 3: exited non-zero exit, close 1011 reason", test_exit_nonzero},
        {&s, "exit reasons 130/137/143/129/200/1", test_exit_reasons},
        {&s, "no Exit-Control: no exited message, close only", test_exit_without_exit_control},
        {&s, "shell killed from outside: exitCode -1", test_shell_killed_from_outside},
        {&s, "create-connect start failure: error control message", test_create_connect_bad_cwd},
        {&s, "create-connect query: '+' space, cwd", test_create_connect_query},
        {&s, "connect unknown: TEXT error, no close frame", test_connect_unknown},
        {&s, "two clients on one PTY", test_two_clients},
        {&s, "DELETE while attached: close 1011 137 SIGKILL", test_delete_attached},
        {&s, "shell: sandbox user, home, login+interactive", test_shell_identity},
        {&s, "two sandboxes' PTYs are separate", test_two_sandboxes},
        {&s, "stopping the sandbox ends its PTYs", test_stop_ends_ptys},
        {&s, "exited PTYs release their descriptors", test_exited_ptys_release_fds},
        {&s, "stop is not delayed by an exited PTY", test_stop_after_exited_pty},
        {&s2, "concurrent DELETE of one PTY", test_concurrent_delete},
        {&s2, "a non-reading client does not stall the PTY", test_slow_consumer},
    };
    if (!s || !s2) {
        CU_cleanup_registry();
        return 1;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(*tests[i].suite, tests[i].name, tests[i].fn)) {
            CU_cleanup_registry();
            return 1;
        }
    return cu_run_and_cleanup();
}
