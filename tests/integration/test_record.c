/*
 * test_record.c - record mode (daytona-emu --upstream URL --record DIR)
 * with a second daytona-emu as the upstream: requests are forwarded and
 * answers relayed (status, body, headers; toolboxProxyUrl rewritten so the
 * toolbox goes through the recorder too; bodies over the 1 MiB API cap
 * both ways), the admin API stays local, WebSocket upgrades get 501, a
 * dead upstream 502; fixtures are normalized and hold no secret (the key,
 * the organization header, a query auth key, a token echoed by a command);
 * numbering continues across restarts; bad flags refuse to start.
 *
 * Expected behaviour: docs/CONTRACT.md (record mode), emulator/record.h.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>

#include "cu_run.h"
#include "emu_harness.h"

#define KEY "dtn_recordtestkey0123456789abcdef"
#define ORG "org-header-secret-4242"

static emu_proc g_up, g_rec;
static char g_dir[] = "/tmp/rec-test-XXXXXX";
static char g_sid[64];           /* a sandbox made through the recorder */

static const char *const g_hdrs[] = {"X-Daytona-Organization-ID: " ORG, NULL};

static http_resp rec_do(const char *method, const char *path, const char *body)
{
    return http_do(&g_rec, method, path, KEY, g_hdrs, body, -1);
}

/* Concatenation of every fixture file (malloc'd), and their count. */
static char *all_fixtures(int *count)
{
    size_t cap = 1 << 20, len = 0;
    char *all = calloc(1, cap);
    DIR *d = opendir(g_dir);
    struct dirent *e;
    *count = 0;
    while (all && d && (e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".json"))
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t n;
        char chunk[4096];
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
            if (len + n + 1 > cap) {
                char *na = realloc(all, cap * 2);
                if (!na)
                    break;
                all = na;
                cap *= 2;
            }
            memcpy(all + len, chunk, n);
            len += n;
            all[len] = '\0';
        }
        fclose(f);
        (*count)++;
    }
    if (d)
        closedir(d);
    return all;
}

/* The newest fixture (highest number) parsed, or NULL. */
static cJSON *last_fixture(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char best[300] = "";
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".json") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    if (d)
        closedir(d);
    if (!best[0])
        return NULL;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", g_dir, best);
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return cJSON_Parse(text);
}

static const char *jpath_str(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* ---------- tests ---------- */

static void test_control_plane(void)
{
    http_resp r = rec_do("POST", "/api/sandbox",
                         "{\"labels\":{\"t\":\"rec\"},\"env\":{\"E\":\"1\"}}");
    CU_ASSERT_EQUAL_FATAL(r.status, 200);
    snprintf(g_sid, sizeof g_sid, "%s", resp_str(&r, "id"));
    /* toolboxProxyUrl points at the recorder */
    char want[128];
    snprintf(want, sizeof want, "%s/toolbox", g_rec.base);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "toolboxProxyUrl"), want);
    /* the upstream's version header, once */
    const char *v = strstr(r.headers, "X-Daytona-Api-Version");
    CU_ASSERT(v && !strstr(v + 1, "X-Daytona-Api-Version"));
    http_resp_free(&r);

    cJSON *fx = last_fixture();
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
    CU_ASSERT_STRING_EQUAL(jpath_str(fx, "method", NULL), "POST");
    CU_ASSERT_STRING_EQUAL(jpath_str(fx, "path", NULL), "/api/sandbox");
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(fx, "status")->valueint, 200);
    const cJSON *resp = cJSON_GetObjectItem(fx, "response");
    CU_ASSERT_STRING_EQUAL(jpath_str(resp, "json", "id"), "<id>");
    CU_ASSERT_STRING_EQUAL(jpath_str(resp, "json", "createdAt"), "<time>");
    CU_ASSERT_STRING_EQUAL(jpath_str(resp, "json", "toolboxProxyUrl"),
                           "<upstream>/toolbox");
    CU_ASSERT_STRING_EQUAL(jpath_str(resp, "content_type", NULL),
                           "application/json; charset=utf-8");
    const cJSON *req = cJSON_GetObjectItem(fx, "request");
    CU_ASSERT_STRING_EQUAL(jpath_str(cJSON_GetObjectItem(req, "json"), "labels", "t"),
                           "rec");
    cJSON_Delete(fx);

    /* An error is relayed as it is, and recorded with the id normalized. */
    char path[200];
    snprintf(path, sizeof path, "/api/sandbox/%s/stop?force=false", g_sid);
    r = rec_do("POST", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = rec_do("POST", path, NULL);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "message"), "Sandbox is not in a stoppable state");
    http_resp_free(&r);
    fx = last_fixture();
    CU_ASSERT_STRING_EQUAL(jpath_str(fx, "path", NULL), "/api/sandbox/<id>/stop");
    CU_ASSERT_STRING_EQUAL(jpath_str(cJSON_GetObjectItem(fx, "query"), "force", NULL),
                           "false");
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(fx, "status")->valueint, 400);
    cJSON_Delete(fx);
    snprintf(path, sizeof path, "/api/sandbox/%s/start", g_sid);
    r = rec_do("POST", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
}

static void test_toolbox_through_recorder(void)
{
    CU_ASSERT_FATAL(g_sid[0] != '\0');
    char path[300];
    /* /toolbox-proxy-url is rewritten too */
    snprintf(path, sizeof path, "/api/sandbox/%s/toolbox-proxy-url", g_sid);
    http_resp r = rec_do("GET", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    char want[128];
    snprintf(want, sizeof want, "%s/toolbox", g_rec.base);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "url"), want);
    http_resp_free(&r);

    /* A command that prints the key: relayed as is, redacted on disk. */
    snprintf(path, sizeof path, "/toolbox/%s/process/execute", g_sid);
    r = rec_do("POST", path, "{\"command\":\"echo $K\",\"envs\":{\"K\":\"" KEY "\"}}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "result"), KEY "\n");
    http_resp_free(&r);
    cJSON *fx = last_fixture();
    CU_ASSERT_STRING_EQUAL(jpath_str(fx, "path", NULL), "/toolbox/<id>/process/execute");
    const cJSON *j = cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "response"), "json");
    CU_ASSERT_STRING_EQUAL(jpath_str(j, "result", NULL), "<redacted>\n");
    cJSON_Delete(fx);

    /* A query-string auth key. */
    snprintf(path, sizeof path, "/toolbox/%s/files?path=.&DAYTONA_SANDBOX_AUTH_KEY="
             "querysecret987", g_sid);
    r = rec_do("GET", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(cJSON_IsArray(r.json));
    http_resp_free(&r);
    fx = last_fixture();
    CU_ASSERT_STRING_EQUAL(jpath_str(cJSON_GetObjectItem(fx, "query"),
                                     "DAYTONA_SANDBOX_AUTH_KEY", NULL), "<redacted>");
    cJSON_Delete(fx);
}

/* 2 MiB up (multipart, past the 1 MiB API body cap) and down again. */
static void test_big_bodies(void)
{
    CU_ASSERT_FATAL(g_sid[0] != '\0');
    size_t n = 2u << 20;
    char *data = malloc(n);
    char *body = malloc(n + 1024);
    CU_ASSERT_FATAL(data && body);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    int hl = snprintf(body, 1024,
                      "--BND\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n"
                      "big.bin\r\n--BND\r\nContent-Disposition: form-data; "
                      "name=\"files[0].file\"; filename=\"big.bin\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n");
    memcpy(body + hl, data, n);
    int tl = snprintf(body + hl + n, 64, "\r\n--BND--\r\n");
    char path[300];
    snprintf(path, sizeof path, "/toolbox/%s/files/bulk-upload", g_sid);
    const char *h[] = {"Content-Type: multipart/form-data; boundary=BND", NULL};
    http_resp r = http_do(&g_rec, "POST", path, KEY, h, body, hl + (long)n + tl);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    snprintf(path, sizeof path, "/toolbox/%s/files/download?path=big.bin", g_sid);
    r = rec_do("GET", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.body_len, n);
    CU_ASSERT(r.body_len == n && memcmp(r.body, data, n) == 0);
    char cd[200];
    CU_ASSERT_EQUAL(resp_header(&r, "Content-Disposition", cd, sizeof cd), 0);
    CU_ASSERT(strstr(cd, "big.bin") != NULL);
    http_resp_free(&r);
    cJSON *fx = last_fixture();
    const cJSON *resp = cJSON_GetObjectItem(fx, "response");
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(resp, "bytes")->valuedouble, (double)n);
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(resp, "json"));
    CU_ASSERT(jpath_str(resp, "content_disposition", NULL) != NULL);
    cJSON_Delete(fx);
    free(data);
    free(body);
}

static void test_local_and_refused(void)
{
    int before = 0, after = 0;
    free(all_fixtures(&before));
    http_resp r = http_do(&g_rec, "GET", "/_emulator/health", NULL, NULL, NULL, -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = http_do(&g_rec, "GET", "/_emulator/nope", NULL, NULL, NULL, -1);
    CU_ASSERT_EQUAL(r.status, 404);
    http_resp_free(&r);
    const char *ws[] = {"Upgrade: websocket", "Connection: Upgrade",
                        "Sec-WebSocket-Version: 13",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", NULL};
    char path[300];
    snprintf(path, sizeof path, "/toolbox/%s/process/interpreter/execute", g_sid);
    r = http_do(&g_rec, "GET", path, KEY, ws, NULL, -1);
    CU_ASSERT_EQUAL(r.status, 501);
    CU_ASSERT(r.body && strstr(r.body, "WebSocket") != NULL);
    http_resp_free(&r);
    free(all_fixtures(&after));
    CU_ASSERT_EQUAL(after, before);   /* none of these was recorded */
}

static void test_no_secret_on_disk(void)
{
    int n = 0;
    char *all = all_fixtures(&n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    CU_ASSERT(n >= 8);
    CU_ASSERT_PTR_NULL(strstr(all, KEY));
    CU_ASSERT_PTR_NULL(strstr(all, ORG));
    CU_ASSERT_PTR_NULL(strstr(all, "querysecret987"));
    CU_ASSERT_PTR_NULL(strcasestr(all, "bearer"));
    CU_ASSERT_PTR_NULL(strstr(all, g_sid));
    free(all);
}

/* A restarted recorder numbers on after the highest fixture. */
static void test_numbering_continues(void)
{
    int n = 0;
    free(all_fixtures(&n));
    emu_stop(&g_rec);
    char up[64];
    snprintf(up, sizeof up, "%s/api/", g_up.base);   /* "/api/" is dropped */
    const char *args[] = {"--upstream", up, "--record", g_dir, NULL};
    CU_ASSERT_EQUAL_FATAL(emu_start(&g_rec, ":memory:", args), 0);
    http_resp r = rec_do("GET", "/api/sandbox", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    cJSON *fx = last_fixture();
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(fx, "seq")->valueint, n + 1);
    CU_ASSERT_STRING_EQUAL(jpath_str(fx, "path", NULL), "/api/sandbox");
    cJSON_Delete(fx);
}

static void test_dead_upstream_and_flags(void)
{
    emu_proc e;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/dead", g_dir);
    const char *args[] = {"--upstream", "http://127.0.0.1:1", "--record", dir, NULL};
    CU_ASSERT_EQUAL_FATAL(emu_start(&e, ":memory:", args), 0);
    http_resp r = http_do(&e, "GET", "/api/sandbox", KEY, NULL, NULL, -1);
    CU_ASSERT_EQUAL(r.status, 502);
    CU_ASSERT(r.body && strstr(r.body, "upstream request failed") != NULL);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);

    /* --upstream alone, or a URL that is not http(s): no start. */
    const char *alone[] = {"--upstream", "http://127.0.0.1:1", NULL};
    CU_ASSERT_EQUAL(emu_start(&e, ":memory:", alone), -1);
    const char *ftp[] = {"--upstream", "ftp://x", "--record", dir, NULL};
    CU_ASSERT_EQUAL(emu_start(&e, ":memory:", ftp), -1);
}

/* Exit status 0 after SIGTERM: under ASan or a valgrind wrapper a leak
 * or an invalid access in the recorder makes it non-zero. */
static void test_recorder_exits_cleanly(void)
{
    CU_ASSERT_EQUAL(emu_stop(&g_rec), 0);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int suite_init(void)
{
    if (!mkdtemp(g_dir))
        return -1;
    const char *up_args[] = {"--api-key", KEY, NULL};
    if (emu_start(&g_up, ":memory:", up_args) != 0)
        return -1;
    /* REC_EMU_BIN: another binary for the recorders only (e.g. a valgrind
     * wrapper; valgrind lacks openat2, which the upstream's files need). */
    const char *rb = getenv("REC_EMU_BIN");
    if (rb && *rb)
        setenv("EMU_BIN", rb, 1);
    char up[64];
    snprintf(up, sizeof up, "%s", g_up.base);
    const char *args[] = {"--upstream", up, "--record", g_dir, NULL};
    return emu_start(&g_rec, ":memory:", args);
}

static int suite_cleanup(void)
{
    emu_stop(&g_rec);
    emu_stop(&g_up);
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("record mode", suite_init, suite_cleanup);
    CU_add_test(s, "control plane forwarded, recorded, normalized", test_control_plane);
    CU_add_test(s, "toolbox through the rewritten URL", test_toolbox_through_recorder);
    CU_add_test(s, "bodies over 1 MiB both ways", test_big_bodies);
    CU_add_test(s, "admin API local, WebSocket 501", test_local_and_refused);
    CU_add_test(s, "no secret on disk", test_no_secret_on_disk);
    CU_add_test(s, "numbering continues after a restart", test_numbering_continues);
    CU_add_test(s, "dead upstream 502, bad flags", test_dead_upstream_and_flags);
    CU_add_test(s, "the recorder exits cleanly", test_recorder_exits_cleanly);
    return cu_run_and_cleanup();
}
