/*
 * compare.c - loading recorded exchanges and comparing two recordings
 * (see compare.h for what is compared and how differences read).
 *
 * A response body is reduced to its shape, a cJSON tree of the same form
 * with every scalar replaced by its type name ("string", "number",
 * "boolean", "null"), every array by one merged element shape, and
 * object keys sorted.  A value whose type varies (a field null in one
 * element, a string in another) becomes a sorted type set "null|string".
 * Two shapes are then compared node by node.
 */
#include "compare.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#define MAX_FIXTURE (256L * 1024 * 1024)
#define MAX_DEPTH 64

typedef struct {
    unsigned long seq;
    char *file;        /* base name */
    char *key;         /* "METHOD /normalized/path" */
    long status;
    char *ctype;       /* normalized; "" when none */
    char *cdisp;       /* normalized content-disposition; NULL when none */
    const char *body;  /* "JSON", "empty" or "non-JSON" (static) */
    cJSON *shape;      /* NULL unless body is JSON */
    char *sig;         /* signature for collapsing */
} dtc_ex;

struct dtc_rec {
    dtc_ex *v;
    size_t n;
};

/* ---------- shapes ---------- */

static const char *kind(const cJSON *j)
{
    if (cJSON_IsObject(j)) return "object";
    if (cJSON_IsArray(j)) return "array";
    if (cJSON_IsString(j)) return j->valuestring;   /* a shape's type set */
    return "?";
}

/* Sorts an object's members by key, recursively (shapes compare and
 * print the same whatever order the server wrote). */
static int key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
    return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

static int sort_keys(cJSON *j)
{
    size_t n = 0;
    for (cJSON *c = j->child; c; c = c->next) {
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && sort_keys(c) != 0)
            return -1;
        n++;
    }
    if (!cJSON_IsObject(j) || n < 2)
        return 0;
    cJSON **v = malloc(n * sizeof *v);
    if (!v)
        return -1;
    size_t i = 0;
    for (cJSON *c = j->child; c; c = c->next)
        v[i++] = c;
    qsort(v, n, sizeof *v, key_cmp);
    for (i = 0; i < n; i++) {
        v[i]->prev = i ? v[i - 1] : v[n - 1];   /* cJSON: head->prev = tail */
        v[i]->next = i + 1 < n ? v[i + 1] : NULL;
    }
    j->child = v[0];
    free(v);
    return 0;
}

/* "a|b" + "b|c" = "a|b|c" (sorted, unique).  malloc'd; NULL on OOM. */
static char *type_union(const char *a, const char *b)
{
    size_t cap = strlen(a) + strlen(b) + 2;
    char *tmp = malloc(cap), *out = malloc(cap);
    const char *parts[16];
    size_t n = 0;
    if (!tmp || !out) {
        free(tmp);
        free(out);
        return NULL;
    }
    snprintf(tmp, cap, "%s|%s", a, b);
    char *save = NULL;
    for (char *t = strtok_r(tmp, "|", &save); t && n < 16; t = strtok_r(NULL, "|", &save)) {
        size_t i = 0;
        while (i < n && strcmp(parts[i], t) != 0)
            i++;
        if (i == n)
            parts[n++] = t;
    }
    for (size_t i = 1; i < n; i++)           /* insertion sort: n <= 16 */
        for (size_t k = i; k > 0 && strcmp(parts[k - 1], parts[k]) > 0; k--) {
            const char *x = parts[k];
            parts[k] = parts[k - 1];
            parts[k - 1] = x;
        }
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)           /* a subset of tmp: it fits */
        off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? "|" : "", parts[i]);
    free(tmp);
    return out;
}

static cJSON *shape_of(const cJSON *j, int depth);

/* Merges shape b into shape a (a owned, returned; b borrowed).  NULL on
 * OOM (a is freed). */
static cJSON *merge(cJSON *a, const cJSON *b)
{
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        for (const cJSON *c = b->child; c; c = c->next) {
            cJSON *mine = cJSON_GetObjectItemCaseSensitive(a, c->string);
            cJSON *m = mine ? merge(cJSON_DetachItemViaPointer(a, mine), c)
                            : cJSON_Duplicate(c, 1);
            if (!m || !cJSON_AddItemToObject(a, c->string, m)) {
                cJSON_Delete(m);
                cJSON_Delete(a);
                return NULL;
            }
        }
        return a;
    }
    if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        if (!b->child)
            return a;
        if (!a->child) {
            cJSON *d = cJSON_Duplicate(b->child, 1);
            if (!d || !cJSON_AddItemToArray(a, d)) {
                cJSON_Delete(d);
                cJSON_Delete(a);
                return NULL;
            }
            return a;
        }
        cJSON *m = merge(cJSON_DetachItemViaPointer(a, a->child), b->child);
        if (!m || !cJSON_AddItemToArray(a, m)) {
            cJSON_Delete(m);
            cJSON_Delete(a);
            return NULL;
        }
        return a;
    }
    char *u = type_union(kind(a), kind(b));
    cJSON *r = u ? cJSON_CreateString(u) : NULL;
    free(u);
    cJSON_Delete(a);
    return r;
}

static cJSON *shape_of(const cJSON *j, int depth)
{
    if (depth > MAX_DEPTH)
        return cJSON_CreateString("deep");
    if (cJSON_IsObject(j)) {
        cJSON *o = cJSON_CreateObject();
        for (const cJSON *c = j->child; c && o; c = c->next) {
            cJSON *s = shape_of(c, depth + 1);
            /* A key repeated in the document: its shapes merge. */
            cJSON *old = cJSON_GetObjectItemCaseSensitive(o, c->string);
            if (s && old) {
                cJSON *m = merge(cJSON_DetachItemViaPointer(o, old), s);
                cJSON_Delete(s);
                s = m;
            }
            if (!s || !cJSON_AddItemToObject(o, c->string, s)) {
                cJSON_Delete(s);
                cJSON_Delete(o);
                o = NULL;
            }
        }
        return o;
    }
    if (cJSON_IsArray(j)) {
        cJSON *el = NULL;
        for (const cJSON *c = j->child; c; c = c->next) {
            cJSON *s = shape_of(c, depth + 1);
            if (!s) {
                cJSON_Delete(el);
                return NULL;
            }
            if (!el) {
                el = s;
            } else {
                el = merge(el, s);
                cJSON_Delete(s);
                if (!el)
                    return NULL;
            }
        }
        cJSON *a = cJSON_CreateArray();
        if (!a || (el && !cJSON_AddItemToArray(a, el))) {
            cJSON_Delete(el);
            cJSON_Delete(a);
            return NULL;
        }
        return a;
    }
    if (cJSON_IsString(j)) return cJSON_CreateString("string");
    if (cJSON_IsNumber(j)) return cJSON_CreateString("number");
    if (cJSON_IsBool(j)) return cJSON_CreateString("boolean");
    if (cJSON_IsNull(j)) return cJSON_CreateString("null");
    return cJSON_CreateString("?");
}

/* ---------- loading ---------- */

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    if (!f) {
        snprintf(err, errlen, "cannot read %s", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && n <= MAX_FIXTURE && fseek(f, 0, SEEK_SET) == 0 &&
            (data = malloc((size_t)n + 1)) != NULL) {
            if (fread(data, 1, (size_t)n, f) == (size_t)n) {
                data[n] = '\0';
            } else {
                free(data);
                data = NULL;
            }
        }
    }
    fclose(f);
    if (!data)
        snprintf(err, errlen, "cannot read %s", path);
    return data;
}

/* content-type for comparing: lowercase, no spaces, no boundary=. */
static char *norm_header(const char *v)
{
    char *out = malloc(strlen(v) + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (const char *p = v; *p;) {
        if (strncasecmp(p, "boundary=", 9) == 0) {
            while (*p && *p != ';')
                p++;
            while (j > 0 && (out[j - 1] == ';' || out[j - 1] == ' '))
                j--;
            continue;
        }
        if (*p != ' ' && *p != '\t')
            out[j++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        p++;
    }
    out[j] = '\0';
    return out;
}

static void ex_release(dtc_ex *e)
{
    free(e->file);
    free(e->key);
    free(e->ctype);
    free(e->cdisp);
    free(e->sig);
    cJSON_Delete(e->shape);
}

/* The signature a run of polls is collapsed on. */
static char *signature(const dtc_ex *e)
{
    char *shape = e->shape ? cJSON_PrintUnformatted(e->shape) : NULL;
    size_t n = strlen(e->ctype) + (e->cdisp ? strlen(e->cdisp) : 0) +
               (shape ? strlen(shape) : 0) + strlen(e->body) + 64;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%ld|%s|%s|%s|%s", e->status, e->ctype,
                 e->cdisp ? e->cdisp : "", e->body, shape ? shape : "");
    free(shape);
    return s;
}

/* Fills e from a parsed fixture; returns 0 or -1 (not a fixture/OOM). */
static int ex_from_json(dtc_ex *e, const cJSON *doc, const char *file)
{
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(doc, "seq");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(doc, "method");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(doc, "path");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(doc, "response");
    if (!cJSON_IsNumber(seq) || !cJSON_IsString(method) || !cJSON_IsString(path) ||
        !cJSON_IsNumber(status) || !cJSON_IsObject(resp))
        return -1;
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(resp, "content_type");
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(resp, "content_disposition");
    const cJSON *json = cJSON_GetObjectItemCaseSensitive(resp, "json");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(resp, "bytes");
    e->seq = (unsigned long)seq->valuedouble;
    e->status = (long)status->valuedouble;
    size_t kn = strlen(method->valuestring) + strlen(path->valuestring) + 2;
    e->key = malloc(kn);
    if (e->key)
        snprintf(e->key, kn, "%s %s", method->valuestring, path->valuestring);
    e->file = strdup(file);
    e->ctype = norm_header(cJSON_IsString(ct) ? ct->valuestring : "");
    e->cdisp = cJSON_IsString(cd) ? strdup(cd->valuestring) : NULL;
    e->body = json ? "JSON" : (cJSON_IsNumber(bytes) && bytes->valuedouble > 0)
                                  ? "non-JSON" : "empty";
    e->shape = json ? shape_of(json, 0) : NULL;
    if (!e->key || !e->file || !e->ctype || (cJSON_IsString(cd) && !e->cdisp) ||
        (json && (!e->shape || sort_keys(e->shape) != 0)))
        return -1;
    e->sig = signature(e);
    return e->sig ? 0 : -1;
}

static int load_one(dtc_rec *r, const char *dir, const char *name, char *err,
                    size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = read_file(path, err, errlen);
    if (!text)
        return -1;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (r->n % 64 == 0) {
        dtc_ex *nv = realloc(r->v, (r->n + 64) * sizeof *nv);
        if (!nv) {
            cJSON_Delete(doc);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        r->v = nv;
    }
    dtc_ex *e = &r->v[r->n];
    memset(e, 0, sizeof *e);
    int rc = doc ? ex_from_json(e, doc, name) : -1;
    cJSON_Delete(doc);
    if (rc != 0) {
        ex_release(e);
        snprintf(err, errlen, "%s is not a recorded exchange", path);
        return -1;
    }
    r->n++;
    return 0;
}

static int ex_order(const void *a, const void *b)
{
    const dtc_ex *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return strcmp(x->file, y->file);
}

int dtc_load(const char *dir, dtc_rec **out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open directory %s", dir);
        return -1;
    }
    dtc_rec *r = calloc(1, sizeof *r);
    int rc = r ? 0 : -1;
    if (!r)
        snprintf(err, errlen, "out of memory");
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        rc = load_one(r, dir, de->d_name, err, errlen);
    }
    closedir(d);
    if (rc != 0) {
        dtc_free(r);
        return -1;
    }
    if (r->n)
        qsort(r->v, r->n, sizeof *r->v, ex_order);
    *out = r;
    return 0;
}

void dtc_free(dtc_rec *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        ex_release(&r->v[i]);
    free(r->v);
    free(r);
}

size_t dtc_count(const dtc_rec *r)
{
    return r ? r->n : 0;
}

/* ---------- comparing ---------- */

/* One side after collapsing.  Writes (every method but GET) are numbered
 * by occurrence of their key over the whole recording; GETs inside the
 * stretch that follows a write (their anchor) and numbered from the end of
 * that stretch, so the settled answer after a wait pairs with the settled
 * answer, whatever number of polls came before it. */
typedef struct {
    const dtc_ex *e;
    int is_get;
    int k;              /* writes: 1-based; GETs: 1 = last of the stretch */
    long anchor;        /* view index of the write before a GET, or -1 */
    long partner;       /* index in the other view, -1 when none */
    char label[600];    /* "GET /p #-1 after POST /q #2" */
} view_item;

static int is_get(const dtc_ex *e)
{
    return strncmp(e->key, "GET ", 4) == 0;
}

static void number_view(view_item *v, size_t n)
{
    long anchor = -1;
    for (size_t i = 0; i < n; i++) {
        v[i].partner = -1;
        if (!v[i].is_get) {
            int k = 1;
            for (size_t j = 0; j < i; j++)
                if (!v[j].is_get && strcmp(v[j].e->key, v[i].e->key) == 0)
                    k++;
            v[i].k = k;
            anchor = (long)i;
            snprintf(v[i].label, sizeof v[i].label, "%.500s #%d", v[i].e->key, k);
            continue;
        }
        v[i].anchor = anchor;
        int k = 1;
        for (size_t j = i + 1; j < n && v[j].is_get; j++)
            if (strcmp(v[j].e->key, v[i].e->key) == 0)
                k++;
        v[i].k = k;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].is_get)
            snprintf(v[i].label, sizeof v[i].label, "%.300s #-%d %s%.290s",
                     v[i].e->key, v[i].k, v[i].anchor < 0 ? "at start" : "after ",
                     v[i].anchor < 0 ? "" : v[v[i].anchor].label);
}

static view_item *make_view(const dtc_rec *r, int collapse, size_t *n_out)
{
    view_item *v = calloc(r->n ? r->n : 1, sizeof *v);
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const dtc_ex *e = &r->v[i];
        /* Only reads: a poll loop is GETs; repeated writes are real. */
        if (collapse && n > 0 && is_get(e) &&
            strcmp(v[n - 1].e->key, e->key) == 0 &&
            strcmp(v[n - 1].e->sig, e->sig) == 0)
            continue;
        v[n].e = e;
        v[n].is_get = is_get(e);
        n++;
    }
    number_view(v, n);
    *n_out = n;
    return v;
}

/* Pairs writes by (key, k), then GETs by (key, k, partner of the anchor). */
static void pair_views(view_item *va, size_t na, view_item *vb, size_t nb)
{
    for (int gets = 0; gets < 2; gets++)
        for (size_t i = 0; i < na; i++) {
            if (va[i].is_get != gets)
                continue;
            long want_anchor = -1;
            if (gets && va[i].anchor >= 0) {
                want_anchor = va[va[i].anchor].partner;
                if (want_anchor < 0)
                    continue;     /* its write has no partner: nor has it */
            }
            for (size_t j = 0; j < nb; j++)
                if (vb[j].partner < 0 && vb[j].is_get == gets &&
                    vb[j].k == va[i].k && (!gets || vb[j].anchor == want_anchor) &&
                    strcmp(vb[j].e->key, va[i].e->key) == 0) {
                    va[i].partner = (long)j;
                    vb[j].partner = (long)i;
                    break;
                }
        }
}

typedef struct {
    const view_item *a, *b;
    dtc_report_fn report;
    void *ctx;
    size_t count;
    int oom;
} cmp_ctx;

static void say(cmp_ctx *c, const char *field, const char *what)
{
    const view_item *x = c->a ? c->a : c->b;
    size_t n = strlen(x->label) + strlen(field) + strlen(what) +
               (c->a ? strlen(c->a->e->file) : 1) +
               (c->b ? strlen(c->b->e->file) : 1) + 64;
    char *line = malloc(n);
    c->count++;
    if (!line) {
        c->oom = 1;
        return;
    }
    snprintf(line, n, "%s: %s: %s (%s | %s)", x->label, field, what,
             c->a ? c->a->e->file : "-", c->b ? c->b->e->file : "-");
    c->report(c->ctx, line);
    free(line);
}

static void say_fmt(cmp_ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say_fmt(cmp_ctx *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *what = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!what) {
        c->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(what, (size_t)n + 1, fmt, ap);
    va_end(ap);
    say(c, field, what);
    free(what);
}

static const char *shape_desc(const cJSON *s)
{
    return cJSON_IsString(s) ? s->valuestring : kind(s);
}

static void cmp_shape(cmp_ctx *c, const cJSON *a, const cJSON *b,
                      const char *path, int depth)
{
    if (depth > MAX_DEPTH || c->oom)
        return;
    size_t pn = strlen(path) + 256;
    char *sub = malloc(pn);
    if (!sub) {
        c->oom = 1;
        return;
    }
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            snprintf(sub, pn, "%s.%.200s", path, x->string);
            if (y)
                cmp_shape(c, x, y, sub, depth + 1);
            else
                say_fmt(c, sub, "only in A (%s)", shape_desc(x));
        }
        for (const cJSON *y = b->child; y; y = y->next)
            if (!cJSON_GetObjectItemCaseSensitive(a, y->string)) {
                snprintf(sub, pn, "%s.%.200s", path, y->string);
                say_fmt(c, sub, "only in B (%s)", shape_desc(y));
            }
    } else if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        /* An empty array says nothing about its elements. */
        if (a->child && b->child) {
            snprintf(sub, pn, "%s[]", path);
            cmp_shape(c, a->child, b->child, sub, depth + 1);
        }
    } else if (strcmp(kind(a), kind(b)) != 0) {
        say_fmt(c, path, "type %s != %s", shape_desc(a), shape_desc(b));
    }
    free(sub);
}

static void cmp_pair(cmp_ctx *c)
{
    const dtc_ex *a = c->a->e, *b = c->b->e;
    if (a->status != b->status) {
        say_fmt(c, "status", "%ld != %ld", a->status, b->status);
    }
    if (strcmp(a->ctype, b->ctype) != 0)
        say_fmt(c, "content-type", "'%s' != '%s'", a->ctype, b->ctype);
    if ((a->cdisp == NULL) != (b->cdisp == NULL) ||
        (a->cdisp && strcmp(a->cdisp, b->cdisp) != 0))
        say_fmt(c, "content-disposition", "'%s' != '%s'",
                a->cdisp ? a->cdisp : "(none)", b->cdisp ? b->cdisp : "(none)");
    if (strcmp(a->body, b->body) != 0)
        say_fmt(c, "response body", "%s != %s", a->body, b->body);
    else if (a->shape && b->shape)
        cmp_shape(c, a->shape, b->shape, "response.json", 0);
}

size_t dtc_compare(const dtc_rec *a, const dtc_rec *b, const dtc_opts *o,
                   dtc_report_fn report, void *ctx)
{
    int collapse = o ? o->collapse : 1;
    size_t na = 0, nb = 0;
    view_item *va = make_view(a, collapse, &na);
    view_item *vb = make_view(b, collapse, &nb);
    cmp_ctx c = {NULL, NULL, report, ctx, 0, 0};
    if (!va || !vb) {
        free(va);
        free(vb);
        return (size_t)-1;
    }
    pair_views(va, na, vb, nb);
    for (size_t i = 0; i < na; i++) {
        c.a = &va[i];
        c.b = va[i].partner >= 0 ? &vb[va[i].partner] : NULL;
        if (c.b)
            cmp_pair(&c);
        else
            say(&c, "exchange", "only in A");
    }
    c.a = NULL;
    for (size_t j = 0; j < nb; j++)
        if (vb[j].partner < 0) {
            c.b = &vb[j];
            say(&c, "exchange", "only in B");
        }
    free(va);
    free(vb);
    return c.oom ? (size_t)-1 : c.count;
}
