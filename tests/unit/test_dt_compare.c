/*
 * test_dt_compare.c - tools/compare (dt-compare's engine) on hand-made
 * recordings: pairing by (method, path, sequence), poll collapsing (GETs
 * only), status/header/shape differences with their exact lines, arrays
 * merged and empty arrays, key order, broken fixtures.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "compare.h"
#include "cu_run.h"

static char g_root[] = "/tmp/dtc-test-XXXXXX";
static unsigned g_dirs;

/* A fixture: method, path, status, content type, JSON body text (NULL =
 * no body). */
typedef struct {
    const char *method, *path;
    int status;
    const char *ctype, *json;
} fx;

/* Writes fixtures into a fresh directory; returns its path (static). */
static const char *mkrec(const fx *v, size_t n)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "%s/r%u", g_root, ++g_dirs);
    if (mkdir(dir, 0755) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%06zu-x.json", dir, i + 1);
        FILE *f = fopen(path, "w");
        if (!f)
            return NULL;
        fprintf(f, "{\"seq\":%zu,\"method\":\"%s\",\"path\":\"%s\",\"query\":{},"
                   "\"request\":{},\"status\":%d,\"response\":{\"content_type\":\"%s\","
                   "\"bytes\":%d%s%s}}\n", i + 1, v[i].method, v[i].path, v[i].status,
                v[i].ctype, v[i].json ? 10 : 0, v[i].json ? ",\"json\":" : "",
                v[i].json ? v[i].json : "");
        fclose(f);
    }
    return dir;
}

typedef struct {
    char lines[16][512];
    int n;
} collected;

static void collect(void *ctx, const char *line)
{
    collected *c = ctx;
    if (c->n < 16)
        snprintf(c->lines[c->n++], sizeof c->lines[0], "%s", line);
}

/* Compares two fixture sets; returns the count and fills out. */
static size_t cmp(const fx *a, size_t na, const fx *b, size_t nb, int collapse,
                  collected *out)
{
    dtc_rec *ra = NULL, *rb = NULL;
    char err[512];
    char da[256];
    snprintf(da, sizeof da, "%s", mkrec(a, na));
    const char *db = mkrec(b, nb);
    memset(out, 0, sizeof *out);
    CU_ASSERT_EQUAL_FATAL(dtc_load(da, &ra, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(dtc_load(db, &rb, err, sizeof err), 0);
    dtc_opts o = {collapse};
    size_t n = dtc_compare(ra, rb, &o, collect, out);
    dtc_free(ra);
    dtc_free(rb);
    return n;
}

/* Line i without the trailing " (files)". */
static void expect_line(const collected *c, int i, const char *want)
{
    CU_ASSERT_FATAL(i < c->n);
    char got[512];
    snprintf(got, sizeof got, "%s", c->lines[i]);
    char *paren = strrchr(got, '(');
    if (paren && paren > got)
        paren[-1] = '\0';
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  got  '%s'\n  want '%s'\n", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
}

#define JSON "application/json; charset=utf-8"

static void test_equal(void)
{
    fx a[] = {{"POST", "/api/sandbox", 200, JSON, "{\"id\":\"<id>\",\"n\":1}"},
              {"GET", "/api/sandbox/<id>", 200, JSON, "{\"n\":2,\"id\":\"x\"}"}};
    /* other values and key order: same shapes */
    fx b[] = {{"POST", "/api/sandbox", 200, "Application/JSON;charset=UTF-8",
               "{\"n\":7,\"id\":\"other\"}"},
              {"GET", "/api/sandbox/<id>", 200, JSON, "{\"id\":\"y\",\"n\":3}"}};
    collected c;
    CU_ASSERT_EQUAL(cmp(a, 2, b, 2, 1, &c), 0);
    CU_ASSERT_EQUAL(c.n, 0);
}

static void test_status_and_headers(void)
{
    fx a[] = {{"POST", "/api/sandbox/<id>/autostop/5", 201, JSON, "{}"},
              {"POST", "/toolbox/<id>/files/bulk-download", 200,
               "multipart/form-data; boundary=AAA", NULL},
              {"GET", "/toolbox/<id>/files/download", 200, "application/octet-stream", NULL}};
    fx b[] = {{"POST", "/api/sandbox/<id>/autostop/5", 200, JSON, "{}"},
              {"POST", "/toolbox/<id>/files/bulk-download", 200,
               "multipart/form-data; boundary=BBB", NULL},
              {"GET", "/toolbox/<id>/files/download", 200, "text/plain", NULL}};
    collected c;
    CU_ASSERT_EQUAL(cmp(a, 3, b, 3, 1, &c), 2);
    expect_line(&c, 0, "POST /api/sandbox/<id>/autostop/5 #1: status: 201 != 200");
    expect_line(&c, 1, "GET /toolbox/<id>/files/download #-1 after POST "
                       "/toolbox/<id>/files/bulk-download #1: content-type: "
                       "'application/octet-stream' != 'text/plain'");
}

static void test_shapes(void)
{
    fx a[] = {{"GET", "/api/sandbox", 200, JSON,
               "{\"items\":[{\"e\":null,\"k\":1},{\"e\":\"x\",\"k\":2}],\"next\":null,"
               "\"gone\":{\"a\":1}}"}};
    fx b[] = {{"GET", "/api/sandbox", 200, JSON,
               "{\"items\":[{\"e\":\"y\",\"k\":\"3\"}],\"next\":null,\"new\":[]}"}};
    collected c;
    CU_ASSERT_EQUAL(cmp(a, 1, b, 1, 1, &c), 4);
    expect_line(&c, 0, "GET /api/sandbox #-1 at start: response.json.gone: only in A (object)");
    expect_line(&c, 1, "GET /api/sandbox #-1 at start: response.json.items[].e: "
                       "type null|string != string");
    expect_line(&c, 2, "GET /api/sandbox #-1 at start: response.json.items[].k: "
                       "type number != string");
    expect_line(&c, 3, "GET /api/sandbox #-1 at start: response.json.new: only in B (array)");
}

/* An empty array says nothing about its elements; JSON vs no body does. */
static void test_empty_and_body_kind(void)
{
    fx a[] = {{"GET", "/toolbox/<id>/files", 200, JSON, "[]"},
              {"POST", "/toolbox/<id>/process/session", 201, "", NULL}};
    fx b[] = {{"GET", "/toolbox/<id>/files", 200, JSON, "[{\"name\":\"a\"}]"},
              {"POST", "/toolbox/<id>/process/session", 201, JSON, "{}"}};
    collected c;
    CU_ASSERT_EQUAL(cmp(a, 2, b, 2, 1, &c), 2);
    expect_line(&c, 0, "POST /toolbox/<id>/process/session #1: content-type: '' != "
                       "'application/json;charset=utf-8'");
    expect_line(&c, 1, "POST /toolbox/<id>/process/session #1: response body: empty != JSON");
}

/* A poll loop that ran more often is no difference; repeated writes are. */
static void test_collapse(void)
{
    fx a[] = {{"DELETE", "/api/sandbox/<id>", 200, JSON, "{\"s\":\"x\"}"},
              {"GET", "/api/sandbox/<id>", 200, JSON, "{\"s\":\"destroying\"}"},
              {"GET", "/api/sandbox/<id>", 200, JSON, "{\"s\":\"destroying\"}"},
              {"GET", "/api/sandbox/<id>", 200, JSON, "{\"s\":\"destroying\"}"},
              {"GET", "/api/sandbox/<id>", 404, JSON, "{\"m\":\"gone\"}"},
              {"POST", "/toolbox/<id>/process/execute", 200, JSON, "{}"},
              {"POST", "/toolbox/<id>/process/execute", 200, JSON, "{}"}};
    fx b[] = {{"DELETE", "/api/sandbox/<id>", 200, JSON, "{\"s\":\"x\"}"},
              {"GET", "/api/sandbox/<id>", 200, JSON, "{\"s\":\"destroying\"}"},
              {"GET", "/api/sandbox/<id>", 404, JSON, "{\"m\":\"gone\"}"},
              {"POST", "/toolbox/<id>/process/execute", 200, JSON, "{}"}};
    collected c;
    CU_ASSERT_EQUAL(cmp(a, 7, b, 4, 1, &c), 1);
    expect_line(&c, 0, "POST /toolbox/<id>/process/execute #2: exchange: only in A");
    /* Without collapsing every poll counts; GETs pair from the end of
     * their stretch, so the settled 404s still pair and the extra polls
     * are the ones reported. */
    CU_ASSERT_EQUAL(cmp(a, 7, b, 4, 0, &c), 3);
    expect_line(&c, 0, "GET /api/sandbox/<id> #-4 after DELETE /api/sandbox/<id> #1: "
                       "exchange: only in A");
    expect_line(&c, 1, "GET /api/sandbox/<id> #-3 after DELETE /api/sandbox/<id> #1: "
                       "exchange: only in A");
    expect_line(&c, 2, "POST /toolbox/<id>/process/execute #2: exchange: only in A");
}

static void test_only_in_b_and_errors(void)
{
    fx a[] = {{"GET", "/a", 200, JSON, "{}"}};
    fx b[] = {{"GET", "/a", 200, JSON, "{}"}, {"GET", "/b", 200, JSON, "{}"}};
    collected c;
    CU_ASSERT_EQUAL(cmp(a, 1, b, 2, 1, &c), 1);
    expect_line(&c, 0, "GET /b #-1 at start: exchange: only in B");

    dtc_rec *r = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL(dtc_load("/nonexistent/dir", &r, err, sizeof err), -1);
    CU_ASSERT(strstr(err, "cannot open") != NULL);
    const char *d = mkrec(a, 1);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/000002-bad.json", d);
    FILE *f = fopen(bad, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("{\"seq\":2,\"method\":\"GET\"}", f);
    fclose(f);
    CU_ASSERT_EQUAL(dtc_load(d, &r, err, sizeof err), -1);
    CU_ASSERT(strstr(err, "not a recorded exchange") != NULL);
    CU_ASSERT_PTR_NULL(r);
}

/* GETs pair only when the writes before them do: one extra write on a
 * side does not shift the pairing of everything after it. */
static void test_anchors(void)
{
    fx a[] = {{"POST", "/api/sandbox", 200, JSON, "{}"},
              {"POST", "/x", 200, JSON, "{}"},
              {"GET", "/y", 200, JSON, "{\"v\":1}"},
              {"POST", "/z", 200, JSON, "{}"},
              {"GET", "/y", 200, JSON, "{\"v\":1}"}};
    fx b[] = {{"POST", "/api/sandbox", 200, JSON, "{}"},
              {"GET", "/y", 200, JSON, "{\"v\":\"s\"}"},
              {"POST", "/z", 200, JSON, "{}"},
              {"GET", "/y", 200, JSON, "{\"v\":2}"}};
    collected c;
    CU_ASSERT_EQUAL(cmp(a, 5, b, 4, 1, &c), 3);
    expect_line(&c, 0, "POST /x #1: exchange: only in A");
    expect_line(&c, 1, "GET /y #-1 after POST /x #1: exchange: only in A");
    expect_line(&c, 2, "GET /y #-1 after POST /api/sandbox #1: exchange: only in B");
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void)
{
    return mkdtemp(g_root) ? 0 : -1;
}

static int teardown(void)
{
    nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("dt-compare", setup, teardown);
    CU_add_test(s, "equal recordings", test_equal);
    CU_add_test(s, "status and headers", test_status_and_headers);
    CU_add_test(s, "JSON shapes", test_shapes);
    CU_add_test(s, "empty arrays, body kinds", test_empty_and_body_kind);
    CU_add_test(s, "poll collapsing", test_collapse);
    CU_add_test(s, "only in B, broken recordings", test_only_in_b_and_errors);
    CU_add_test(s, "GETs pair after paired writes", test_anchors);
    return cu_run_and_cleanup();
}
