/*
 * test_files.c - the toolbox file system API (shared/reference/toolbox.md
 * §6, traps 13-17 and 24) of the real daytona-emu binary, over HTTP.
 *
 * One emulator per run, one sandbox; every call is
 * /toolbox/<sandboxId>/files... with "Authorization: Bearer <key>".  Files
 * are prepared and checked from inside the sandbox with
 * POST /process/execute, so each endpoint is checked against what the
 * sandbox itself sees.
 *
 * Error replies: toolbox.md §2.2 says D190 answers most fs errors with an
 * empty body, and §2.3/trap 1 recommend the JSON envelope with
 * source:"DAYTONA_DAEMON" and a domain code instead, which is what the
 * emulator does; the checks below expect that envelope
 * ({statusCode,message,code,timestamp,path,method,source}).
 *
 * Suites: "list+info", "download", "bulk-download", "upload", "mutate"
 * (folder, delete, move, permissions), "search" (find, search, replace),
 * "hostile" (paths and planted links never reach host files), "big"
 * (64 MiB streamed both ways, sha256 compared inside the sandbox).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "api_util.h"
#include "codec.h"
#include "cu_run.h"
#include "multipart.h"

#include "../unit/data/formdata4_upload.h"

#define K "files-test-key"
#define H "/home/daytona"
#define BND "X-TEST-BOUNDARY-7f3a"
#define DL_BOUNDARY "DAYTONA-FILE-BOUNDARY"

static char SB[64];          /* sandbox id */
static char SB_UID[24];      /* `id -u` inside the sandbox */
static char SB_GID[24];      /* `id -g` */

/* ---------- request helpers ---------- */

/* "/toolbox/<id>" + printf(fmt, ...) */
static const char *tbp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *tbp(const char *fmt, ...)
{
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return api_fmt("/toolbox/%s%s", SB, tmp);
}

/* The request path (no query) the emulator reports in error envelopes. */
static const char *tb_path(const char *sub)
{
    return api_fmt("/toolbox/%s%s", SB, sub);
}

static const char *enc(const char *s)
{
    return api_urlenc(s);
}

/* Adds a response made outside api_req to the pool (freed by api_release). */
static http_resp *pool_add(http_resp r, const char *what)
{
    static http_resp none;
    if (api.nresp >= API_POOL_MAX) {
        CU_FAIL("pool exhausted");
        http_resp_free(&r);
        return &none;
    }
    api.resp[api.nresp] = r;
    api.what[api.nresp] = strdup(what);
    return &api.resp[api.nresp++];
}

/* Runs a command in the sandbox; returns its output (pooled), and
 * asserts exit code 0. */
static http_resp *exec_req(const char *cmd)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmd);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    http_resp *r = POST(tbp("/process/execute"), K, body);
    free(body);
    return r;
}

/* The output of a command, trailing newline removed; no assertion (for
 * suite set-up, outside any test). */
static const char *exec_line(const char *cmd)
{
    http_resp *r = exec_req(cmd);
    const char *o = r->status == 200 ? resp_str(r, "result") : NULL;
    if (!o)
        return "";
    size_t l = strlen(o);
    while (l && (o[l - 1] == '\n' || o[l - 1] == '\r'))
        l--;
    return api_fmt("%.*s", (int)l, o);
}

static const char *sh_at(const char *cmd, const char *file, unsigned line)
{
    http_resp *r = exec_req(cmd);
    const cJSON *ec = api_field(r, "exitCode");
    int ok = r->status == 200 && cJSON_IsNumber(ec) && ec->valueint == 0;
    api_check_txt(ok, file, line, "execute \"%.200s\" exits 0", cmd);
    if (!ok)
        fprintf(stderr, "\n  %s:%u: execute \"%s\": %ld %.800s\n", file, line, cmd,
                r->status, r->body);
    const char *res = resp_str(r, "result");
    return res ? res : "";
}
#define sh(cmd) sh_at((cmd), __FILE__, __LINE__)
static const char *shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *shf(const char *fmt, ...)
{
    char tmp[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return sh_at(tmp, __FILE__, __LINE__);
}

/* A body source for xfer(): memory, sent with Content-Length or chunked
 * (read callback, no length) in pieces of at most `piece` bytes. */
typedef struct {
    const char *data;
    size_t len, off, piece;
    int chunked;
} body_src;

static size_t src_read(char *out, size_t size, size_t nitems, void *ud)
{
    body_src *s = ud;
    size_t n = size * nitems;
    if (s->piece && n > s->piece)
        n = s->piece;
    if (n > s->len - s->off)
        n = s->len - s->off;
    memcpy(out, s->data + s->off, n);
    s->off += n;
    return n;
}

/* One request with libcurl, body from `src` (may be NULL).  hdrs: NULL-
 * terminated "Name: value" lines.  The response is pooled. */
static http_resp *xfer(const char *method, const char *path, const char *const *hdrs,
                       body_src *src, long timeout_s)
{
    http_resp r;
    memset(&r, 0, sizeof r);
    http_sink b = {0}, h = {0};
    char url[8192];
    snprintf(url, sizeof url, "%s%s", api.emu.base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Authorization: Bearer " K);
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; hdrs && hdrs[i]; i++)
        hl = curl_slist_append(hl, hdrs[i]);
    if (src && src->chunked)
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_sink_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    if (src) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, src_read);
        curl_easy_setopt(c, CURLOPT_READDATA, src);
        if (!src->chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)src->len);
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else
        fprintf(stderr, "\n  curl %s %s: %s\n", method, path, curl_easy_strerror(cc));
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r.body = b.p ? b.p : calloc(1, 1);
    r.body_len = b.len;
    r.headers = h.p ? h.p : calloc(1, 1);
    r.json = r.body_len && r.body_len < (1u << 20) ? cJSON_Parse(r.body) : NULL;
    return pool_add(r, api_fmt("%s %s", method, path));
}

/* POST with a raw body and a Content-Type (Content-Length set). */
static http_resp *post_raw(const char *path, const char *ctype, const char *data, size_t len)
{
    const char *hdrs[] = {api_fmt("Content-Type: %s", ctype), NULL};
    body_src s = {data, len, 0, 0, 0};
    return xfer("POST", path, hdrs, &s, 60);
}

static http_resp *post_chunked(const char *path, const char *ctype, const char *data,
                               size_t len, size_t piece)
{
    const char *hdrs[] = {api_fmt("Content-Type: %s", ctype), NULL};
    body_src s = {data, len, 0, piece, 1};
    return xfer("POST", path, hdrs, &s, 120);
}

/* ---------- multipart bodies ---------- */

static void mp_field(buf *b, const char *name, const char *value)
{
    buf_adds(b, "--" BND "\r\nContent-Disposition: form-data; name=\"");
    buf_adds(b, name);
    buf_adds(b, "\"\r\n\r\n");
    buf_adds(b, value);
    buf_adds(b, "\r\n");
}

static void mp_file(buf *b, const char *name, const char *filename, const char *data,
                    size_t len)
{
    buf_adds(b, "--" BND "\r\nContent-Disposition: form-data; name=\"");
    buf_adds(b, name);
    buf_adds(b, "\"; filename=\"");
    buf_adds(b, filename);
    buf_adds(b, "\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    buf_add(b, data, len);
    buf_adds(b, "\r\n");
}

static void mp_close(buf *b)
{
    buf_adds(b, "--" BND "--\r\n");
}

#define MP_CT "multipart/form-data; boundary=" BND

/* bulk-upload of one file (hand-built body, Content-Length). */
static http_resp *bulk_upload1(const char *path, const char *data, size_t len)
{
    buf b;
    buf_init(&b, 256u << 20);
    mp_field(&b, "files[0].path", path);
    mp_file(&b, "files[0].file", "ignored.bin", data, len);
    mp_close(&b);
    http_resp *r = post_raw(tbp("/files/bulk-upload"), MP_CT, b.data, b.len);
    buf_release(&b);
    return r;
}

/* ---------- checks ---------- */

/* The toolbox error envelope (§2.1, with the S218-era source/code):
 * exactly statusCode, message, code, timestamp, path, method, source. */
static void tb_err_at(const http_resp *r, long status, const char *code, const char *message,
                      const char *method, const char *sub, const char *file, unsigned line)
{
    api_expect_status_at(r, status, file, line);
    const cJSON *o = r->json;
    api_check_txt(cJSON_IsObject(o), file, line, "error body is a JSON object");
    if (!cJSON_IsObject(o))
        return;
    const cJSON *sc = api_field(r, "statusCode");
    const char *c = resp_str(r, "code"), *m = resp_str(r, "message"),
               *ts = resp_str(r, "timestamp"), *p = resp_str(r, "path"),
               *me = resp_str(r, "method"), *so = resp_str(r, "source");
    int ok_sc = cJSON_IsNumber(sc) && sc->valuedouble == (double)status;
    int ok_code = c && (!code || strcmp(c, code) == 0);
    int ok_msg = m && (message ? strcmp(m, message) == 0 : m[0] != '\0');
    int ok_ts = ts && strlen(ts) >= 20 && ts[4] == '-' && ts[10] == 'T' &&
                ts[strlen(ts) - 1] == 'Z';
    int ok_path = p && (sub ? strcmp(p, tb_path(sub)) == 0 : strchr(p, '?') == NULL);
    int ok_method = me && strcmp(me, method) == 0;
    int ok_src = so && strcmp(so, "DAYTONA_DAEMON") == 0;
    int ok_n = cJSON_GetArraySize(o) == 7;
    api_check_txt(ok_sc, file, line, "statusCode == %ld", status);
    api_check_txt(ok_code, file, line, "code == %s", code ? code : "<string>");
    api_check_txt(ok_msg, file, line, "message == %s", message ? message : "<non-empty>");
    api_check_txt(ok_ts, file, line, "timestamp is RFC 3339 UTC");
    api_check_txt(ok_path, file, line, "path == %s", sub ? tb_path(sub) : "<no query>");
    api_check_txt(ok_method, file, line, "method == %s", method);
    api_check_txt(ok_src, file, line, "source == DAYTONA_DAEMON");
    api_check_txt(ok_n, file, line, "the envelope has exactly 7 fields");
    if (!(ok_sc && ok_code && ok_msg && ok_ts && ok_path && ok_method && ok_src && ok_n))
        fprintf(stderr, "\n  %s:%u: %s: want %ld %s \"%s\", got %.600s\n", file, line,
                api_what(r), status, code ? code : "*", message ? message : "*", r->body);
}
#define tb_err(r, st, code, msg, method, sub) \
    tb_err_at((r), (st), (code), (msg), (method), (sub), __FILE__, __LINE__)

static void empty_body_at(const http_resp *r, long status, const char *file, unsigned line)
{
    api_expect_status_at(r, status, file, line);
    api_check_txt(r->body_len == 0, file, line, "%s: empty body (got %zu bytes)",
                  api_what(r), r->body_len);
    if (r->body_len)
        fprintf(stderr, "\n  %s:%u: body: %.300s\n", file, line, r->body);
}
#define empty_body(r, st) empty_body_at((r), (st), __FILE__, __LINE__)

static int rx_match(const char *re, const char *s)
{
    regex_t rx;
    if (!s || regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

#define RE_MODTIME "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*[1-9])? \\+0000 UTC$"
#define RE_RFC3339 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*[1-9])?Z$"

/* A FileInfo (§6.1): exactly the 10 fields, each as given (NULL = any of
 * the right type; size < 0 = any number). */
static void fileinfo_at(const cJSON *o, const char *name, const char *path, double size,
                        const char *mode, const char *perm, int isdir, const char *owner,
                        const char *group, const char *file, unsigned line)
{
    api_check_txt(cJSON_IsObject(o), file, line, "FileInfo is an object");
    if (!cJSON_IsObject(o))
        return;
    static const char *const keys[] = {"name", "size", "mode", "modTime", "modifiedAt",
                                       "isDir", "owner", "group", "permissions", "path"};
    int nkeys = cJSON_GetArraySize(o);
    api_check_txt(nkeys == 10, file, line, "FileInfo has 10 fields (got %d)", nkeys);
    for (size_t i = 0; i < 10; i++)
        api_check_txt(cJSON_GetObjectItemCaseSensitive(o, keys[i]) != NULL, file, line,
                      "FileInfo has %s", keys[i]);
    api_str_at(o, "name", name, file, line);
    api_str_at(o, "path", path, file, line);
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");
    const char *nm = name ? name : api_jstr(o, "name");
    api_check_txt(cJSON_IsNumber(sz) && (size < 0 || sz->valuedouble == size), file, line,
                  "%s: size == %g", nm, size);
    api_str_at(o, "mode", mode, file, line);
    api_str_at(o, "permissions", perm, file, line);
    api_kind_at(o, "isDir", isdir ? 't' : 'f', file, line);
    api_str_at(o, "owner", owner, file, line);
    api_str_at(o, "group", group, file, line);
    const char *mt = api_jstr(o, "modTime"), *ma = api_jstr(o, "modifiedAt");
    api_check_txt(rx_match(RE_MODTIME, mt), file, line, "%s: modTime \"%s\" is Go "
                  "time.String() in UTC", nm, mt);
    api_check_txt(rx_match(RE_RFC3339, ma), file, line, "%s: modifiedAt \"%s\" is RFC 3339 "
                  "with trimmed nanoseconds", nm, ma);
    /* the same instant: date, time and fraction agree */
    api_check_txt(strlen(mt) >= 19 && strlen(ma) >= 19 && strncmp(mt, ma, 10) == 0 &&
                  strncmp(mt + 11, ma + 11, 8) == 0, file, line,
                  "%s: modTime and modifiedAt agree", nm);
    /* owner and group are numeric strings */
    const char *ow = api_jstr(o, "owner"), *gr = api_jstr(o, "group");
    api_check_txt(rx_match("^[0-9]+$", ow) && rx_match("^[0-9]+$", gr), file, line,
                  "owner/group numeric (%s/%s)", ow, gr);
    api_check_txt(rx_match("^0[0-7]{3}$", api_jstr(o, "permissions")), file, line,
                  "permissions is 4-digit octal");
}
#define fileinfo(o, name, path, size, mode, perm, isdir, owner, group) \
    fileinfo_at((o), (name), (path), (size), (mode), (perm), (isdir), (owner), (group), \
                __FILE__, __LINE__)

static const cJSON *find_entry(const cJSON *arr, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
        if (strcmp(api_jstr(it, "name"), name) == 0)
            return it;
    return NULL;
}

static const cJSON *find_by_path(const cJSON *arr, const char *path)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
        if (strcmp(api_jstr(it, "path"), path) == 0)
            return it;
    return NULL;
}

/* Downloads one file with GET /files/download; NULL unless 200. */
static http_resp *download(const char *path)
{
    return GET(tbp("/files/download?path=%s", enc(path)), K);
}

/* ---------- multipart response parsing (bulk-download) ---------- */

#define MAX_PARTS 16
typedef struct {
    char name[MP_MAX_FIELD], filename[MP_MAX_FIELD], ctype[MP_MAX_FIELD];
    long long clen;
    int has_filename;
    buf data;
} dl_part;

typedef struct {
    dl_part p[MAX_PARTS];
    int n, overflow;
} dl_parts;

static int dl_on_part(void *ctx, const mp_part *p)
{
    dl_parts *d = ctx;
    if (d->n >= MAX_PARTS) {
        d->overflow = 1;
        return 1;
    }
    dl_part *x = &d->p[d->n++];
    snprintf(x->name, sizeof x->name, "%s", p->name);
    snprintf(x->filename, sizeof x->filename, "%s", p->filename);
    snprintf(x->ctype, sizeof x->ctype, "%s", p->content_type);
    x->clen = p->content_length;
    x->has_filename = p->has_filename;
    buf_init(&x->data, 256u << 20);
    return 0;
}

static int dl_on_data(void *ctx, const char *data, size_t len)
{
    dl_parts *d = ctx;
    return buf_add(&d->p[d->n - 1].data, data, len) != BUF_OK;
}

/* Parses a bulk-download response; returns mp_finish's code. */
static mp_code dl_parse(const http_resp *r, dl_parts *d)
{
    memset(d, 0, sizeof *d);
    mp_callbacks cb = {dl_on_part, dl_on_data, NULL, d};
    mp_reader *rd = mp_reader_new(DL_BOUNDARY, &cb);
    if (!rd)
        return MP_EPARSE;
    mp_code c = mp_feed(rd, r->body, r->body_len);
    if (c == MP_OK)
        c = mp_finish(rd);
    mp_reader_free(rd);
    return c;
}

static void dl_free(dl_parts *d)
{
    for (int i = 0; i < d->n; i++)
        buf_release(&d->p[i].data);
    d->n = 0;
}

/* An error part's JSON body (§6.4). */
static void dl_error_at(const dl_part *p, const char *req, long status, const char *code,
                        const char *message, const char *file, unsigned line)
{
    api_check_txt(strcmp(p->name, "error") == 0, file, line, "part for %s is an error part "
                  "(got name=\"%s\")", req, p->name);
    api_check_txt(p->has_filename && strcmp(p->filename, req) == 0, file, line,
                  "error part filename == \"%s\" (got \"%s\")", req, p->filename);
    api_check_txt(strcmp(p->ctype, "application/json; charset=utf-8") == 0, file, line,
                  "error part Content-Type (got \"%s\")", p->ctype);
    cJSON *j = cJSON_ParseWithLength(p->data.data ? p->data.data : "", p->data.len);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "statusCode");
    api_check_txt(cJSON_IsNumber(sc) && sc->valuedouble == (double)status, file, line,
                  "error part statusCode %ld", status);
    api_str_at(j, "code", code, file, line);
    api_str_at(j, "message", message, file, line);
    api_str_at(j, "path", req, file, line);
    api_str_at(j, "method", "POST", file, line);
    api_str_at(j, "timestamp", NULL, file, line);
    if (!j)
        fprintf(stderr, "\n  %s:%u: error part body: %.*s\n", file, line, (int)p->data.len,
                p->data.data ? p->data.data : "");
    cJSON_Delete(j);
}
#define dl_error(p, req, st, code, msg) dl_error_at((p), (req), (st), (code), (msg), \
                                                    __FILE__, __LINE__)

static void dl_file_at(const dl_part *p, const char *req, const char *data, size_t len,
                       const char *ctype, const char *file, unsigned line)
{
    api_check_txt(strcmp(p->name, "file") == 0, file, line,
                  "part for %s is a file part (got name=\"%s\")", req, p->name);
    api_check_txt(p->has_filename && strcmp(p->filename, req) == 0, file, line,
                  "file part filename == \"%s\" (got \"%s\")", req, p->filename);
    api_check_txt(p->clen == (long long)len, file, line, "Content-Length %zu (got %lld)",
                  len, p->clen);
    api_check_txt(!ctype || strcmp(p->ctype, ctype) == 0, file, line,
                  "Content-Type \"%s\" (got \"%s\")", ctype ? ctype : "*", p->ctype);
    api_check_txt(p->data.len == len && memcmp(p->data.data ? p->data.data : "", data, len) == 0,
                  file, line, "bytes of %s identical (%zu vs %zu)", req, p->data.len, len);
}
#define dl_file(p, req, data, len, ctype) dl_file_at((p), (req), (data), (len), (ctype), \
                                                     __FILE__, __LINE__)

/* ---------- suite fixture ---------- */

static int suite_init(void)
{
    static const char *const args[] = {"--api-key", K, NULL};
    if (api_suite_start(args) != 0)
        return -1;
    if (api_new_sandbox(K, api_fmt("files-%d", (int)getpid()), SB, sizeof SB) != 0)
        return -1;
    snprintf(SB_UID, sizeof SB_UID, "%s", exec_line("id -u"));
    snprintf(SB_GID, sizeof SB_GID, "%s", exec_line("id -g"));
    api_release();
    return rx_match("^[0-9]+$", SB_UID) && rx_match("^[0-9]+$", SB_GID) ? 0 : -1;
}

static int suite_cleanup(void)
{
    return api_suite_stop();
}

/* ================= list + info ================= */

static void prepare_ls(void)
{
    sh("set -e; rm -rf " H "/ls; mkdir -p " H "/ls/adir; cd " H "/ls;"
       "printf 'hello world\\n' > b.txt; chmod 644 b.txt;"
       "touch -d '2026-01-02 03:04:05.123456789 UTC' b.txt;"
       "printf 'inner' > adir/inner.txt; chmod 755 adir;"
       "touch -d '2026-01-02 03:04:05.5 UTC' adir;"
       "printf '' > zed; chmod 600 zed; touch -d '2026-01-02 03:04:05 UTC' zed;"
       "printf 'U' > Upper; chmod 640 Upper;"
       "ln -s b.txt link; ln -s nowhere dangling; ln -s adir dirlink;"
       "printf '#!/bin/sh\\n' > suid; chmod 4755 suid;"
       "mkdir sticky; chmod 1777 sticky; mkfifo fifo; chmod 644 fifo");
}

static void test_list(void)
{
    prepare_ls();
    http_resp *r = GET(tbp("/files?path=%s", enc(H "/ls")), K);
    expect_status(r, 200);
    CU_ASSERT_FATAL(cJSON_IsArray(r->json));
    /* sorted by name (bytewise), dangling link skipped */
    static const char *const order[] = {"Upper", "adir", "b.txt", "dirlink", "fifo", "link",
                                        "sticky", "suid", "zed"};
    int n = cJSON_GetArraySize(r->json);
    CU_ASSERT_EQUAL(n, 9);
    for (int i = 0; i < n && i < 9; i++) {
        const char *got = api_jstr(cJSON_GetArrayItem(r->json, i), "name");
        if (strcmp(got, order[i]) != 0)
            fprintf(stderr, "\n  list[%d] = %s, want %s\n", i, got, order[i]);
        CU_ASSERT_STRING_EQUAL(got, order[i]);
    }
    CU_ASSERT_PTR_NULL(find_entry(r->json, "dangling"));
    const cJSON *b = find_entry(r->json, "b.txt");
    fileinfo(b, "b.txt", H "/ls/b.txt", 12, "-rw-r--r--", "0644", 0, SB_UID, SB_GID);
    assert_str(b, "modTime", "2026-01-02 03:04:05.123456789 +0000 UTC");
    assert_str(b, "modifiedAt", "2026-01-02T03:04:05.123456789Z");
    const cJSON *d = find_entry(r->json, "adir");
    fileinfo(d, "adir", H "/ls/adir", -1, "drwxr-xr-x", "0755", 1, SB_UID, SB_GID);
    assert_str(d, "modTime", "2026-01-02 03:04:05.5 +0000 UTC");
    assert_str(d, "modifiedAt", "2026-01-02T03:04:05.5Z");
    const cJSON *z = find_entry(r->json, "zed");
    fileinfo(z, "zed", H "/ls/zed", 0, "-rw-------", "0600", 0, SB_UID, SB_GID);
    assert_str(z, "modTime", "2026-01-02 03:04:05 +0000 UTC");
    assert_str(z, "modifiedAt", "2026-01-02T03:04:05Z");
    fileinfo(find_entry(r->json, "Upper"), "Upper", H "/ls/Upper", 1, "-rw-r-----", "0640",
             0, SB_UID, SB_GID);
    /* links are stat'ed through: no 'L' */
    const cJSON *l = find_entry(r->json, "link");
    fileinfo(l, "link", H "/ls/link", 12, "-rw-r--r--", "0644", 0, SB_UID, SB_GID);
    fileinfo(find_entry(r->json, "dirlink"), "dirlink", H "/ls/dirlink", -1, "drwxr-xr-x",
             "0755", 1, SB_UID, SB_GID);
    /* Go FileMode letters: setuid 'u', sticky 't', named pipe 'p' */
    fileinfo(find_entry(r->json, "suid"), "suid", H "/ls/suid", 10, "urwxr-xr-x", "0755", 0,
             SB_UID, SB_GID);
    fileinfo(find_entry(r->json, "sticky"), "sticky", H "/ls/sticky", -1, "dtrwxrwxrwx",
             "0777", 1, SB_UID, SB_GID);
    fileinfo(find_entry(r->json, "fifo"), "fifo", H "/ls/fifo", 0, "prw-r--r--", "0644", 0,
             SB_UID, SB_GID);

    /* trailing-slash route (trap 24), relative path and "./" give the same
     * names */
    http_resp *r2 = GET(tbp("/files/?path=%s", enc(H "/ls/")), K);
    expect_status(r2, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r2->json), 9);
    http_resp *r3 = GET(tbp("/files?path=ls"), K);
    expect_status(r3, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r3->json), 9);
    CU_ASSERT_PTR_NOT_NULL(find_entry(r3->json, "b.txt"));
    /* default path "." is the home directory */
    http_resp *r4 = GET(tbp("/files"), K);
    expect_status(r4, 200);
    CU_ASSERT_PTR_NOT_NULL(find_entry(r4->json, "ls"));
    /* an empty directory is [] (never null) */
    sh("mkdir -p " H "/emptydir");
    http_resp *r5 = GET(tbp("/files?path=%s", enc(H "/emptydir")), K);
    expect_status(r5, 200);
    CU_ASSERT_STRING_EQUAL(r5->body, "[]");
    /* the sandbox root: its own top-level directories */
    http_resp *r6 = GET(tbp("/files?path=%%2F"), K);
    expect_status(r6, 200);
    CU_ASSERT_PTR_NOT_NULL(find_entry(r6->json, "home"));
    CU_ASSERT_PTR_NOT_NULL(find_entry(r6->json, "tmp"));
    CU_ASSERT_PTR_NOT_NULL(find_entry(r6->json, "workspace"));
    api_release();
}

static void test_list_errors(void)
{
    prepare_ls();
    http_resp *r = GET(tbp("/files?path=%s", enc(H "/ls/b.txt")), K);
    tb_err(r, 400, NULL, NULL, "GET", "/files");
    r = GET(tbp("/files?path=%s", enc(H "/ls/missing")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", "file not found: " H "/ls/missing", "GET", "/files");
    r = GET(tbp("/files/?path=%s", enc(H "/nope/deeper")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", NULL, "GET", "/files/");
    /* a path through a file */
    r = GET(tbp("/files?path=%s", enc(H "/ls/b.txt/x")), K);
    CU_ASSERT(r->status == 404 || r->status == 400);
    /* no credentials */
    http_resp *u = api_req("GET", tbp("/files?path=%s", enc(H)), NULL, NULL, NULL, 0);
    expect_status(u, 401);
    api_release();
}

static void test_list_depth(void)
{
    prepare_ls();
    http_resp *r = GET(tbp("/files?path=%s&depth=2", enc(H "/ls")), K);
    expect_status(r, 200);
    CU_ASSERT_FATAL(cJSON_IsArray(r->json));
    /* flat: both levels, each entry with its full path */
    const cJSON *in = find_by_path(r->json, H "/ls/adir/inner.txt");
    fileinfo(in, "inner.txt", H "/ls/adir/inner.txt", 5, NULL, NULL, 0, SB_UID, SB_GID);
    CU_ASSERT_PTR_NOT_NULL(find_by_path(r->json, H "/ls/adir"));
    CU_ASSERT_PTR_NOT_NULL(find_by_path(r->json, H "/ls/b.txt"));
    CU_ASSERT_PTR_NOT_NULL(find_by_path(r->json, H "/ls/zed"));
    /* links are not followed: nothing below dirlink */
    CU_ASSERT_PTR_NULL(find_by_path(r->json, H "/ls/dirlink/inner.txt"));
    const cJSON *it;
    cJSON_ArrayForEach(it, r->json) {
        const char *p = api_jstr(it, "path");
        CU_ASSERT(strncmp(p, H "/ls/", strlen(H "/ls/")) == 0);
        fileinfo(it, NULL, NULL, -1, NULL, NULL, cJSON_IsTrue(
                     cJSON_GetObjectItemCaseSensitive(it, "isDir")), NULL, NULL);
    }
    /* depth=1 (explicit) is the plain listing */
    http_resp *r1 = GET(tbp("/files?path=%s&depth=1", enc(H "/ls")), K);
    expect_status(r1, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r1->json), 9);
    CU_ASSERT_PTR_NULL(find_by_path(r1->json, H "/ls/adir/inner.txt"));
    api_release();
}

static void test_info(void)
{
    prepare_ls();
    http_resp *r = GET(tbp("/files/info?path=%s", enc(H "/ls/b.txt")), K);
    expect_status(r, 200);
    fileinfo(r->json, "b.txt", H "/ls/b.txt", 12, "-rw-r--r--", "0644", 0, SB_UID, SB_GID);
    assert_str(r->json, "modifiedAt", "2026-01-02T03:04:05.123456789Z");
    r = GET(tbp("/files/info?path=%s", enc(H "/ls/adir")), K);
    expect_status(r, 200);
    fileinfo(r->json, "adir", H "/ls/adir", -1, "drwxr-xr-x", "0755", 1, SB_UID, SB_GID);
    /* symlinks followed */
    r = GET(tbp("/files/info?path=%s", enc(H "/ls/link")), K);
    expect_status(r, 200);
    fileinfo(r->json, "link", H "/ls/link", 12, "-rw-r--r--", "0644", 0, SB_UID, SB_GID);
    /* relative path resolves from the home directory */
    r = GET(tbp("/files/info?path=ls%%2Fb.txt"), K);
    expect_status(r, 200);
    assert_str(r->json, "name", "b.txt");
    assert_num(r->json, "size", 12);
    /* errors */
    r = GET(tbp("/files/info?path=%s", enc(H "/ls/nope")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", "file not found: " H "/ls/nope", "GET", "/files/info");
    r = GET(tbp("/files/info?path=%s", enc(H "/ls/dangling")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", NULL, "GET", "/files/info");
    r = GET(tbp("/files/info"), K);
    tb_err(r, 400, NULL, NULL, "GET", "/files/info");
    api_release();
}

/* ================= download ================= */

static void test_download(void)
{
    char bin[256 * 4];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)(i * 7 + (i >> 8));
    http_resp *u = bulk_upload1(H "/dl/my file.bin", bin, sizeof bin);
    expect_status(u, 200);
    http_resp *r = download(H "/dl/my file.bin");
    expect_status(r, 200);
    CU_ASSERT_EQUAL(r->body_len, sizeof bin);
    CU_ASSERT(r->body_len == sizeof bin && memcmp(r->body, bin, sizeof bin) == 0);
    char v[512];
    CU_ASSERT(resp_header(r, "Content-Type", v, sizeof v) == 0 &&
              strcmp(v, "application/octet-stream") == 0);
    CU_ASSERT(resp_header(r, "Content-Disposition", v, sizeof v) == 0);
    CU_ASSERT_STRING_EQUAL(v, "attachment; filename=\"my file.bin\"; "
                              "filename*=utf-8''my%20file.bin");
    CU_ASSERT(resp_header(r, "Content-Length", v, sizeof v) == 0 && atol(v) == (long)sizeof bin);
    /* an empty file */
    sh(": > " H "/dl/empty");
    r = download(H "/dl/empty");
    expect_status(r, 200);
    CU_ASSERT_EQUAL(r->body_len, 0);
    /* via a (relative, inside) symlink */
    sh("cd " H "/dl && ln -sf 'my file.bin' alias");
    r = download("dl/alias");
    expect_status(r, 200);
    CU_ASSERT(r->body_len == sizeof bin && memcmp(r->body, bin, sizeof bin) == 0);
    CU_ASSERT(resp_header(r, "Content-Disposition", v, sizeof v) == 0);
    CU_ASSERT_STRING_EQUAL(v, "attachment; filename=\"alias\"; filename*=utf-8''alias");
    /* errors */
    r = download(H "/dl");
    tb_err(r, 400, "INVALID_FILE_PATH", "invalid file path: path points to a directory: "
           H "/dl", "GET", "/files/download");
    r = download(H "/dl/missing");
    tb_err(r, 404, "FILE_NOT_FOUND", "file not found: " H "/dl/missing", "GET",
           "/files/download");
    r = GET(tbp("/files/download"), K);
    tb_err(r, 400, NULL, NULL, "GET", "/files/download");
    api_release();
}

/* Go's http.ServeFile answers Range requests (§6.2). */
static void test_download_range(void)
{
    sh("mkdir -p " H "/dl && printf 'hello world\\n' > " H "/dl/range.txt");
    static const char *const hdr[] = {"Range: bytes=0-4", NULL};
    http_resp *r = api_req("GET", tbp("/files/download?path=%s", enc(H "/dl/range.txt")), K,
                           hdr, NULL, 0);
    expect_status(r, 206);
    CU_ASSERT_EQUAL(r->body_len, 5);
    CU_ASSERT(r->body_len == 5 && memcmp(r->body, "hello", 5) == 0);
    char v[128];
    CU_ASSERT(resp_header(r, "Content-Range", v, sizeof v) == 0 &&
              strcmp(v, "bytes 0-4/12") == 0);
    api_release();
}

/* ================= bulk-download ================= */

static void test_bulk_download(void)
{
    prepare_ls();
    sh("mkdir -p " H "/bd && printf '{\"a\":1}' > " H "/bd/x.json && "
       "printf 'B' > " H "/bd/raw.bin");
    const char *body = "{\"paths\":[\"" H "/ls/b.txt\",\"ls/adir/inner.txt\",\"" H
                       "/missing.txt\",\"" H "/ls/adir\",\"./ls/b.txt\",\"" H "/bd/x.json\",\""
                       H "/bd/raw.bin\"]}";
    http_resp *r = POST(tbp("/files/bulk-download"), K, body);
    expect_status(r, 200);
    char ct[256];
    CU_ASSERT(resp_header(r, "Content-Type", ct, sizeof ct) == 0);
    CU_ASSERT_STRING_EQUAL(ct, "multipart/form-data; boundary=" DL_BOUNDARY);
    dl_parts d;
    CU_ASSERT_EQUAL(dl_parse(r, &d), MP_OK);
    CU_ASSERT_EQUAL_FATAL(d.n, 7);
    /* request order, filename = the exact requested string */
    dl_file(&d.p[0], H "/ls/b.txt", "hello world\n", 12, "text/plain; charset=utf-8");
    dl_file(&d.p[1], "ls/adir/inner.txt", "inner", 5, NULL);
    dl_error(&d.p[2], H "/missing.txt", 404, "FILE_NOT_FOUND",
             "file not found: " H "/missing.txt");
    dl_error(&d.p[3], H "/ls/adir", 400, "INVALID_FILE_PATH",
             "invalid file path: path points to a directory: " H "/ls/adir");
    dl_file(&d.p[4], "./ls/b.txt", "hello world\n", 12, NULL);
    dl_file(&d.p[5], H "/bd/x.json", "{\"a\":1}", 7, NULL);
    dl_file(&d.p[6], H "/bd/raw.bin", "B", 1, "application/octet-stream");
    dl_free(&d);
    /* the exact header line, with filename* percent-encoding '/' */
    CU_ASSERT_PTR_NOT_NULL(strstr(r->body,
        "--" DL_BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; "
        "filename=\"" H "/ls/b.txt\"; filename*=utf-8''%2Fhome%2Fdaytona%2Fls%2Fb.txt\r\n"
        "Content-Length: 12\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello world\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->body,
        "Content-Disposition: form-data; name=\"error\"; filename=\"" H "/missing.txt\"; "
        "filename*=utf-8''%2Fhome%2Fdaytona%2Fmissing.txt\r\n"
        "Content-Type: application/json; charset=utf-8\r\n\r\n{"));
    /* the body ends with the closing delimiter */
    const char *tail = "\r\n--" DL_BOUNDARY "--\r\n";
    CU_ASSERT(r->body_len > strlen(tail) &&
              strcmp(r->body + r->body_len - strlen(tail), tail) == 0);
    api_release();
}

static void test_bulk_download_failures(void)
{
    /* all fail: still 200 with one error part each */
    http_resp *r = POST(tbp("/files/bulk-download"), K,
                        "{\"paths\":[\"/nope1\",\"rel/nope2\",\"/home\"]}");
    expect_status(r, 200);
    dl_parts d;
    CU_ASSERT_EQUAL(dl_parse(r, &d), MP_OK);
    CU_ASSERT_EQUAL_FATAL(d.n, 3);
    dl_error(&d.p[0], "/nope1", 404, "FILE_NOT_FOUND", "file not found: /nope1");
    dl_error(&d.p[1], "rel/nope2", 404, "FILE_NOT_FOUND", "file not found: rel/nope2");
    dl_error(&d.p[2], "/home", 400, "INVALID_FILE_PATH",
             "invalid file path: path points to a directory: /home");
    dl_free(&d);
    /* an empty path string is an error part too (INVALID_FILE_PATH) */
    r = POST(tbp("/files/bulk-download"), K, "{\"paths\":[\"\"]}");
    expect_status(r, 200);
    CU_ASSERT_EQUAL(dl_parse(r, &d), MP_OK);
    CU_ASSERT_EQUAL_FATAL(d.n, 1);
    CU_ASSERT_STRING_EQUAL(d.p[0].name, "error");
    dl_free(&d);

    /* empty, missing or malformed paths: 400 with the daemon's own body */
    static const char want[] =
        "{\"error\":\"request body must be {\\\"paths\\\": [ ... ]} and non-empty\"}";
    static const char *const bad[] = {"{\"paths\":[]}", "{}", "{\"paths\":\"/a\"}", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = POST(tbp("/files/bulk-download"), K, bad[i]);
        expect_status(r, 400);
        CU_ASSERT_STRING_EQUAL(r->body, want);
    }
    r = api_req("POST", tbp("/files/bulk-download"), K, NULL, NULL, 0);
    expect_status(r, 400);
    CU_ASSERT_STRING_EQUAL(r->body, want);
    api_release();
}

/* ================= uploads ================= */

static void test_bulk_upload(void)
{
    sh("rm -rf " H "/up /tmp/notes.txt " H "/dir");
    /* CRLF, a boundary look-alike (a prefix of the delimiter), NUL, 0xff */
    static const char bin[] = "line1\r\n--X-TEST-BOUNDARY-7f\r\nnot a boundary\r\n\0\x01\xff end";
    buf b;
    buf_init(&b, 1u << 20);
    mp_field(&b, "files[0].path", H "/up/new/deep/a.txt");
    mp_file(&b, "files[0].file", "IGNORED.txt", "AAA", 3);
    mp_field(&b, "other", "skipped");
    mp_field(&b, "files[1].path", "  up/rel/b.bin \r\n");      /* trimmed, relative */
    mp_file(&b, "files[1].file", "b.bin", bin, sizeof bin - 1);
    mp_close(&b);
    http_resp *r = post_raw(tbp("/files/bulk-upload"), MP_CT, b.data, b.len);
    buf_release(&b);
    expect_status(r, 200);
    assert_json_eq(r->json, "files",
                   api_fmt("[{\"path\":\"" H "/up/new/deep/a.txt\",\"bytes\":3},"
                           "{\"path\":\"up/rel/b.bin\",\"bytes\":%zu}]", sizeof bin - 1));
    assert_kind(r->json, "errors", 'N');
    /* contents, as the sandbox sees them */
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/up/new/deep/a.txt"), "AAA");
    http_resp *d = download(H "/up/rel/b.bin");
    expect_status(d, 200);
    CU_ASSERT(d->body_len == sizeof bin - 1 && memcmp(d->body, bin, sizeof bin - 1) == 0);
    /* the part's filename is ignored */
    CU_ASSERT_STRING_EQUAL(sh("ls " H "/up/new/deep"), "a.txt\n");
    /* parents created 0755, everything owned by the sandbox user */
    CU_ASSERT_STRING_EQUAL(sh("stat -c '%a %u %g' " H "/up/new " H "/up/new/deep "
                              H "/up/new/deep/a.txt"),
                           api_fmt("755 %s %s\n755 %s %s\n644 %s %s\n", SB_UID, SB_GID,
                                   SB_UID, SB_GID, SB_UID, SB_GID));
    http_resp *info = GET(tbp("/files/info?path=%s", enc(H "/up/rel/b.bin")), K);
    expect_status(info, 200);
    assert_str(info->json, "owner", SB_UID);
    assert_str(info->json, "group", SB_GID);

    /* an existing file is replaced (truncated), not appended to */
    r = bulk_upload1(H "/up/new/deep/a.txt", "0123456789", 10);
    expect_status(r, 200);
    r = bulk_upload1(H "/up/new/deep/a.txt", "xy", 2);
    expect_status(r, 200);
    assert_json_eq(r->json, "files", "[{\"path\":\"" H "/up/new/deep/a.txt\",\"bytes\":2}]");
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/up/new/deep/a.txt"), "xy");
    /* an empty file */
    r = bulk_upload1(H "/up/empty", "", 0);
    expect_status(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("stat -c %s " H "/up/empty"), "0\n");
    api_release();
}

/* The exact body npm form-data 4.0.6 builds for uploadFiles (§6.3). */
static void test_bulk_upload_formdata4(void)
{
    sh("rm -rf " H "/dir /tmp/notes.txt");
    http_resp *r = post_raw(tbp("/files/bulk-upload"), FD4_CONTENT_TYPE,
                            (const char *)FD4_BODY, sizeof FD4_BODY);
    expect_status(r, 200);
    assert_json_eq(r->json, "files",
                   api_fmt("[{\"path\":\"%s\",\"bytes\":%zu},{\"path\":\"%s\",\"bytes\":%zu}]",
                           FD4_PATH0, sizeof FD4_PAYLOAD0, FD4_PATH1,
                           strlen(FD4_DATA1)));
    http_resp *d = download(FD4_PATH0);
    expect_status(d, 200);
    CU_ASSERT(d->body_len == sizeof FD4_PAYLOAD0 &&
              memcmp(d->body, FD4_PAYLOAD0, sizeof FD4_PAYLOAD0) == 0);
    CU_ASSERT_STRING_EQUAL(sh("cat " FD4_PATH1), FD4_DATA1);
    api_release();
}

static void test_bulk_upload_missing_path(void)
{
    sh("rm -rf " H "/mp");
    buf b;
    buf_init(&b, 1u << 20);
    mp_file(&b, "files[0].file", "a.txt", "A", 1);
    mp_close(&b);
    http_resp *r = post_raw(tbp("/files/bulk-upload"), MP_CT, b.data, b.len);
    expect_status(r, 400);
    assert_json_eq(r->json, "errors", "[\"file[0]: missing .path metadata\"]");
    CU_ASSERT(cJSON_GetArraySize(api_field(r, "files")) <= 0);
    buf_reset(&b);
    /* one good file, then a .file whose .path comes after it */
    mp_field(&b, "files[0].path", H "/mp/ok.txt");
    mp_file(&b, "files[0].file", "ok.txt", "OK", 2);
    mp_file(&b, "files[1].file", "late.txt", "L", 1);
    mp_field(&b, "files[1].path", H "/mp/late.txt");
    mp_close(&b);
    r = post_raw(tbp("/files/bulk-upload"), MP_CT, b.data, b.len);
    buf_release(&b);
    expect_status(r, 400);
    assert_json_eq(r->json, "errors", "[\"file[1]: missing .path metadata\"]");
    assert_json_eq(r->json, "files", "[{\"path\":\"" H "/mp/ok.txt\",\"bytes\":2}]");
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/mp/ok.txt"), "OK");
    CU_ASSERT_STRING_EQUAL(sh("ls " H "/mp"), "ok.txt\n");
    api_release();
}

static void test_bulk_upload_chunked(void)
{
    sh("rm -rf " H "/chunk");
    size_t n = 3u << 20;
    char *data = malloc(n);
    CU_ASSERT_FATAL(data != NULL);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (char)x;
    }
    buf b;
    buf_init(&b, 16u << 20);
    mp_field(&b, "files[0].path", H "/chunk/one.bin");
    mp_file(&b, "files[0].file", "one.bin", data, n);
    mp_field(&b, "files[1].path", H "/chunk/two.txt");
    mp_file(&b, "files[1].file", "two.txt", "second", 6);
    mp_close(&b);
    /* odd piece size, so boundaries straddle chunks */
    http_resp *r = post_chunked(tbp("/files/bulk-upload"), MP_CT, b.data, b.len, 7919);
    buf_release(&b);
    expect_status(r, 200);
    assert_json_eq(r->json, "files",
                   api_fmt("[{\"path\":\"" H "/chunk/one.bin\",\"bytes\":%zu},"
                           "{\"path\":\"" H "/chunk/two.txt\",\"bytes\":6}]", n));
    http_resp *d = download(H "/chunk/one.bin");
    expect_status(d, 200);
    CU_ASSERT(d->body_len == n && memcmp(d->body, data, n) == 0);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/chunk/two.txt"), "second");
    free(data);
    api_release();
}

static void test_bulk_upload_bad_bodies(void)
{
    buf b;
    buf_init(&b, 1u << 20);
    mp_field(&b, "files[0].path", H "/cut/a.txt");
    mp_file(&b, "files[0].file", "a.txt", "data", 4);
    /* cut off before the closing boundary */
    http_resp *r = post_raw(tbp("/files/bulk-upload"), MP_CT, b.data, b.len);
    tb_err(r, 400, NULL, NULL, "POST", "/files/bulk-upload");
    /* cut in the middle of a part */
    r = post_raw(tbp("/files/bulk-upload"), MP_CT, b.data, b.len - 5);
    tb_err(r, 400, NULL, NULL, "POST", "/files/bulk-upload");
    /* and chunked */
    r = post_chunked(tbp("/files/bulk-upload"), MP_CT, b.data, b.len, 3);
    tb_err(r, 400, NULL, NULL, "POST", "/files/bulk-upload");
    buf_release(&b);
    /* not multipart */
    r = post_raw(tbp("/files/bulk-upload"), "application/json", "{}", 2);
    tb_err(r, 400, NULL, NULL, "POST", "/files/bulk-upload");
    r = post_raw(tbp("/files/bulk-upload"), "text/plain", "files[0].path=/x", 16);
    tb_err(r, 400, NULL, NULL, "POST", "/files/bulk-upload");
    /* multipart without a boundary */
    r = post_raw(tbp("/files/bulk-upload"), "multipart/form-data", "--x--\r\n", 7);
    tb_err(r, 400, NULL, NULL, "POST", "/files/bulk-upload");
    /* a body that is not multipart at all under a multipart type */
    r = post_raw(tbp("/files/bulk-upload"), MP_CT, "garbage", 7);
    tb_err(r, 400, NULL, NULL, "POST", "/files/bulk-upload");
    api_release();
}

static void test_upload_legacy(void)
{
    sh("rm -rf " H "/legacy");
    buf b;
    buf_init(&b, 1u << 20);
    mp_field(&b, "other", "x");
    mp_file(&b, "file", "whatever.txt", "legacy data\n", 12);
    mp_close(&b);
    const char *path = H "/legacy/sub/l.txt";
    http_resp *r = post_raw(tbp("/files/upload?path=%s", enc(path)), MP_CT, b.data, b.len);
    empty_body(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/legacy/sub/l.txt"), "legacy data\n");
    CU_ASSERT_STRING_EQUAL(sh("stat -c '%u %g' " H "/legacy/sub/l.txt"),
                           api_fmt("%s %s\n", SB_UID, SB_GID));
    /* overwrite */
    buf_reset(&b);
    mp_file(&b, "file", "x", "2", 1);
    mp_close(&b);
    r = post_raw(tbp("/files/upload?path=%s", enc(path)), MP_CT, b.data, b.len);
    empty_body(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/legacy/sub/l.txt"), "2");
    /* legacy takes only multipart field "file" (§6.2) */
    r = post_raw(tbp("/files/upload?path=%s", enc(path)), "application/octet-stream",
                 "raw", 3);
    tb_err(r, 400, NULL, NULL, "POST", "/files/upload");
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/legacy/sub/l.txt"), "2");
    buf_reset(&b);
    mp_field(&b, "notfile", "x");
    mp_close(&b);
    r = post_raw(tbp("/files/upload?path=%s", enc(path)), MP_CT, b.data, b.len);
    tb_err(r, 400, NULL, NULL, "POST", "/files/upload");
    /* no path */
    buf_reset(&b);
    mp_file(&b, "file", "x", "2", 1);
    mp_close(&b);
    r = post_raw(tbp("/files/upload"), MP_CT, b.data, b.len);
    tb_err(r, 400, NULL, NULL, "POST", "/files/upload");
    /* a directory as the target: the toolbox's own error, with the reason */
    r = post_raw(tbp("/files/upload?path=%s", enc(H "/legacy/sub")), MP_CT, b.data, b.len);
    tb_err(r, 400, "BAD_REQUEST", "cannot write " H "/legacy/sub: Is a directory", "POST",
           "/files/upload");
    buf_release(&b);
    api_release();
}

static void test_upload_v2(void)
{
    sh("rm -rf " H "/v2");
    buf b;
    buf_init(&b, 1u << 20);
    mp_file(&b, "file", "ignored", "multipart v2", 12);
    mp_close(&b);
    http_resp *r = post_raw(tbp("/files/upload-v2?path=%s", enc(H "/v2/a/m.txt")), MP_CT,
                            b.data, b.len);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r->json), 3);
    assert_str(r->json, "name", "m.txt");
    assert_str(r->json, "path", H "/v2/a/m.txt");
    assert_str(r->json, "type", "file");
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/v2/a/m.txt"), "multipart v2");
    CU_ASSERT_STRING_EQUAL(sh("stat -c '%a %u %g' " H "/v2/a " H "/v2/a/m.txt"),
                           api_fmt("755 %s %s\n644 %s %s\n", SB_UID, SB_GID, SB_UID, SB_GID));
    /* raw body: any non-multipart type, path as given (relative) */
    static const char raw[] = "raw\0bytes\r\n--" BND "--\r\n";
    r = post_raw(tbp("/files/upload-v2?path=v2%%2Fraw.bin"), "application/octet-stream",
                 raw, sizeof raw - 1);
    expect_status(r, 200);
    assert_str(r->json, "name", "raw.bin");
    assert_str(r->json, "path", "v2/raw.bin");
    assert_str(r->json, "type", "file");
    http_resp *d = download(H "/v2/raw.bin");
    expect_status(d, 200);
    CU_ASSERT(d->body_len == sizeof raw - 1 && memcmp(d->body, raw, sizeof raw - 1) == 0);
    /* raw, chunked, overwriting */
    r = post_chunked(tbp("/files/upload-v2?path=%s", enc(H "/v2/raw.bin")), "text/plain",
                     "chunked raw", 11, 4);
    expect_status(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/v2/raw.bin"), "chunked raw");
    /* multipart without a file field */
    buf_reset(&b);
    mp_field(&b, "notfile", "x");
    mp_close(&b);
    r = post_raw(tbp("/files/upload-v2?path=%s", enc(H "/v2/none")), MP_CT, b.data, b.len);
    tb_err(r, 400, NULL, NULL, "POST", "/files/upload-v2");
    buf_release(&b);
    r = post_raw(tbp("/files/upload-v2"), "text/plain", "x", 1);
    tb_err(r, 400, NULL, NULL, "POST", "/files/upload-v2");
    api_release();
}

/* ================= folder, delete, move, permissions ================= */

static void test_folder(void)
{
    sh("rm -rf " H "/fold");
    http_resp *r = api_post_form_empty(tbp("/files/folder?path=%s&mode=750",
                                           enc(H "/fold/a/b")), K);
    empty_body(r, 201);
    CU_ASSERT_STRING_EQUAL(sh("stat -c '%a %F %u %g' " H "/fold/a/b"),
                           api_fmt("750 directory %s %s\n", SB_UID, SB_GID));
    r = GET(tbp("/files/info?path=%s", enc(H "/fold/a/b")), K);
    assert_str(r->json, "permissions", "0750");
    assert_str(r->json, "mode", "drwxr-x---");
    /* existing: 201 again, and like mkdir -p it leaves the existing mode */
    r = api_post_form_empty(tbp("/files/folder?path=%s&mode=750", enc(H "/fold/a/b")), K);
    empty_body(r, 201);
    sh("chmod 700 " H "/fold/a");
    r = api_post_form_empty(tbp("/files/folder?path=%s&mode=777", enc(H "/fold/a/b")), K);
    empty_body(r, 201);
    CU_ASSERT_STRING_EQUAL(sh("stat -c %a " H "/fold/a " H "/fold/a/b"), "700\n750\n");
    /* mode with a leading 0, and the default mode */
    r = api_post_form_empty(tbp("/files/folder?path=%s&mode=0700", enc(H "/fold/c")), K);
    empty_body(r, 201);
    CU_ASSERT_STRING_EQUAL(sh("stat -c %a " H "/fold/c"), "700\n");
    r = api_post_form_empty(tbp("/files/folder?path=%s", enc(H "/fold/d")), K);
    empty_body(r, 201);
    CU_ASSERT_STRING_EQUAL(sh("stat -c %a " H "/fold/d"), "755\n");
    /* relative */
    r = api_post_form_empty(tbp("/files/folder?path=fold%%2Frel&mode=755"), K);
    empty_body(r, 201);
    CU_ASSERT_STRING_EQUAL(sh("test -d " H "/fold/rel && echo yes"), "yes\n");
    /* bad modes */
    static const char *const bad[] = {"abc", "999", "8", "-1", "7z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = api_post_form_empty(tbp("/files/folder?path=%s&mode=%s", enc(H "/fold/bad"),
                                    enc(bad[i])), K);
        tb_err(r, 400, NULL, NULL, "POST", "/files/folder");
    }
    CU_ASSERT_STRING_EQUAL(sh("test -e " H "/fold/bad || echo absent"), "absent\n");
    r = api_post_form_empty(tbp("/files/folder?mode=755"), K);
    tb_err(r, 400, NULL, NULL, "POST", "/files/folder");
    api_release();
}

static void test_delete(void)
{
    sh("rm -rf " H "/del; mkdir -p " H "/del/tree/sub " H "/del/empty; "
       "echo x > " H "/del/f.txt; echo y > " H "/del/tree/sub/g.txt");
    http_resp *r = DEL(tbp("/files?path=%s", enc(H "/del/f.txt")), K);
    empty_body(r, 204);
    CU_ASSERT_STRING_EQUAL(sh("test -e " H "/del/f.txt || echo gone"), "gone\n");
    /* directories need recursive=true, even empty ones */
    r = DEL(tbp("/files?path=%s", enc(H "/del/tree")), K);
    tb_err(r, 400, NULL, NULL, "DELETE", "/files");
    r = DEL(tbp("/files?path=%s&recursive=false", enc(H "/del/tree")), K);
    tb_err(r, 400, NULL, NULL, "DELETE", "/files");
    r = DEL(tbp("/files?path=%s", enc(H "/del/empty")), K);
    tb_err(r, 400, NULL, NULL, "DELETE", "/files");
    CU_ASSERT_STRING_EQUAL(sh("test -f " H "/del/tree/sub/g.txt && echo kept"), "kept\n");
    r = DEL(tbp("/files?path=%s&recursive=true", enc(H "/del/tree")), K);
    empty_body(r, 204);
    CU_ASSERT_STRING_EQUAL(sh("test -e " H "/del/tree || echo gone"), "gone\n");
    /* trailing-slash route */
    r = DEL(tbp("/files/?path=%s&recursive=true", enc(H "/del/empty")), K);
    empty_body(r, 204);
    /* missing */
    r = DEL(tbp("/files?path=%s", enc(H "/del/nope")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", "file not found: " H "/del/nope", "DELETE", "/files");
    r = DEL(tbp("/files?path=%s&recursive=true", enc(H "/del/nope/deeper")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", NULL, "DELETE", "/files");
    r = DEL(tbp("/files"), K);
    tb_err(r, 400, NULL, NULL, "DELETE", "/files");
    api_release();
}

static void test_move(void)
{
    sh("rm -rf " H "/mv; mkdir -p " H "/mv/dir/in " H "/mv/dst; echo src > " H "/mv/a.txt; "
       "echo other > " H "/mv/b.txt; echo deep > " H "/mv/dir/in/d.txt");
    http_resp *r = api_post_form_empty(tbp("/files/move?source=%s&destination=%s",
                                           enc(H "/mv/a.txt"), enc(H "/mv/dst/a2.txt")), K);
    empty_body(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/mv/dst/a2.txt; test -e " H "/mv/a.txt || echo gone"),
                           "src\ngone\n");
    /* a directory */
    r = api_post_form_empty(tbp("/files/move?source=%s&destination=%s", enc(H "/mv/dir"),
                                enc(H "/mv/dst/dir2")), K);
    empty_body(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/mv/dst/dir2/in/d.txt"), "deep\n");
    /* onto an existing destination: 409, nothing changed */
    r = api_post_form_empty(tbp("/files/move?source=%s&destination=%s", enc(H "/mv/b.txt"),
                                enc(H "/mv/dst/a2.txt")), K);
    tb_err(r, 409, NULL, NULL, "POST", "/files/move");
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/mv/b.txt " H "/mv/dst/a2.txt"), "other\nsrc\n");
    r = api_post_form_empty(tbp("/files/move?source=%s&destination=%s", enc(H "/mv/b.txt"),
                                enc(H "/mv/dst")), K);
    tb_err(r, 409, NULL, NULL, "POST", "/files/move");
    /* missing source */
    r = api_post_form_empty(tbp("/files/move?source=%s&destination=%s", enc(H "/mv/nope"),
                                enc(H "/mv/x")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", NULL, "POST", "/files/move");
    /* missing destination parent */
    r = api_post_form_empty(tbp("/files/move?source=%s&destination=%s", enc(H "/mv/b.txt"),
                                enc(H "/mv/no/such/dir/b.txt")), K);
    tb_err(r, 404, "FILE_NOT_FOUND", NULL, "POST", "/files/move");
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/mv/b.txt"), "other\n");
    /* parameters required */
    r = api_post_form_empty(tbp("/files/move?source=%s", enc(H "/mv/b.txt")), K);
    tb_err(r, 400, NULL, NULL, "POST", "/files/move");
    api_release();
}

static void test_permissions(void)
{
    sh("rm -rf " H "/perm; mkdir -p " H "/perm; echo p > " H "/perm/f; chmod 644 " H "/perm/f");
    http_resp *r = api_post_form_empty(tbp("/files/permissions?path=%s&mode=600",
                                           enc(H "/perm/f")), K);
    empty_body(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("stat -c %a " H "/perm/f"), "600\n");
    r = GET(tbp("/files/info?path=%s", enc(H "/perm/f")), K);
    assert_str(r->json, "permissions", "0600");
    assert_str(r->json, "mode", "-rw-------");
    /* owner and group by number and by name */
    r = api_post_form_empty(tbp("/files/permissions?path=%s&owner=0&group=0",
                                enc(H "/perm/f")), K);
    empty_body(r, 200);
    r = GET(tbp("/files/info?path=%s", enc(H "/perm/f")), K);
    assert_str(r->json, "owner", "0");
    assert_str(r->json, "group", "0");
    r = api_post_form_empty(tbp("/files/permissions?path=%s&owner=daytona",
                                enc(H "/perm/f")), K);
    empty_body(r, 200);
    r = GET(tbp("/files/info?path=%s", enc(H "/perm/f")), K);
    assert_str(r->json, "owner", SB_UID);
    assert_str(r->json, "group", "0");          /* group untouched */
    r = api_post_form_empty(tbp("/files/permissions?path=%s&group=%s&mode=0640",
                                enc(H "/perm/f"), SB_GID), K);
    empty_body(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("stat -c '%a %u %g' " H "/perm/f"),
                           api_fmt("640 %s %s\n", SB_UID, SB_GID));
    r = api_post_form_empty(tbp("/files/permissions?path=%s&owner=root&group=root",
                                enc(H "/perm/f")), K);
    empty_body(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("stat -c '%u %g' " H "/perm/f"), "0 0\n");
    /* unknown user / group, bad mode: 400, nothing changed */
    r = api_post_form_empty(tbp("/files/permissions?path=%s&owner=no-such-user-xyz",
                                enc(H "/perm/f")), K);
    tb_err(r, 400, NULL, NULL, "POST", "/files/permissions");
    r = api_post_form_empty(tbp("/files/permissions?path=%s&group=no-such-group-xyz",
                                enc(H "/perm/f")), K);
    tb_err(r, 400, NULL, NULL, "POST", "/files/permissions");
    r = api_post_form_empty(tbp("/files/permissions?path=%s&mode=9z", enc(H "/perm/f")), K);
    tb_err(r, 400, NULL, NULL, "POST", "/files/permissions");
    CU_ASSERT_STRING_EQUAL(sh("stat -c '%a %u %g' " H "/perm/f"), "640 0 0\n");
    /* missing file */
    r = api_post_form_empty(tbp("/files/permissions?path=%s&mode=600", enc(H "/perm/nope")),
                            K);
    tb_err(r, 404, "FILE_NOT_FOUND", NULL, "POST", "/files/permissions");
    api_release();
}

/* ================= find, search, replace ================= */

static void test_find(void)
{
    sh("rm -rf " H "/fd; mkdir -p " H "/fd/sub; cd " H "/fd;"
       "printf 'line one\\nabc here\\nfoo a.c bar\\n' > a.txt;"
       "printf 'a.c\\0binary\\n' > b.bin;"
       "printf 'a.c again\\n' > sub/c.txt;"
       "head -c 600 /dev/zero | tr '\\0' x > late.txt; printf '\\nhas a.c\\n\\0' >> late.txt;"
       "head -c 70000 /dev/zero | tr '\\0' y > long.txt; printf '\\na.c after long\\n' >> long.txt;"
       "echo 'a.c outside' > " H "/fd_other.txt; ln -s " H "/fd_other.txt lnk;"
       "printf 'no newline a.c' > nonl.txt");
    http_resp *r = GET(tbp("/files/find?path=%s&pattern=%s", enc(H "/fd"), enc("a.c")), K);
    expect_status(r, 200);
    cJSON *want = cJSON_Parse(
        "[{\"file\":\"" H "/fd/a.txt\",\"line\":3,\"content\":\"foo a.c bar\"},"
        "{\"file\":\"" H "/fd/late.txt\",\"line\":2,\"content\":\"has a.c\"},"
        "{\"file\":\"" H "/fd/nonl.txt\",\"line\":1,\"content\":\"no newline a.c\"},"
        "{\"file\":\"" H "/fd/sub/c.txt\",\"line\":1,\"content\":\"a.c again\"}]");
    int same = cJSON_Compare(r->json, want, 1);
    if (!same)
        fprintf(stderr, "\n  find a.c: %s\n", r->body);
    CU_ASSERT(same);
    cJSON_Delete(want);
    /* regex metacharacters are literal */
    r = GET(tbp("/files/find?path=%s&pattern=%s", enc(H "/fd"), enc("a.*")), K);
    expect_status(r, 200);
    CU_ASSERT_STRING_EQUAL(r->body, "[]");
    r = GET(tbp("/files/find?path=%s&pattern=%s", enc(H "/fd/a.txt"), enc("abc")), K);
    expect_status(r, 200);
    CU_ASSERT(cJSON_GetArraySize(r->json) <= 1);
    /* missing root: 200 [] */
    r = GET(tbp("/files/find?path=%s&pattern=x", enc(H "/no/such/dir")), K);
    expect_status(r, 200);
    CU_ASSERT_STRING_EQUAL(r->body, "[]");
    /* both parameters required */
    r = GET(tbp("/files/find?path=%s", enc(H "/fd")), K);
    tb_err(r, 400, NULL, NULL, "GET", "/files/find");
    r = GET(tbp("/files/find?pattern=x"), K);
    tb_err(r, 400, NULL, NULL, "GET", "/files/find");
    api_release();
}

static void test_search(void)
{
    sh("rm -rf " H "/s; mkdir -p " H "/s/sub " H "/s/d.txt; cd " H "/s;"
       ": > x.txt; : > y.log; : > sub/z.txt; : > .h.txt; ln -s x.txt lx.txt");
    http_resp *r = GET(tbp("/files/search?path=%s&pattern=%s", enc(H "/s"), enc("*.txt")), K);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r->json), 1);
    /* directories match too; walk order is lexical */
    assert_json_eq(r->json, "files", "[\"" H "/s/.h.txt\",\"" H "/s/d.txt\",\"" H
                   "/s/lx.txt\",\"" H "/s/sub/z.txt\",\"" H "/s/x.txt\"]");
    /* the root itself is a candidate */
    r = GET(tbp("/files/search?path=%s&pattern=s", enc(H "/s")), K);
    expect_status(r, 200);
    assert_json_eq(r->json, "files", "[\"" H "/s\"]");
    r = GET(tbp("/files/search?path=%s&pattern=%s", enc(H "/s"), enc("[xy].*")), K);
    assert_json_eq(r->json, "files", "[\"" H "/s/x.txt\",\"" H "/s/y.log\"]");
    /* basenames only: a pattern with '/' never matches */
    r = GET(tbp("/files/search?path=%s&pattern=%s", enc(H "/s"), enc("sub/*.txt")), K);
    assert_json_eq(r->json, "files", "[]");
    r = GET(tbp("/files/search?path=%s&pattern=%s", enc(H "/s"), enc("z?txt")), K);
    assert_json_eq(r->json, "files", "[\"" H "/s/sub/z.txt\"]");
    /* missing root */
    r = GET(tbp("/files/search?path=%s&pattern=%s", enc(H "/no/such"), enc("*")), K);
    expect_status(r, 200);
    CU_ASSERT_STRING_EQUAL(r->body, "{\"files\":[]}");
    r = GET(tbp("/files/search?path=%s", enc(H "/s")), K);
    tb_err(r, 400, NULL, NULL, "GET", "/files/search");
    api_release();
}

static void test_replace(void)
{
    sh("rm -rf " H "/rp; mkdir -p " H "/rp; printf 'foo bar foo\\n' > " H "/rp/a.txt;"
       "printf 'nofoo abc a.c\\n' > " H "/rp/b.txt");
    http_resp *r = POST(tbp("/files/replace"), K,
                        "{\"files\":[\"" H "/rp/a.txt\",\"" H "/rp/b.txt\",\"" H
                        "/rp/nope.txt\"],\"pattern\":\"foo\",\"newValue\":\"qux\"}");
    expect_status(r, 200);
    cJSON *want = cJSON_Parse(
        "[{\"file\":\"" H "/rp/a.txt\",\"success\":true},"
        "{\"file\":\"" H "/rp/b.txt\",\"success\":true},"
        "{\"file\":\"" H "/rp/nope.txt\",\"success\":false,"
        "\"error\":\"open " H "/rp/nope.txt: no such file or directory\"}]");
    int same = cJSON_Compare(r->json, want, 1);
    if (!same)
        fprintf(stderr, "\n  replace: %s\n", r->body);
    CU_ASSERT(same);
    cJSON_Delete(want);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/rp/a.txt " H "/rp/b.txt"),
                           "qux bar qux\nnoqux abc a.c\n");
    /* literal pattern, empty newValue allowed */
    r = POST(tbp("/files/replace"), K, "{\"files\":[\"" H "/rp/b.txt\"],\"pattern\":\"a.c\","
             "\"newValue\":\"\"}");
    expect_status(r, 200);
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/rp/b.txt"), "noqux abc \n");
    /* newValue absent, pattern absent or empty, files absent: 400 */
    static const char *const bad[] = {
        "{\"files\":[\"" H "/rp/b.txt\"],\"pattern\":\"x\"}",
        "{\"files\":[\"" H "/rp/b.txt\"],\"newValue\":\"x\"}",
        "{\"files\":[\"" H "/rp/b.txt\"],\"pattern\":\"\",\"newValue\":\"x\"}",
        "{\"pattern\":\"x\",\"newValue\":\"y\"}",
        "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = POST(tbp("/files/replace"), K, bad[i]);
        tb_err(r, 400, NULL, NULL, "POST", "/files/replace");
    }
    CU_ASSERT_STRING_EQUAL(sh("cat " H "/rp/b.txt"), "noqux abc \n");
    api_release();
}

/* Sandbox code can put a FIFO where the API expects a file: every request
 * on it must answer at once (an open or read would block a server thread
 * forever), and nothing may grant a setuid bit (a way out at the process
 * isolation level, where files live on the host without nosuid). */
static void test_special_files(void)
{
    sh("rm -rf " H "/sp; mkdir -p " H "/sp; mkfifo " H "/sp/ff; echo keep > " H "/sp/f");
    http_resp *r = download(H "/sp/ff");
    tb_err(r, 400, NULL, NULL, "GET", "/files/download");
    r = POST(tbp("/files/replace"), K, "{\"files\":[\"" H "/sp/ff\"],\"pattern\":\"a\","
             "\"newValue\":\"b\"}");
    expect_status(r, 200);
    const cJSON *e0 = cJSON_GetArrayItem(r->json, 0);
    CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e0, "success")));
    r = GET(tbp("/files/find?path=%s&pattern=keep", enc(H "/sp")), K);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r->json), 1);
    /* setuid / setgid bits are refused, the mode is unchanged */
    const char *modes[] = {"4755", "2755", "6755"};
    for (size_t i = 0; i < 3; i++) {
        r = api_post_form_empty(tbp("/files/permissions?path=%s&mode=%s", enc(H "/sp/f"),
                                    modes[i]), K);
        tb_err(r, 400, NULL, NULL, "POST", "/files/permissions");
    }
    CU_ASSERT_STRING_EQUAL(sh("stat -c %a " H "/sp/f"), "644\n");
    /* and sandbox programs cannot gain privileges through exec at all */
    CU_ASSERT_STRING_EQUAL(sh("grep NoNewPrivs /proc/self/status"), "NoNewPrivs:\t1\n");
    api_release();
}

/* ================= hostile paths ================= */

static char *host_passwd;
static size_t host_passwd_len;

static void load_host_passwd(void)
{
    if (host_passwd)
        return;
    FILE *f = fopen("/etc/passwd", "r");
    CU_ASSERT_FATAL(f != NULL);
    host_passwd = calloc(1, 1 << 20);
    host_passwd_len = fread(host_passwd, 1, (1 << 20) - 1, f);
    fclose(f);
}

/* A download (single or bulk) never returns a host file's bytes. */
static void not_host_at(const http_resp *r, const char *file, unsigned line)
{
    int leak = (r->body_len >= host_passwd_len && host_passwd_len &&
                memmem(r->body, r->body_len, host_passwd, host_passwd_len) != NULL) ||
               memmem(r->body, r->body_len, "root:x:0:0:", 11) != NULL;
    api_check_txt(!leak, file, line, "%s returned host content", api_what(r));
    if (leak)
        fprintf(stderr, "\n  %s:%u: %s: LEAK %ld %.200s\n", file, line, api_what(r),
                r->status, r->body);
}
#define not_host(r) not_host_at((r), __FILE__, __LINE__)

static void test_hostile_paths(void)
{
    load_host_passwd();
    sh("cd " H " && rm -f x y z w && ln -s /etc/passwd x && "
       "ln -s /proc/self/root/etc/passwd y && ln -s ../../../../../../../../etc/passwd z && "
       "ln -s / w");
    static const char *const paths[] = {
        "../../etc/passwd", "/etc/passwd", "/../../../etc/passwd", "x", H "/x", H "/y",
        H "/z", H "/w/etc/passwd", "/proc/self/root/etc/passwd", "/proc/1/root/etc/passwd",
        "..%2F..%2Fetc%2Fpasswd", "/home/daytona/../../etc/passwd"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http_resp *r = download(paths[i]);
        not_host(r);
        CU_ASSERT(r->status != 200);
        r = GET(tbp("/files/info?path=%s", enc(paths[i])), K);
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(r->json, "size");
        CU_ASSERT(r->status != 200 ||
                  (cJSON_IsNumber(sz) && sz->valuedouble != (double)host_passwd_len));
        r = GET(tbp("/files/find?path=%s&pattern=root%%3Ax%%3A0", enc(paths[i])), K);
        expect_status(r, 200);
        CU_ASSERT_STRING_EQUAL(r->body, "[]");
        cJSON *o = cJSON_CreateObject();
        cJSON *a = cJSON_AddArrayToObject(o, "paths");
        cJSON_AddItemToArray(a, cJSON_CreateString(paths[i]));
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        r = POST(tbp("/files/bulk-download"), K, body);
        free(body);
        expect_status(r, 200);
        not_host(r);
        CU_ASSERT_PTR_NOT_NULL(strstr(r->body, "name=\"error\""));
    }
    /* the sandbox itself reads its own /etc/passwd fine (sanity: the
     * links above are not simply broken in the sandbox's view) */
    CU_ASSERT_PTR_NOT_NULL(strstr(sh("cat " H "/x"), "daytona:"));
    /* listing "/" shows the sandbox's tree, never the host's */
    http_resp *r = GET(tbp("/files?path=%%2F"), K);
    expect_status(r, 200);
    CU_ASSERT_PTR_NULL(find_entry(r->json, "etc"));
    CU_ASSERT_PTR_NULL(find_entry(r->json, "usr"));
    r = GET(tbp("/files?path=%s", enc(H "/w/usr/bin")), K);
    CU_ASSERT(r->status == 404);
    /* search from a link to "/" stays in the sandbox */
    r = GET(tbp("/files/search?path=%s&pattern=passwd", enc(H "/w")), K);
    expect_status(r, 200);
    CU_ASSERT(strstr(r->body, "/etc/passwd") == NULL);

    /* writes through ".." and links land inside the sandbox */
    char uniq[64];
    snprintf(uniq, sizeof uniq, "dt-files-escape-%d", (int)getpid());
    r = bulk_upload1(api_fmt("../../../../tmp/%s", uniq), "E", 1);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(access(api_fmt("/tmp/%s", uniq), F_OK), -1);   /* not on the host */
    CU_ASSERT_STRING_EQUAL(sh(api_fmt("cat /tmp/%s", uniq)), "E");   /* the sandbox's /tmp */
    sh(api_fmt("ln -sf /tmp/%s-target " H "/wlink", uniq));
    r = bulk_upload1(H "/wlink", "W", 1);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(access(api_fmt("/tmp/%s-target", uniq), F_OK), -1);
    CU_ASSERT_STRING_EQUAL(sh(api_fmt("cat /tmp/%s-target", uniq)), "W");
    api_release();
}

/* Actions on a path through a planted link (test below). */
static http_resp *act_folder_below(const char *l, const char *keep_l)
{
    (void)keep_l;
    return api_post_form_empty(tbp("/files/folder?path=%s&mode=777",
                                   enc(api_fmt("%s/newdir", l))), K);
}
static http_resp *act_folder_link(const char *l, const char *keep_l)
{
    (void)keep_l;
    return api_post_form_empty(tbp("/files/folder?path=%s&mode=777", enc(l)), K);
}
static http_resp *act_bulk_upload(const char *l, const char *keep_l)
{
    (void)keep_l;
    return bulk_upload1(api_fmt("%s/up.txt", l), "U", 1);
}
static http_resp *act_upload_v2(const char *l, const char *keep_l)
{
    (void)keep_l;
    return post_raw(tbp("/files/upload-v2?path=%s", enc(api_fmt("%s/v2.txt", l))),
                    "application/octet-stream", "V", 1);
}
static http_resp *act_upload_legacy(const char *l, const char *keep_l)
{
    (void)keep_l;
    buf b;
    buf_init(&b, 1u << 16);
    mp_file(&b, "file", "x", "L", 1);
    mp_close(&b);
    http_resp *r = post_raw(tbp("/files/upload?path=%s", enc(api_fmt("%s/legacy.txt", l))),
                            MP_CT, b.data, b.len);
    buf_release(&b);
    return r;
}
static http_resp *act_perm_keep(const char *l, const char *keep_l)
{
    (void)l;
    return api_post_form_empty(tbp("/files/permissions?path=%s&mode=666&owner=%s",
                                   enc(keep_l), SB_UID), K);
}
static http_resp *act_perm_link(const char *l, const char *keep_l)
{
    (void)keep_l;
    return api_post_form_empty(tbp("/files/permissions?path=%s&mode=777", enc(l)), K);
}
static http_resp *act_replace(const char *l, const char *keep_l)
{
    (void)l;
    return POST(tbp("/files/replace"), K,
                api_fmt("{\"files\":[\"%s\"],\"pattern\":\"host\",\"newValue\":\"x\"}",
                        keep_l));
}
static http_resp *act_move(const char *l, const char *keep_l)
{
    (void)l;
    return api_post_form_empty(tbp("/files/move?source=%s&destination=%s", enc(keep_l),
                                   enc(H "/stolen")), K);
}
static http_resp *act_move_into(const char *l, const char *keep_l)
{
    (void)keep_l;
    http_resp *u = bulk_upload1(H "/to-move.txt", "M", 1);
    CU_ASSERT_EQUAL(u->status, 200);
    return api_post_form_empty(tbp("/files/move?source=%s&destination=%s", enc(H "/to-move.txt"),
                                   enc(api_fmt("%s/moved.txt", l))), K);
}
static http_resp *act_delete(const char *l, const char *keep_l)
{
    (void)l;
    return DEL(tbp("/files?path=%s&recursive=true", enc(keep_l)), K);
}
static http_resp *act_download(const char *l, const char *keep_l)
{
    (void)l;
    return download(keep_l);
}

/*
 * A sandbox can plant a symlink whose target names a *host* directory (the
 * target is only a string).  No file API call may then create, chmod,
 * chown, remove or move anything in that host directory.
 */
static void test_hostile_links_to_host_dir(void)
{
    char victim[] = "/tmp/test_files-victim-XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(victim) != NULL);
    CU_ASSERT_FATAL(chmod(victim, 0700) == 0);
    char keep[PATH_MAX];
    snprintf(keep, sizeof keep, "%s/keep", victim);
    FILE *f = fopen(keep, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("host file\n", f);
    fclose(f);
    CU_ASSERT_FATAL(chmod(keep, 0600) == 0);
    struct stat v0, k0;
    CU_ASSERT_FATAL(stat(victim, &v0) == 0 && stat(keep, &k0) == 0);

    shf("cd " H " && rm -f vabs vrel && ln -s %s vabs && ln -s ../../../../../../../..%s vrel",
        victim, victim);
    static const char *const links[] = {H "/vabs", H "/vrel"};
    for (size_t i = 0; i < 2; i++) {
        const char *l = links[i];
        const char *keep_l = api_fmt("%s/keep", l);
        struct {
            const char *what;
            http_resp *(*run)(const char *l, const char *keep_l);
        } const acts[] = {
            {"POST /files/folder <link>/newdir mode=777", act_folder_below},
            {"POST /files/folder <link> mode=777", act_folder_link},
            {"POST /files/bulk-upload <link>/up.txt", act_bulk_upload},
            {"POST /files/upload-v2 <link>/v2.txt", act_upload_v2},
            {"POST /files/upload <link>/legacy.txt", act_upload_legacy},
            {"POST /files/permissions <link>/keep mode=666", act_perm_keep},
            {"POST /files/permissions <link> mode=777", act_perm_link},
            {"POST /files/replace <link>/keep", act_replace},
            {"POST /files/move <link>/keep", act_move},
            {"POST /files/move into <link>/moved.txt", act_move_into},
            {"DELETE /files <link>/keep", act_delete},
            {"GET /files/download <link>/keep", act_download},
        };
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            http_resp *r = acts[a].run(l, keep_l);
            CU_ASSERT(memmem(r->body, r->body_len, "host file", 9) == NULL);
            struct stat v1, k1;
            CU_ASSERT_FATAL(stat(victim, &v1) == 0);
            int ok = (v1.st_mode & 07777) == 0700 && v1.st_uid == v0.st_uid &&
                     v1.st_gid == v0.st_gid;
            int ok_keep = stat(keep, &k1) == 0 && (k1.st_mode & 07777) == 0600 &&
                          k1.st_uid == k0.st_uid && k1.st_size == k0.st_size;
            static const char *const never[] = {"newdir", "up.txt", "v2.txt", "legacy.txt",
                                                "moved.txt"};
            int created = 0;
            for (size_t k = 0; k < sizeof never / sizeof never[0]; k++)
                created |= access(api_fmt("%s/%s", victim, never[k]), F_OK) == 0;
            if (!ok || !ok_keep || created)
                fprintf(stderr, "\n  ESCAPE via %s (link %s -> host %s): answered %ld; host "
                        "dir now mode %04o owner %u:%u (was 0700 %u:%u)%s%s\n",
                        acts[a].what, l, victim, r->status, (unsigned)(v1.st_mode & 07777),
                        (unsigned)v1.st_uid, (unsigned)v1.st_gid, (unsigned)v0.st_uid,
                        (unsigned)v0.st_gid, ok_keep ? "" : "; host file changed",
                        created ? "; a file was created in it" : "");
            api_check_txt(ok && ok_keep && !created, __FILE__, __LINE__,
                          "%s through %s leaves the host directory alone", acts[a].what, l);
            /* restore for the next action */
            if (chmod(victim, 0700) != 0 || chown(victim, v0.st_uid, v0.st_gid) != 0 ||
                chmod(keep, 0600) != 0 || chown(keep, k0.st_uid, k0.st_gid) != 0)
                CU_FAIL("restoring the victim directory");
        }
    }
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", victim);
    CU_ASSERT(system(cmd) == 0);
    api_release();
}

/* ================= big transfers ================= */

static long vm_kib(const char *key)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)api.emu.pid);
    FILE *f = fopen(p, "r");
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = atol(line + kl + 1);
    if (f)
        fclose(f);
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_big_streamed(void)
{
    const size_t n = 64u << 20;
    sh("rm -rf " H "/big");
    /* the multipart body: header, 64 MiB of pseudo-random bytes, close */
    static const char head[] =
        "--" BND "\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n"
        H "/big/blob.bin\r\n--" BND "\r\nContent-Disposition: form-data; "
        "name=\"files[0].file\"; filename=\"blob.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n";
    static const char tail[] = "\r\n--" BND "--\r\n";
    size_t total = sizeof head - 1 + n + sizeof tail - 1;
    char *body = malloc(total);
    CU_ASSERT_FATAL(body != NULL);
    memcpy(body, head, sizeof head - 1);
    char *data = body + sizeof head - 1;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(data + i, &x, 8);
    }
    memcpy(data + n, tail, sizeof tail - 1);
    uint8_t digest[SHA256_DIGEST_LEN];
    char hex[SHA256_DIGEST_LEN * 2 + 1];
    sha256(data, n, digest);
    hex_encode(digest, sizeof digest, hex);

    long rss0 = vm_kib("VmRSS");
    double t0 = now_s();
    http_resp *r = post_chunked(tbp("/files/bulk-upload"), MP_CT, body, total, 1u << 20);
    double t1 = now_s();
    long rss_up = vm_kib("VmHWM");
    expect_status(r, 200);
    assert_json_eq(r->json, "files",
                   api_fmt("[{\"path\":\"" H "/big/blob.bin\",\"bytes\":%zu}]", n));
    /* the sandbox computes the same digest */
    CU_ASSERT_STRING_EQUAL(sh("sha256sum " H "/big/blob.bin | cut -d' ' -f1"),
                           api_fmt("%s\n", hex));
    http_resp *info = GET(tbp("/files/info?path=%s", enc(H "/big/blob.bin")), K);
    assert_num(info->json, "size", (double)n);
    assert_str(info->json, "owner", SB_UID);

    double t2 = now_s();
    http_resp *d = xfer("GET", tbp("/files/download?path=%s", enc(H "/big/blob.bin")), NULL,
                        NULL, 300);
    double t3 = now_s();
    long rss_down = vm_kib("VmHWM");
    expect_status(d, 200);
    CU_ASSERT_EQUAL(d->body_len, n);
    CU_ASSERT(d->body_len == n && memcmp(d->body, data, n) == 0);
    sha256(d->body, d->body_len, digest);
    char hex2[SHA256_DIGEST_LEN * 2 + 1];
    hex_encode(digest, sizeof digest, hex2);
    CU_ASSERT_STRING_EQUAL(hex2, hex);

    /* and through bulk-download */
    double t4 = now_s();
    http_resp *bd = xfer("POST", tbp("/files/bulk-download"),
                         (const char *const[]){"Content-Type: application/json", NULL},
                         &(body_src){"{\"paths\":[\"" H "/big/blob.bin\"]}",
                                     strlen("{\"paths\":[\"" H "/big/blob.bin\"]}"), 0, 0, 0},
                         300);
    double t5 = now_s();
    long rss_bulk = vm_kib("VmHWM");
    expect_status(bd, 200);
    dl_parts parts;
    CU_ASSERT_EQUAL(dl_parse(bd, &parts), MP_OK);
    CU_ASSERT_EQUAL(parts.n, 1);
    if (parts.n == 1)
        dl_file(&parts.p[0], H "/big/blob.bin", data, n, "application/octet-stream");
    dl_free(&parts);

    fprintf(stderr, "\n  64 MiB: upload (chunked) %.2f s, download %.2f s, bulk-download "
            "%.2f s; emulator RSS before %ld KiB, peak after upload %ld KiB, after "
            "download %ld KiB, after bulk-download %ld KiB\n",
            t1 - t0, t3 - t2, t5 - t4, rss0, rss_up, rss_down, rss_bulk);
    /* streamed: the emulator never held the file (64 MiB) in memory */
    if (rss0 > 0 && rss_bulk > 0)
        CU_ASSERT(rss_bulk - rss0 < 32 * 1024);
    free(body);
    /* delete so the sandbox's disk is not kept busy */
    http_resp *del = DEL(tbp("/files?path=%s&recursive=true", enc(H "/big")), K);
    empty_body(del, 204);
    api_release();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static const cu_case tests[] = {
        {"list: sorted, FileInfo shape", test_list},
        {"list: errors", test_list_errors},
        {"list: depth=2 flat", test_list_depth},
        {"info", test_info},
        {"download", test_download},
        {"download: Range", test_download_range},
        {"bulk-download", test_bulk_download},
        {"bulk-download: failures", test_bulk_download_failures},
        {"bulk-upload", test_bulk_upload},
        {"bulk-upload: npm form-data body", test_bulk_upload_formdata4},
        {"bulk-upload: missing .path", test_bulk_upload_missing_path},
        {"bulk-upload: chunked", test_bulk_upload_chunked},
        {"bulk-upload: bad bodies", test_bulk_upload_bad_bodies},
        {"upload (legacy)", test_upload_legacy},
        {"upload-v2", test_upload_v2},
        {"folder", test_folder},
        {"delete", test_delete},
        {"move", test_move},
        {"permissions", test_permissions},
        {"special files (FIFO), setuid, no_new_privs", test_special_files},
        {"find", test_find},
        {"search", test_search},
        {"replace", test_replace},
        {"hostile paths", test_hostile_paths},
        {"hostile links to a host directory", test_hostile_links_to_host_dir},
        {"64 MiB streamed", test_big_streamed},
    };
    int rc = cu_run_suite("files", suite_init, suite_cleanup, tests,
                          sizeof tests / sizeof tests[0]);
    free(host_passwd);
    curl_global_cleanup();
    return rc;
}
