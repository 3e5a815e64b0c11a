/*
 * record.c - record mode: a recording reverse proxy in front of another
 * Daytona (see record.h for the contract).
 *
 * One request, in order: refuse WebSocket upgrades; pick the upstream URL
 * (the toolbox URL the sandbox really has for /toolbox/..., else the
 * upstream base + the raw URI); forward method, headers and body with
 * libcurl; learn ids and secrets from the request and the answer
 * (record_norm); rewrite toolbox URLs in the answer to point here; write
 * the normalized fixture; relay the answer.  The fixture is written before
 * the answer leaves, so a client that has its answer finds the recording.
 *
 * This module reads request headers through MHD directly (unlike ordinary
 * handlers): forwarding needs every header, not named ones.
 */
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <dlfcn.h>
#include <microhttpd.h>

#include "app.h"
#include "buf.h"
#include "fsutil.h"
#include "record_norm.h"

#define REC_MAX_BODY (64u * 1024 * 1024)   /* each way */
#define REC_MAX_RESP_HEADERS 64
#define REC_MAX_TOOLBOX 4096               /* sandboxes whose URL we know */

typedef struct {
    char *sandbox_id;
    char *url;        /* the real toolboxProxyUrl, no trailing '/' */
} toolbox_entry;

typedef struct {
    char *upstream;            /* base, no trailing '/' or '/api' */
    char *dir;
    rec_norm *norm;
    pthread_mutex_t mu;        /* seq and the toolbox table */
    unsigned long seq;
    toolbox_entry tb[REC_MAX_TOOLBOX];
    size_t ntb, tb_next;       /* ring: the oldest is replaced when full */
    char *default_toolbox;     /* the last toolbox URL seen */
    int curl_inited;
    int inited;                /* the mutex exists */
} recorder;

static recorder g_rec;

/* ---------- libcurl, loaded on demand ---------- */

/* libcurl is loaded when record mode starts rather than linked: linked, it
 * and its TLS and Kerberos dependencies (~3 MiB resident) would sit in every
 * emulator, and only record mode uses them (bench 5, idle RSS).  Only
 * these functions are called, through this table. */
static struct {
    void *lib;
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} C;

static int curl_load(char *err, size_t errlen)
{
    const struct { const char *name; void **slot; } syms[] = {
        {"curl_global_init", (void **)&C.global_init},
        {"curl_global_cleanup", (void **)&C.global_cleanup},
        {"curl_easy_init", (void **)&C.easy_init},
        {"curl_easy_setopt", (void **)&C.easy_setopt},
        {"curl_easy_perform", (void **)&C.easy_perform},
        {"curl_easy_getinfo", (void **)&C.easy_getinfo},
        {"curl_easy_cleanup", (void **)&C.easy_cleanup},
        {"curl_easy_strerror", (void **)&C.easy_strerror},
        {"curl_slist_append", (void **)&C.slist_append},
        {"curl_slist_free_all", (void **)&C.slist_free_all},
    };
    C.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!C.lib) {
        snprintf(err, errlen, "record mode needs libcurl: %s", dlerror());
        return -1;
    }
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        /* POSIX: dlsym hands a function's address back as a void *. */
        *syms[i].slot = dlsym(C.lib, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(err, errlen, "libcurl lacks %s", syms[i].name);
            dlclose(C.lib);
            memset(&C, 0, sizeof C);
            return -1;
        }
    }
    return 0;
}


/* ---------- set-up ---------- */

/* The highest "NNNNNN-" prefix among DIR's fixtures (0 when none). */
static unsigned long last_seq(const char *dir)
{
    unsigned long max = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        unsigned long v = strtoul(e->d_name, &end, 10);
        if (end != e->d_name && *end == '-' && strstr(end, ".json") && v > max)
            max = v;
    }
    closedir(d);
    return max;
}

static char *clean_upstream(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return NULL;
    char *s = strdup(u);
    if (!s)
        return NULL;
    size_t l = strlen(s);
    while (l > 0 && s[l - 1] == '/')
        s[--l] = '\0';
    /* The SDK's DAYTONA_API_URL ends in /api; the recorder wants the base
     * (the /api prefix stays in the forwarded path). */
    if (l >= 4 && strcmp(s + l - 4, "/api") == 0)
        s[l - 4] = '\0';
    return s;
}

int record_init(const char *upstream, const char *dir, char *err, size_t errlen)
{
    memset(&g_rec, 0, sizeof g_rec);
    pthread_mutex_init(&g_rec.mu, NULL);
    g_rec.inited = 1;
    g_rec.upstream = clean_upstream(upstream);
    if (!g_rec.upstream) {
        snprintf(err, errlen, "--upstream must be an http:// or https:// URL");
        return -1;
    }
    if (!dir || !*dir || fs_mkdir_p(dir, 0755) != 0) {
        snprintf(err, errlen, "cannot create --record directory %s: %s",
                 dir ? dir : "", strerror(errno));
        return -1;
    }
    g_rec.dir = strdup(dir);
    g_rec.norm = rec_norm_new();
    if (!g_rec.dir || !g_rec.norm) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g_rec.seq = last_seq(dir);
    /* Before any thread exists (STYLE.md anti-pattern 5). */
    if (curl_load(err, errlen) != 0)
        return -1;
    if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed");
        return -1;
    }
    g_rec.curl_inited = 1;
    /* The upstream's own base URL is not a value to compare. */
    rec_norm_learn(g_rec.norm, g_rec.upstream, "<upstream>");
    return 0;
}

void record_cleanup(void)
{
    if (!g_rec.inited)
        return;
    for (size_t i = 0; i < g_rec.ntb; i++) {
        free(g_rec.tb[i].sandbox_id);
        free(g_rec.tb[i].url);
    }
    free(g_rec.default_toolbox);
    free(g_rec.upstream);
    free(g_rec.dir);
    rec_norm_free(g_rec.norm);
    if (g_rec.curl_inited)
        C.global_cleanup();
    if (C.lib)
        dlclose(C.lib);
    memset(&C, 0, sizeof C);
    pthread_mutex_destroy(&g_rec.mu);
    memset(&g_rec, 0, sizeof g_rec);
}

/* ---------- the toolbox URL table ---------- */

static void toolbox_remember(const char *sandbox_id, const char *url)
{
    char *u = strdup(url);
    if (!u)
        return;
    size_t l = strlen(u);
    while (l > 0 && u[l - 1] == '/')
        u[--l] = '\0';
    pthread_mutex_lock(&g_rec.mu);
    free(g_rec.default_toolbox);
    g_rec.default_toolbox = strdup(u);
    size_t slot = g_rec.ntb;
    for (size_t i = 0; sandbox_id && i < g_rec.ntb; i++)
        if (strcmp(g_rec.tb[i].sandbox_id, sandbox_id) == 0)
            slot = i;
    if (sandbox_id && slot == g_rec.ntb && g_rec.ntb == REC_MAX_TOOLBOX) {
        slot = g_rec.tb_next;
        g_rec.tb_next = (g_rec.tb_next + 1) % REC_MAX_TOOLBOX;
    }
    char *id = sandbox_id ? strdup(sandbox_id) : NULL;
    if (id) {
        if (slot < g_rec.ntb) {
            free(g_rec.tb[slot].sandbox_id);
            free(g_rec.tb[slot].url);
        } else {
            g_rec.ntb++;
        }
        g_rec.tb[slot].sandbox_id = id;
        g_rec.tb[slot].url = u;
        u = NULL;
    }
    pthread_mutex_unlock(&g_rec.mu);
    free(u);
}

/* The real toolbox base for a sandbox (malloc'd): its own URL, else the
 * last one seen, else <upstream>/toolbox. */
static char *toolbox_lookup(const char *sandbox_id, size_t id_len)
{
    char *r = NULL;
    pthread_mutex_lock(&g_rec.mu);
    for (size_t i = 0; i < g_rec.ntb && !r; i++)
        if (strlen(g_rec.tb[i].sandbox_id) == id_len &&
            memcmp(g_rec.tb[i].sandbox_id, sandbox_id, id_len) == 0)
            r = strdup(g_rec.tb[i].url);
    if (!r && g_rec.default_toolbox)
        r = strdup(g_rec.default_toolbox);
    pthread_mutex_unlock(&g_rec.mu);
    if (!r) {
        size_t n = strlen(g_rec.upstream) + 9;
        r = malloc(n);
        if (r)
            snprintf(r, n, "%s/toolbox", g_rec.upstream);
    }
    return r;
}

/* Rewrites toolbox URLs in an upstream answer to `mine` and remembers the
 * originals.  path: the request's raw path (for /toolbox-proxy-url).
 * Returns 1 when something changed. */
static int rewrite_toolbox(cJSON *j, const char *mine, const char *path,
                           int depth)
{
    if (!j || depth > 32)
        return 0;
    int changed = 0;
    if (cJSON_IsObject(j)) {
        static const char *const keys[] = {"toolboxProxyUrl", "proxyToolboxUrl"};
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        for (size_t k = 0; k < 2; k++) {
            cJSON *u = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
            if (!cJSON_IsString(u) || !u->valuestring[0])
                continue;   /* empty: the client asks /toolbox-proxy-url */
            toolbox_remember(cJSON_IsString(id) ? id->valuestring : NULL,
                             u->valuestring);
            changed |= cJSON_ReplaceItemInObjectCaseSensitive(
                j, keys[k], cJSON_CreateString(mine));
        }
        /* GET /api/sandbox/{id}/toolbox-proxy-url -> {"url": ...} */
        size_t pl = strlen(path);
        cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "url");
        if (depth == 0 && pl > 18 && strcmp(path + pl - 18, "/toolbox-proxy-url") == 0 &&
            cJSON_IsString(u) && u->valuestring[0]) {
            /* the id is the segment before the suffix */
            char id_buf[256] = "";
            const char *end = path + pl - 18, *beg = end;
            while (beg > path && beg[-1] != '/')
                beg--;
            if ((size_t)(end - beg) < sizeof id_buf)
                memcpy(id_buf, beg, (size_t)(end - beg));
            toolbox_remember(id_buf[0] ? id_buf : NULL, u->valuestring);
            changed |= cJSON_ReplaceItemInObjectCaseSensitive(
                j, "url", cJSON_CreateString(mine));
        }
    }
    for (cJSON *c = j->child; c; c = c->next)
        if (cJSON_IsObject(c) || cJSON_IsArray(c))
            changed |= rewrite_toolbox(c, mine, path, depth + 1);
    return changed;
}

/* ---------- forwarding ---------- */

typedef struct {
    long status;
    buf body;
    int too_big;
    char *hname[REC_MAX_RESP_HEADERS];
    char *hvalue[REC_MAX_RESP_HEADERS];
    int nh;
} upstream_resp;

static void upstream_resp_release(upstream_resp *u)
{
    buf_release(&u->body);
    for (int i = 0; i < u->nh; i++) {
        free(u->hname[i]);
        free(u->hvalue[i]);
    }
    u->nh = 0;
}

static const char *resp_header(const upstream_resp *u, const char *name)
{
    for (int i = 0; i < u->nh; i++)
        if (strcasecmp(u->hname[i], name) == 0)
            return u->hvalue[i];
    return NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    upstream_resp *u = ud;
    size_t n = size * nmemb;
    if (buf_add(&u->body, data, n) != BUF_OK) {
        u->too_big = 1;
        return 0;    /* aborts the transfer (STYLE.md practice 8) */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    upstream_resp *u = ud;
    size_t n = size * nmemb;
    /* A new status line (after a 100 Continue) starts a new header set. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        upstream_resp_release(u);
        buf_init(&u->body, REC_MAX_BODY);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || u->nh >= REC_MAX_RESP_HEADERS)
        return n;
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    char *hn = strndup(data, (size_t)(colon - data));
    char *hv = strndup(v, (size_t)(end - v));
    if (!hn || !hv) {
        free(hn);
        free(hv);
        return n;
    }
    u->hname[u->nh] = hn;
    u->hvalue[u->nh++] = hv;
    return n;
}

/* Request headers that are the transport's business, not the client's. */
static int hop_header(const char *name)
{
    static const char *const hop[] = {
        "host", "content-length", "connection", "keep-alive",
        "transfer-encoding", "te", "trailer", "upgrade", "expect",
        "accept-encoding", "proxy-connection", "proxy-authorization"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (strcasecmp(name, hop[i]) == 0)
            return 1;
    return 0;
}

typedef struct {
    struct curl_slist *list;
    int has_ctype;
    int failed;
} hdr_ctx;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    (void)kind;
    hdr_ctx *h = cls;
    if (!key || hop_header(key))
        return MHD_YES;
    if (strcasecmp(key, "Content-Type") == 0)
        h->has_ctype = 1;
    /* Credentials are what must never reach a recording: remember them so
     * every later occurrence, anywhere, is redacted. */
    if (value && (rec_norm_secret_name(key) ||
                  strcasecmp(key, "X-Daytona-Organization-ID") == 0)) {
        rec_norm_add_secret(g_rec.norm, value);
        if (strncasecmp(value, "Bearer ", 7) == 0)
            rec_norm_add_secret(g_rec.norm, value + 7);
    }
    size_t n = strlen(key) + (value ? strlen(value) : 0) + 3;
    char *line = malloc(n);
    struct curl_slist *nl = NULL;
    if (line) {
        snprintf(line, n, "%s: %s", key, value ? value : "");
        nl = C.slist_append(h->list, line);
        free(line);
    }
    if (!nl) {
        h->failed = 1;
        return MHD_NO;
    }
    h->list = nl;
    return MHD_YES;
}

/* The URL to forward to (malloc'd). */
static char *upstream_url(const char *raw_uri)
{
    char *base = NULL;
    const char *rest = raw_uri;
    if (strncmp(raw_uri, "/toolbox/", 9) == 0) {
        const char *id = raw_uri + 9;
        base = toolbox_lookup(id, strcspn(id, "/?"));
        rest = raw_uri + 8;   /* "/<id>/..." after the toolbox base */
    } else {
        base = strdup(g_rec.upstream);
    }
    if (!base)
        return NULL;
    size_t n = strlen(base) + strlen(rest) + 1;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "%s%s", base, rest);
    free(base);
    return url;
}

/* Sends the request upstream; fills u.  Returns 0, or -1 with a message
 * in err (the transfer failed). */
static int forward(emu_req *r, const char *body, size_t body_len,
                   upstream_resp *u, char *err, size_t errlen)
{
    int rc = -1;
    char *url = upstream_url(r->raw_uri);
    CURL *h = C.easy_init();
    hdr_ctx hc = {NULL, 0, 0};
    char ebuf[CURL_ERROR_SIZE] = "";
    if (!url || !h) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &hc);
    /* No Expect: 100-continue round trip; no invented Content-Type. */
    struct curl_slist *nl = C.slist_append(hc.list, "Expect:");
    if (nl && !hc.has_ctype)
        nl = C.slist_append(nl, "Content-Type:");
    if (!nl || hc.failed) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    hc.list = nl;
    C.easy_setopt(h, CURLOPT_URL, url);
    C.easy_setopt(h, CURLOPT_HTTPHEADER, hc.list);
    C.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    C.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    C.easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    C.easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    C.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    C.easy_setopt(h, CURLOPT_WRITEDATA, u);
    C.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    C.easy_setopt(h, CURLOPT_HEADERDATA, u);
    if (strcmp(r->method, "HEAD") == 0) {
        C.easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0 || body_len > 0) {
        C.easy_setopt(h, CURLOPT_POSTFIELDS, body);
        C.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        C.easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode cc = C.easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", u->too_big ? "upstream answer over 64 MiB"
                                  : ebuf[0] ? ebuf : C.easy_strerror(cc));
        goto done;
    }
    C.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &u->status);
    rc = 0;
done:
    C.slist_free_all(hc.list);
    if (h)
        C.easy_cleanup(h);
    free(url);
    return rc;
}

/* Response headers relayed to the client: all but the transport's own
 * (MHD writes length, date and connection itself; curl decoded any
 * content encoding). */
static int relay_header(const char *name)
{
    static const char *const skip[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive",
        "content-encoding", "date", "content-type"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return 0;
    return 1;
}

/* ---------- the fixture ---------- */

static int is_json_type(const char *ct)
{
    return ct && (strncasecmp(ct, "application/json", 16) == 0 ||
                  strcasestr(ct, "+json") != NULL);
}

/* A body as recorded: JSON normalized, or its size (and short text). */
static cJSON *body_doc(const char *ctype, const char *body, size_t len,
                       cJSON *parsed)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (ctype) {
        char *ct = rec_norm_string(g_rec.norm, ctype);
        cJSON_AddStringToObject(o, "content_type", ct ? ct : "");
        free(ct);
    }
    cJSON_AddNumberToObject(o, "bytes", (double)len);
    if (parsed) {
        cJSON *copy = cJSON_Duplicate(parsed, 1);
        if (copy && rec_norm_json(g_rec.norm, copy) == 0)
            cJSON_AddItemToObject(o, "json", copy);
        else
            cJSON_Delete(copy);
    } else if (ctype && strncasecmp(ctype, "text/", 5) == 0 && len <= 4096 &&
               memchr(body, '\0', len) == NULL) {
        char *t = rec_norm_string(g_rec.norm, body);
        if (t)
            cJSON_AddStringToObject(o, "text", t);
        free(t);
    }
    return o;
}

/* "seq-METHOD-path_words.json" (the path's letters only, bounded). */
static void fixture_name(char *out, size_t n, unsigned long seq,
                         const char *method, const char *npath)
{
    char slug[96];
    size_t j = 0;
    for (const char *p = npath; *p && j < sizeof slug - 1; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-';
        if (ok)
            slug[j++] = c;
        else if (j > 0 && slug[j - 1] != '_')
            slug[j++] = '_';
    }
    while (j > 0 && slug[j - 1] == '_')
        j--;
    slug[j] = '\0';
    snprintf(out, n, "%06lu-%s-%s.json", seq, method, slug);
}

/* Writes doc as DIR/name atomically (temp file + rename). */
static int write_fixture(const char *name, const cJSON *doc)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    char *text = cJSON_Print(doc);
    if (!text)
        return -1;
    snprintf(path, sizeof path, "%s/%s", g_rec.dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL;
    if (f) {
        ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        ok &= fclose(f) == 0;
    }
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

typedef struct {
    emu_req *r;
    const char *body;          /* request body */
    size_t body_len;
    cJSON *req_json;           /* parsed request body, or NULL */
    const upstream_resp *u;
    cJSON *resp_json;          /* parsed answer before any rewrite */
} exchange;

static cJSON *fixture_doc(const exchange *x, unsigned long seq, char **npath_out)
{
    const char *raw = x->r->raw_uri;
    size_t plen = strcspn(raw, "?");
    char *raw_path = strndup(raw, plen);
    char *npath = raw_path ? rec_norm_path(g_rec.norm, raw_path) : NULL;
    cJSON *q = rec_norm_query(g_rec.norm, raw[plen] ? raw + plen + 1 : "");
    cJSON *doc = cJSON_CreateObject();
    const char *rq_type = emu_header(x->r, "Content-Type");
    const char *rs_type = resp_header(x->u, "Content-Type");
    cJSON *req = x->body_len ? body_doc(rq_type, x->body, x->body_len, x->req_json)
                             : cJSON_CreateObject();
    cJSON *resp = body_doc(rs_type, buf_str(&x->u->body), x->u->body.len,
                           x->resp_json);
    free(raw_path);
    if (!npath || !q || !doc || !req || !resp)
        goto fail;
    /* The headers that matter, in the form dt-compare reads. */
    const char *cd = resp_header(x->u, "Content-Disposition");
    if (cd) {
        char *ncd = rec_norm_string(g_rec.norm, cd);
        if (!ncd || !cJSON_AddStringToObject(resp, "content_disposition", ncd)) {
            free(ncd);
            goto fail;
        }
        free(ncd);
    }
    if (!cJSON_AddNumberToObject(doc, "seq", (double)seq) ||
        !cJSON_AddStringToObject(doc, "method", x->r->method) ||
        !cJSON_AddStringToObject(doc, "path", npath) ||
        !cJSON_AddItemToObject(doc, "query", q))
        goto fail;
    q = NULL;
    if (!cJSON_AddItemToObject(doc, "request", req))
        goto fail;
    req = NULL;
    if (!cJSON_AddNumberToObject(doc, "status", (double)x->u->status) ||
        !cJSON_AddItemToObject(doc, "response", resp))
        goto fail;
    *npath_out = npath;
    return doc;
fail:
    free(npath);
    cJSON_Delete(q);
    cJSON_Delete(req);
    cJSON_Delete(resp);
    cJSON_Delete(doc);
    return NULL;
}

static void record_exchange(const exchange *x)
{
    /* Learn first (the request's ids and secrets, then the answer's), so
     * values are known wherever they appear -- also in the request. */
    rec_norm_learn_json(g_rec.norm, x->req_json);
    rec_norm_learn_json(g_rec.norm, x->resp_json);
    pthread_mutex_lock(&g_rec.mu);
    unsigned long seq = ++g_rec.seq;
    pthread_mutex_unlock(&g_rec.mu);
    char *npath = NULL;
    cJSON *doc = fixture_doc(x, seq, &npath);
    char name[160];
    if (doc) {
        fixture_name(name, sizeof name, seq, x->r->method, npath);
        if (write_fixture(name, doc) == 0) {
            cJSON_Delete(doc);
            free(npath);
            return;
        }
    }
    emu_log(x->r->app, EMU_LOG_ERROR, "record: cannot write the fixture for %s %s",
            x->r->method, npath ? npath : "?");
    cJSON_Delete(doc);
    free(npath);
}

/* ---------- the handler ---------- */

/* Request bodies of toolbox calls (uploads) stream in: collected here, up
 * to the same cap as answers, instead of the 1 MiB API body buffer. */
static void sink_free(void *p)
{
    buf *b = p;
    buf_release(b);
    free(b);
}

static int rec_sink(emu_req *r, const char *data, size_t len)
{
    return buf_add(r->route_ctx, data, len) == BUF_OK ? 0 : 413;
}

static int h_rec_begin(emu_req *r)
{
    buf *b = malloc(sizeof *b);
    if (!b)
        return emu_reply_error(r, 500, "An unexpected error occurred.");
    buf_init(b, REC_MAX_BODY);
    r->route_ctx = b;
    r->route_ctx_free = sink_free;
    r->sink = rec_sink;
    return 0;
}

/* Relays the upstream answer (JSON re-serialized only when a toolbox URL
 * was rewritten). */
static int relay(emu_req *r, const upstream_resp *u, cJSON *rewritten)
{
    char *text = rewritten ? cJSON_PrintUnformatted(rewritten) : NULL;
    if (rewritten && !text)
        return emu_reply_error(r, 500, "An unexpected error occurred.");
    int st = emu_reply_raw(r, (int)u->status, NULL, text ? text : buf_str(&u->body),
                           text ? strlen(text) : u->body.len);
    free(text);
    const char *ct = resp_header(u, "Content-Type");
    if (ct)
        emu_reply_header(r, "Content-Type", ct);
    for (int i = 0; i < u->nh; i++)
        if (relay_header(u->hname[i]))
            emu_reply_header(r, u->hname[i], u->hvalue[i]);
    return st;
}

static int h_rec_forward(emu_req *r)
{
    if (strncmp(r->raw_uri, "/_emulator/", 11) == 0)
        return emu_reply_error(r, 404, "no such admin route in record mode");
    const char *up = emu_header(r, "Upgrade");
    if (up && *up)
        return emu_reply_error(r, 501, "record mode does not relay WebSocket "
                               "upgrades (session log follow, PTY, interpreter, "
                               "events)");
    if (r->sink_status)
        return emu_reply_error(r, r->sink_status, "request entity too large");
    const char *body = r->body;
    size_t body_len = r->body_len;
    if (r->sink) {
        body = buf_str(r->route_ctx);
        body_len = ((buf *)r->route_ctx)->len;
    }
    upstream_resp u;
    memset(&u, 0, sizeof u);
    buf_init(&u.body, REC_MAX_BODY);
    char err[CURL_ERROR_SIZE + 64];
    if (forward(r, body, body_len, &u, err, sizeof err) != 0) {
        upstream_resp_release(&u);
        emu_log(r->app, EMU_LOG_WARN, "record: %s %s: %s", r->method,
                r->raw_uri, err);
        char msg[CURL_ERROR_SIZE + 128];
        snprintf(msg, sizeof msg, "upstream request failed: %s", err);
        return emu_reply_error(r, 502, msg);
    }
    const char *rq_type = emu_header(r, "Content-Type");
    exchange x = {r, body, body_len, NULL, &u, NULL};
    if (body_len && is_json_type(rq_type))
        x.req_json = cJSON_ParseWithLength(body, body_len);
    if (u.body.len && is_json_type(resp_header(&u, "Content-Type")))
        x.resp_json = cJSON_ParseWithLength(buf_str(&u.body), u.body.len);
    cJSON *rewritten = NULL;
    if (x.resp_json) {
        char base[300], mine[320];
        emu_base_url(r, base, sizeof base);
        snprintf(mine, sizeof mine, "%s/toolbox", base);
        rewritten = cJSON_Duplicate(x.resp_json, 1);
        size_t plen = strcspn(r->raw_uri, "?");
        char *path = strndup(r->raw_uri, plen);
        if (!rewritten || !path || !rewrite_toolbox(rewritten, mine, path, 0)) {
            cJSON_Delete(rewritten);
            rewritten = NULL;
        }
        free(path);
    }
    record_exchange(&x);
    int st = relay(r, &u, rewritten);
    cJSON_Delete(rewritten);
    cJSON_Delete(x.req_json);
    cJSON_Delete(x.resp_json);
    upstream_resp_release(&u);
    return st;
}

emu_route *record_routes(const emu_route *base, size_t n, size_t *out_n)
{
    emu_route *t = calloc(n + 1, sizeof *t);
    if (!t)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(base[i].pattern, "/_emulator/", 11) == 0)
            t[k++] = base[i];
    /* A lone final "*" segment matches every path.  Streamed, so toolbox
     * uploads are not held to the 1 MiB API body cap. */
    t[k++] = (emu_route){"*", "/*", h_rec_forward, EMU_R_STREAM, h_rec_begin};
    *out_n = k;
    return t;
}
