/*
 * test_client_files.c - libdaytona's file system API (daytona.h "Files")
 * against the real daytona-emu: list, info, mkdir, delete, move,
 * permissions, find, search, replace, uploads (buffer, local file, a pipe,
 * bulk), downloads (buffer, local file, bulk with per-item errors), and
 * the error paths (404 with the daemon's message, 400, 409, 401, a sandbox
 * that is not started, local files that are missing or unwritable, paths
 * that try to leave the sandbox).
 *
 * Content is always checked byte for byte: through the files API itself
 * and, independently, from inside the sandbox with the raw toolbox call
 * POST /toolbox/<id>/process/execute (wc, sha256sum, cat, stat), so a
 * client bug cannot be hidden by the same bug on the way back.
 *
 * Expected behaviour: shared/reference/toolbox.md §6 and the emulator's
 * docs/EMULATOR.md "Toolbox" table.  One emulator per program (with
 * --api-key, so another key gets 401) and one sandbox; each test works
 * under its own directory.
 *
 * A second suite, "daemon shapes", talks to a scripted one-connection-at-
 * a-time HTTP server standing in for Daytona's daemon v0.190 where the
 * emulator is deliberately nicer: empty-bodied 404/403/409/400 answers
 * (toolbox.md §2.2), bulk-upload's {"errors":[...],"files":null}, a bulk
 * download cut off mid-part.  It also records each request, so the exact
 * request shapes of the SDK (paths, query names and order, JSON bodies,
 * Accept header, multipart Content-Type) are asserted byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>

#include "codec.h"
#include "cu_run.h"
#include "daytona/daytona.h"
#include "client_harness.h"
#include "emu_harness.h"
#include "internal.h"

#define KEY "files-client-key"
#define H "/home/daytona"
#define BIG (16u * 1024 * 1024)

static emu_proc g_emu;
static char g_api[128];
static dt_client *g_c;
static dt_sandbox *g_sb;
static char g_local[256];    /* a scratch directory on this machine */
static char g_uid[32];       /* `id -u` inside the sandbox */

/* ---------- helpers ---------- */

/* Runs a shell command in the sandbox over the raw toolbox API (not the
 * library's dt_exec).  Returns the output (static, overwritten by the next
 * call) and the exit code in *code. */
static const char *sh(const char *cmd, int *code)
{
    static char out[65536];
    char path[128];
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "command", cmd);
    char *text = cJSON_PrintUnformatted(b);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    snprintf(path, sizeof path, "/toolbox/%s/process/execute",
             dt_sandbox_id(g_sb));
    http_resp r = http_do(&g_emu, "POST", path, KEY, hdr, text, -1);
    const char *res = resp_str(&r, "result");
    snprintf(out, sizeof out, "%s", res ? res : "");
    if (code)
        *code = r.status == 200 ? (int)resp_num(&r, "exitCode", -99) : -100;
    if (r.status != 200)
        fprintf(stderr, "\n  execute %s: %ld %s\n", cmd, r.status, r.body);
    http_resp_free(&r);
    cJSON_free(text);
    cJSON_Delete(b);
    return out;
}

/* Output of cmd with trailing newlines removed; the exit code must be 0. */
static const char *sh_ok_at(const char *cmd, unsigned line)
{
    int code = 0;
    const char *o = sh(cmd, &code);
    static char trimmed[65536];
    snprintf(trimmed, sizeof trimmed, "%s", o);
    size_t n = strlen(trimmed);
    while (n && trimmed[n - 1] == '\n')
        trimmed[--n] = '\0';
    if (code != 0)
        fprintf(stderr, "\n  line %u: `%s` exited %d: %s\n", line, cmd, code, o);
    CU_assertImplementation(code == 0 ? CU_TRUE : CU_FALSE, line,
                            "sandbox command succeeded", __FILE__, "", CU_FALSE);
    return trimmed;
}
#define SH(cmd) sh_ok_at((cmd), __LINE__)

static void ok_at(dt_code rc, const dt_error *e, unsigned line)
{
    if (rc != DT_OK)
        fprintf(stderr, "\n  line %u: %s (%ld) %s\n", line, dt_strerror(rc),
                e->status, e->message);
    CU_assertImplementation(rc == DT_OK ? CU_TRUE : CU_FALSE, line,
                            "call succeeded", __FILE__, "", CU_FALSE);
}
#define OK(call) do { dt_error e_; memset(&e_, 0, sizeof e_); \
                      ok_at((call), &e_, __LINE__); } while (0)
/* The same, passing &e_ as the call's err: write the call with `ERR`. */
#define ERR (&e_)

static const char *lpath(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_local, name);
    return p[k];
}

static void write_local(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    CU_ASSERT_EQUAL(fclose(f), 0);
}

static char *read_local(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)size + 1);
    *n = d ? fread(d, 1, (size_t)size, f) : 0;
    if (d)
        d[*n] = '\0';
    fclose(f);
    return d;
}

static int local_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Files in the scratch directory whose name starts with prefix. */
static int local_count(const char *prefix)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c '^%s' || true", g_local,
             prefix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void sha_hex(const void *d, size_t n, char out[65])
{
    uint8_t dg[SHA256_DIGEST_LEN];
    sha256(d, n, dg);
    hex_encode(dg, sizeof dg, out);
}

/* Every byte value, in a pattern that is not periodic in 256. */
static char *pattern(size_t n, unsigned seed)
{
    char *d = malloc(n + 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; d && i < n; i++) {
        x = x * 1664525u + 1013904223u;
        d[i] = (char)(x >> 24);
    }
    return d;
}

static dt_client *mk_client(const char *key, size_t max_response)
{
    dt_config cfg;
    ch_config(&cfg, g_api, key);
    cfg.max_response_bytes = max_response;
    return ch_client(&cfg);
}

/* A second handle on the same sandbox through another client. */
static dt_sandbox *handle_for(dt_client *c)
{
    dt_sandbox *sb = NULL;
    cJSON *j = cJSON_Parse(dt_sandbox_json(g_sb));
    if (dt__sandbox_from_json(c, j, &sb, NULL) != DT_OK)
        return NULL;
    return sb;
}

/* ---------- buffers ---------- */

static void test_upload_download_buffer(void)
{
    size_t n = 300000;
    char *data = pattern(n, 1), hex[65];
    void *got = NULL;
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    /* Parents are created. */
    OK(dt_fs_upload(g_sb, H "/buf/deep/er/a.bin", data, n, ERR));
    OK(dt_fs_download(g_sb, H "/buf/deep/er/a.bin", &got, &len, ERR));
    CU_ASSERT_EQUAL_FATAL(len, n);
    CU_ASSERT_EQUAL(memcmp(got, data, n), 0);
    CU_ASSERT_EQUAL(((char *)got)[n], '\0');
    free(got);
    /* The sandbox itself sees the same bytes. */
    sha_hex(data, n, hex);
    CU_ASSERT_STRING_EQUAL(SH("sha256sum " H "/buf/deep/er/a.bin | cut -c1-64"),
                           hex);
    /* Overwriting with something shorter leaves exactly the new bytes. */
    OK(dt_fs_upload(g_sb, H "/buf/deep/er/a.bin", "short", 5, ERR));
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/buf/deep/er/a.bin"), "short");
    /* Empty file: a non-NULL, empty, NUL-terminated buffer. */
    OK(dt_fs_upload(g_sb, H "/buf/empty", NULL, 0, ERR));
    got = NULL;
    len = 99;
    OK(dt_fs_download(g_sb, H "/buf/empty", &got, &len, ERR));
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_PTR_NOT_NULL(got);
    CU_ASSERT_STRING_EQUAL(SH("wc -c < " H "/buf/empty"), "0");
    free(got);
    /* Relative paths are the working directory's. */
    OK(dt_fs_upload(g_sb, "buf/rel.txt", "relative", 8, ERR));
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/buf/rel.txt"), "relative");
    /* Names with quotes, backslashes, spaces and UTF-8 travel intact (the
     * emulator refuses control characters in paths). */
    static const char odd[] = H "/buf/we\"ird na\\me caf\xc3\xa9.txt";
    OK(dt_fs_upload(g_sb, odd, "odd", 3, ERR));
    OK(dt_fs_download(g_sb, odd, &got, &len, ERR));
    CU_ASSERT_TRUE(len == 3 && memcmp(got, "odd", 3) == 0);
    free(got);
    CU_ASSERT_STRING_EQUAL(SH("cat '" H "/buf/we\"ird na\\me caf\xc3\xa9.txt'"),
                           "odd");
    /* Control characters in the path: the daemon's 400 with its message. */
    dt_error e;
    CHECK_ERR(dt_fs_upload(g_sb, H "/buf/new\nline", "x", 1, &e), e,
              DT_EBADREQUEST, 400, "/buf/new\nline");
    free(data);
}

/* ---------- list and info ---------- */

static void test_list_and_info(void)
{
    dt_file_info *l = NULL;
    size_t n = 0;
    OK(dt_fs_mkdir(g_sb, H "/ls/sub", "700", ERR));
    OK(dt_fs_upload(g_sb, H "/ls/b.txt", "12345", 5, ERR));
    OK(dt_fs_upload(g_sb, H "/ls/a.txt", "", 0, ERR));
    OK(dt_fs_list(g_sb, H "/ls", &l, &n, ERR));
    CU_ASSERT_EQUAL_FATAL(n, 3);
    /* Sorted by name, as the daemon does. */
    CU_ASSERT_STRING_EQUAL(l[0].name, "a.txt");
    CU_ASSERT_STRING_EQUAL(l[1].name, "b.txt");
    CU_ASSERT_STRING_EQUAL(l[2].name, "sub");
    CU_ASSERT_EQUAL(l[1].size, 5);
    CU_ASSERT_FALSE(l[1].is_dir);
    CU_ASSERT_STRING_EQUAL(l[1].mode, "-rw-r--r--");
    CU_ASSERT_STRING_EQUAL(l[1].permissions, "0644");
    CU_ASSERT_STRING_EQUAL(l[1].owner, g_uid);
    CU_ASSERT_TRUE(l[1].mod_time && strlen(l[1].mod_time) >= 20);
    CU_ASSERT_TRUE(l[2].is_dir);
    CU_ASSERT_STRING_EQUAL(l[2].mode, "drwx------");
    CU_ASSERT_STRING_EQUAL(l[2].permissions, "0700");
    CU_ASSERT_STRING_EQUAL(l[2].path ? l[2].path : "", H "/ls/sub");
    dt_file_info_list_free(l, n);
    /* An empty directory: a valid, empty list. */
    l = NULL;
    n = 99;
    OK(dt_fs_list(g_sb, H "/ls/sub", &l, &n, ERR));
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NOT_NULL(l);
    dt_file_info_list_free(l, n);

    dt_file_info fi;
    OK(dt_fs_info(g_sb, H "/ls/b.txt", &fi, ERR));
    CU_ASSERT_STRING_EQUAL(fi.name, "b.txt");
    CU_ASSERT_EQUAL(fi.size, 5);
    CU_ASSERT_FALSE(fi.is_dir);
    CU_ASSERT_STRING_EQUAL(fi.group, SH("id -g"));
    dt_file_info_release(&fi);
    OK(dt_fs_info(g_sb, H "/ls", &fi, ERR));
    CU_ASSERT_TRUE(fi.is_dir);
    CU_ASSERT_STRING_EQUAL(fi.name, "ls");
    dt_file_info_release(&fi);

    dt_error e;
    dt_file_info *untouched = (dt_file_info *)0x1;
    size_t un = 77;
    CHECK_ERR(dt_fs_list(g_sb, H "/ls/none", &untouched, &un, &e),
              e, DT_ENOTFOUND, 404, "file not found: " H "/ls/none");
    CU_ASSERT_PTR_EQUAL(untouched, (dt_file_info *)0x1);
    CU_ASSERT_EQUAL(un, 77);
    CHECK_ERR(dt_fs_list(g_sb, H "/ls/b.txt", &untouched, &un, &e), e,
              DT_EBADREQUEST, 400, "");
    CHECK_ERR(dt_fs_info(g_sb, H "/ls/nope", &fi, &e), e, DT_ENOTFOUND, 404,
              "file not found: " H "/ls/nope");
    CHECK_ERR(dt_fs_info(g_sb, NULL, &fi, &e), e, DT_EINVAL, 0, "path");
    CHECK_ERR(dt_fs_info(NULL, "/x", &fi, &e), e, DT_EINVAL, 0, "sandbox");
}

/* ---------- mkdir, delete, move, permissions ---------- */

static void test_mkdir_delete(void)
{
    dt_error e;
    OK(dt_fs_mkdir(g_sb, H "/mk/a/b/c", NULL, ERR));   /* mkdir -p, 755 */
    CU_ASSERT_STRING_EQUAL(SH("stat -c %a " H "/mk/a/b/c"), "755");
    OK(dt_fs_mkdir(g_sb, H "/mk/a/b/c", "755", ERR));  /* exists: fine */
    OK(dt_fs_mkdir(g_sb, H "/mk/m", "0711", ERR));
    CU_ASSERT_STRING_EQUAL(SH("stat -c %a " H "/mk/m"), "711");
    CHECK_ERR(dt_fs_mkdir(g_sb, H "/mk/bad", "9z", &e), e, DT_EBADREQUEST,
              400, "invalid mode");
    OK(dt_fs_upload(g_sb, H "/mk/file", "x", 1, ERR));
    CHECK_ERR(dt_fs_mkdir(g_sb, H "/mk/file", NULL, &e), e, DT_EBADREQUEST,
              400, "");

    OK(dt_fs_delete(g_sb, H "/mk/file", 0, ERR));
    CU_ASSERT_STRING_EQUAL(SH("test -e " H "/mk/file && echo yes || echo no"),
                           "no");
    CHECK_ERR(dt_fs_delete(g_sb, H "/mk/a", 0, &e), e, DT_EBADREQUEST, 400,
              "recursive");
    OK(dt_fs_delete(g_sb, H "/mk/a", 1, ERR));
    CU_ASSERT_STRING_EQUAL(SH("test -e " H "/mk/a && echo yes || echo no"),
                           "no");
    CHECK_ERR(dt_fs_delete(g_sb, H "/mk/a", 1, &e), e, DT_ENOTFOUND, 404,
              "file not found: " H "/mk/a");
}

static void test_move(void)
{
    dt_error e;
    void *got = NULL;
    size_t len = 0;
    OK(dt_fs_upload(g_sb, H "/mv/src.txt", "moving", 6, ERR));
    OK(dt_fs_upload(g_sb, H "/mv/taken.txt", "taken", 5, ERR));
    OK(dt_fs_move(g_sb, H "/mv/src.txt", H "/mv/dst.txt", ERR));
    OK(dt_fs_download(g_sb, H "/mv/dst.txt", &got, &len, ERR));
    CU_ASSERT_TRUE(len == 6 && memcmp(got, "moving", 6) == 0);
    free(got);
    CHECK_ERR(dt_fs_info(g_sb, H "/mv/src.txt", &(dt_file_info){0}, &e), e,
              DT_ENOTFOUND, 404, "src.txt");
    /* The destination exists: 409, nothing replaced. */
    CHECK_ERR(dt_fs_move(g_sb, H "/mv/dst.txt", H "/mv/taken.txt", &e), e,
              DT_ECONFLICT, 409, H "/mv/taken.txt");
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/mv/taken.txt"), "taken");
    CHECK_ERR(dt_fs_move(g_sb, H "/mv/none", H "/mv/x", &e), e, DT_ENOTFOUND,
              404, "file not found: " H "/mv/none");
    /* A directory moves with its contents. */
    OK(dt_fs_upload(g_sb, H "/mv/d1/in.txt", "in", 2, ERR));
    OK(dt_fs_move(g_sb, H "/mv/d1", H "/mv/d2", ERR));
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/mv/d2/in.txt"), "in");
    CHECK_ERR(dt_fs_move(g_sb, NULL, "x", &e), e, DT_EINVAL, 0, "source");
}

static void test_permissions(void)
{
    dt_error e;
    dt_file_info fi;
    OK(dt_fs_upload(g_sb, H "/perm/f.sh", "#!/bin/sh\necho ran\n", 19, ERR));
    OK(dt_fs_set_permissions(g_sb, H "/perm/f.sh", "755", NULL, NULL, ERR));
    CU_ASSERT_STRING_EQUAL(SH(H "/perm/f.sh"), "ran");
    OK(dt_fs_set_permissions(g_sb, H "/perm/f.sh", "600", NULL, NULL, ERR));
    OK(dt_fs_info(g_sb, H "/perm/f.sh", &fi, ERR));
    CU_ASSERT_STRING_EQUAL(fi.permissions, "0600");
    CU_ASSERT_STRING_EQUAL(fi.mode, "-rw-------");
    dt_file_info_release(&fi);
    /* Owner and group by number (the sandbox's own: always allowed). */
    OK(dt_fs_set_permissions(g_sb, H "/perm/f.sh", NULL, g_uid, SH("id -g"),
                             ERR));
    CU_ASSERT_STRING_EQUAL(SH("stat -c %a " H "/perm/f.sh"), "600");
    CHECK_ERR(dt_fs_set_permissions(g_sb, H "/perm/f.sh", NULL,
                                    "no-such-user-xyz", NULL, &e),
              e, DT_EBADREQUEST, 400, "unknown user");
    CHECK_ERR(dt_fs_set_permissions(g_sb, H "/perm/f.sh", "4755", NULL, NULL,
                                    &e), e, DT_EBADREQUEST, 400, "invalid mode");
    CHECK_ERR(dt_fs_set_permissions(g_sb, H "/perm/none", "644", NULL, NULL,
                                    &e), e, DT_ENOTFOUND, 404, "/perm/none");
}

/* ---------- find, search, replace ---------- */

static void test_find_search_replace(void)
{
    dt_error e;
    static const char a[] = "first line\nneedle here\nno\nneedle again\n";
    static const char b[] = "nothing\n";
    OK(dt_fs_upload(g_sb, H "/fs/a.txt", a, sizeof a - 1, ERR));
    OK(dt_fs_upload(g_sb, H "/fs/sub/b.md", b, sizeof b - 1, ERR));
    OK(dt_fs_upload(g_sb, H "/fs/sub/c.txt", "a needle\n", 9, ERR));

    dt_match *m = NULL;
    size_t n = 0;
    OK(dt_fs_find(g_sb, H "/fs", "needle", &m, &n, ERR));
    CU_ASSERT_EQUAL_FATAL(n, 3);
    int seen_a2 = 0, seen_a4 = 0, seen_c = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(m[i].file, H "/fs/a.txt") && m[i].line == 2)
            seen_a2 = !strcmp(m[i].content, "needle here");
        if (!strcmp(m[i].file, H "/fs/a.txt") && m[i].line == 4)
            seen_a4 = !strcmp(m[i].content, "needle again");
        if (!strcmp(m[i].file, H "/fs/sub/c.txt") && m[i].line == 1)
            seen_c = !strcmp(m[i].content, "a needle");
    }
    CU_ASSERT_TRUE(seen_a2 && seen_a4 && seen_c);
    dt_match_list_free(m, n);
    /* No match and a missing root: empty results, not errors. */
    OK(dt_fs_find(g_sb, H "/fs", "zzz-absent", &m, &n, ERR));
    CU_ASSERT_EQUAL(n, 0);
    dt_match_list_free(m, n);
    OK(dt_fs_find(g_sb, H "/fs-missing", "x", &m, &n, ERR));
    CU_ASSERT_EQUAL(n, 0);
    dt_match_list_free(m, n);

    char **v = NULL;
    OK(dt_fs_search(g_sb, H "/fs", "*.txt", &v, &n, ERR));
    CU_ASSERT_EQUAL_FATAL(n, 2);
    int found_a = 0, found_c = 0;
    for (size_t i = 0; i < n; i++) {
        found_a |= !strcmp(v[i], H "/fs/a.txt");
        found_c |= !strcmp(v[i], H "/fs/sub/c.txt");
    }
    CU_ASSERT_TRUE(found_a && found_c);
    dt_strv_free(v, n);
    OK(dt_fs_search(g_sb, H "/fs-missing", "*", &v, &n, ERR));
    CU_ASSERT_EQUAL(n, 0);
    dt_strv_free(v, n);
    CHECK_ERR(dt_fs_search(g_sb, H "/fs", NULL, &v, &n, &e), e, DT_EINVAL, 0,
              "pattern");

    const char *files[] = {H "/fs/a.txt", H "/fs/sub/c.txt", H "/fs/none.txt"};
    dt_replace_result *r = NULL;
    OK(dt_fs_replace(g_sb, files, 3, "needle", "pin \"quoted\"", &r, &n, ERR));
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_TRUE(r[0].success && r[1].success && !r[2].success);
    CU_ASSERT_STRING_EQUAL(r[0].file, H "/fs/a.txt");
    CU_ASSERT_PTR_NULL(r[0].error);
    CU_ASSERT_STRING_EQUAL(r[2].file, H "/fs/none.txt");
    CU_ASSERT_PTR_NOT_NULL(r[2].error);
    dt_replace_result_list_free(r, n);
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/fs/a.txt"),
                           "first line\npin \"quoted\" here\nno\n"
                           "pin \"quoted\" again");
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/fs/sub/c.txt"), "a pin \"quoted\"");
}

/* ---------- local files, 16 MiB each way ---------- */

static void test_big_file_streamed(void)
{
    char *data = pattern(BIG, 7), hex[65];
    const char *src = lpath("big-src.bin"), *dst = lpath("big-dst.bin");
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    write_local(src, data, BIG);
    sha_hex(data, BIG, hex);
    free(data);
    OK(dt_fs_upload_file(g_sb, src, H "/big/big.bin", ERR));
    CU_ASSERT_STRING_EQUAL(SH("sha256sum " H "/big/big.bin | cut -c1-64"), hex);
    CU_ASSERT_STRING_EQUAL(SH("wc -c < " H "/big/big.bin"), "16777216");
    /* Downloaded through a client whose response cap is 1 MiB: only a
     * streamed download can succeed. */
    dt_client *small = mk_client(KEY, 1024 * 1024);
    dt_sandbox *sb = handle_for(small);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sb);
    OK(dt_fs_download_file(sb, H "/big/big.bin", dst, ERR));
    size_t n = 0;
    char *back = read_local(dst, &n);
    CU_ASSERT_EQUAL_FATAL(n, BIG);
    char hex2[65];
    sha_hex(back, n, hex2);
    CU_ASSERT_STRING_EQUAL(hex2, hex);
    free(back);
    /* The buffered download refuses it with the cap. */
    void *got = NULL;
    size_t len = 0;
    dt_error e;
    CHECK_ERR(dt_fs_download(sb, H "/big/big.bin", &got, &len, &e), e,
              DT_ETOOBIG, 0, "larger than");
    CU_ASSERT_PTR_NULL(got);
    CU_ASSERT_EQUAL(local_count(".dtdl-"), 0);
    dt_sandbox_free(sb);
    dt_client_free(small);
    unlink(src);
    unlink(dst);
}

typedef struct {
    int fd;
    size_t n;
    unsigned seed;
} pipe_writer;

static void *write_pipe(void *arg)
{
    pipe_writer *w = arg;
    char *d = pattern(w->n, w->seed);
    size_t off = 0;
    while (d && off < w->n) {
        ssize_t k = write(w->fd, d + off, w->n - off > 4096 ? 4096 : w->n - off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    close(w->fd);
    free(d);
    return NULL;
}

/* A source whose size is unknown (a pipe, like `dtctl fs upload -`) goes
 * out chunked. */
static void test_upload_from_pipe(void)
{
    int p[2];
    char dev[64], hex[65];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    pipe_writer w = {p[1], 1500000, 3};
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, write_pipe, &w), 0);
    snprintf(dev, sizeof dev, "/proc/self/fd/%d", p[0]);
    OK(dt_fs_upload_file(g_sb, dev, H "/pipe/p.bin", ERR));
    pthread_join(t, NULL);
    close(p[0]);
    char *d = pattern(w.n, 3);
    sha_hex(d, w.n, hex);
    free(d);
    CU_ASSERT_STRING_EQUAL(SH("sha256sum " H "/pipe/p.bin | cut -c1-64"), hex);
}

/* ---------- bulk ---------- */

static void test_bulk_upload(void)
{
    char *c2 = pattern(70000, 11);
    const char *lp = lpath("bulk-local.bin");
    write_local(lp, c2, 70000);
    dt_upload_item it[3] = {
        {.remote_path = H "/bulk/one.txt", .data = "first file", .len = 10},
        {.remote_path = H "/bulk/two.bin", .local_path = lp},
        {.remote_path = "bulk/nested/three.json", .data = "{\"k\":1}",
         .len = 7},
    };
    OK(dt_fs_upload_many(g_sb, it, 3, ERR));
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/bulk/one.txt"), "first file");
    CU_ASSERT_STRING_EQUAL(SH("cat " H "/bulk/nested/three.json"), "{\"k\":1}");
    char hex[65];
    sha_hex(c2, 70000, hex);
    CU_ASSERT_STRING_EQUAL(SH("sha256sum " H "/bulk/two.bin | cut -c1-64"),
                           hex);
    free(c2);
    /* Nothing to send is a no-op. */
    OK(dt_fs_upload_many(g_sb, it, 0, ERR));
    unlink(lp);
}

static void test_bulk_download(void)
{
    const char *lp = lpath("bulk-dl.bin");
    char *c2 = pattern(70000, 11);
    OK(dt_fs_upload(g_sb, H "/bdl/two.bin", c2, 70000, ERR));
    OK(dt_fs_upload(g_sb, H "/bdl/one.txt", "first file", 10, ERR));
    OK(dt_fs_mkdir(g_sb, H "/bdl/dir", NULL, ERR));
    dt_download_item it[4] = {
        {.remote_path = H "/bdl/one.txt"},
        {.remote_path = H "/bdl/two.bin", .local_path = lp},
        {.remote_path = H "/bdl/missing.txt", .local_path = lpath("never")},
        {.remote_path = H "/bdl/dir"},
    };
    OK(dt_fs_download_many(g_sb, it, 4, ERR));
    CU_ASSERT_PTR_NULL(it[0].error);
    CU_ASSERT_EQUAL(it[0].len, 10);
    CU_ASSERT_STRING_EQUAL((char *)it[0].data, "first file");
    CU_ASSERT_PTR_NULL(it[1].error);
    CU_ASSERT_PTR_NULL(it[1].data);
    size_t n = 0;
    char *back = read_local(lp, &n);
    CU_ASSERT_TRUE_FATAL(back && n == 70000);
    CU_ASSERT_EQUAL(memcmp(back, c2, n), 0);
    free(back);
    CU_ASSERT_STRING_EQUAL(it[2].error ? it[2].error : "",
                           "file not found: " H "/bdl/missing.txt");
    CU_ASSERT_PTR_NULL(it[2].data);
    CU_ASSERT_FALSE(local_exists(lpath("never")));
    CU_ASSERT_TRUE(it[3].error && strstr(it[3].error, "directory"));
    CU_ASSERT_EQUAL(local_count(".dtdl-"), 0);
    dt_download_items_release(it, 4);
    CU_ASSERT_PTR_NULL(it[0].data);
    /* Nothing asked: a no-op. */
    OK(dt_fs_download_many(g_sb, it, 0, ERR));
    /* The in-memory cap applies per item. */
    dt_client *small = mk_client(KEY, 50000);
    dt_sandbox *sb = handle_for(small);
    dt_download_item big[1] = {{.remote_path = H "/bdl/two.bin"}};
    dt_error e;
    CHECK_ERR(dt_fs_download_many(sb, big, 1, &e), e, DT_ETOOBIG, 0,
              "/bdl/two.bin");
    CU_ASSERT_PTR_NULL(big[0].data);
    dt_sandbox_free(sb);
    dt_client_free(small);
    free(c2);
    unlink(lp);
}

/* ---------- errors ---------- */

static void test_missing_files(void)
{
    dt_error e;
    void *got = (void *)0x1;
    size_t len = 7;
    CHECK_ERR(dt_fs_download(g_sb, H "/nope.txt", &got, &len, &e), e,
              DT_ENOTFOUND, 404, "file not found: " H "/nope.txt");
    CU_ASSERT_PTR_EQUAL(got, (void *)0x1);
    CU_ASSERT_EQUAL(len, 7);
    /* download_file: no local file appears, an existing one is kept. */
    const char *dst = lpath("keep.txt");
    CHECK_ERR(dt_fs_download_file(g_sb, H "/nope.txt", lpath("new.txt"), &e),
              e, DT_ENOTFOUND, 404, "file not found: " H "/nope.txt");
    CU_ASSERT_FALSE(local_exists(lpath("new.txt")));
    write_local(dst, "precious", 8);
    CHECK_ERR(dt_fs_download_file(g_sb, H "/nope.txt", dst, &e), e,
              DT_ENOTFOUND, 404, "/nope.txt");
    size_t n = 0;
    char *kept = read_local(dst, &n);
    CU_ASSERT_STRING_EQUAL(kept ? kept : "", "precious");
    free(kept);
    CU_ASSERT_EQUAL(local_count(".dtdl-"), 0);
    /* And a successful one replaces it. */
    OK(dt_fs_upload(g_sb, H "/err/new.txt", "fresh", 5, ERR));
    OK(dt_fs_download_file(g_sb, H "/err/new.txt", dst, ERR));
    kept = read_local(dst, &n);
    CU_ASSERT_STRING_EQUAL(kept ? kept : "", "fresh");
    free(kept);
    /* A directory is not a file to download. */
    OK(dt_fs_mkdir(g_sb, H "/err/d", NULL, ERR));
    CHECK_ERR(dt_fs_download(g_sb, H "/err/d", &got, &len, &e), e,
              DT_EBADREQUEST, 400, "");
    unlink(dst);
}

static void test_local_errors(void)
{
    dt_error e;
    const char *missing = lpath("does-not-exist.bin");
    CHECK_ERR(dt_fs_upload_file(g_sb, missing, H "/lerr/x", &e), e, DT_EFILE,
              0, missing);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "No such file"));
    /* One bad item fails the whole bulk upload before anything is sent. */
    dt_upload_item it[2] = {
        {.remote_path = H "/lerr/first.txt", .data = "1", .len = 1},
        {.remote_path = H "/lerr/second.txt", .local_path = missing},
    };
    CHECK_ERR(dt_fs_upload_many(g_sb, it, 2, &e), e, DT_EFILE, 0, missing);
    CHECK_ERR(dt_fs_info(g_sb, H "/lerr/first.txt", &(dt_file_info){0}, &e), e,
              DT_ENOTFOUND, 404, "first.txt");
    CHECK_ERR(dt_fs_upload_file(g_sb, g_local, H "/lerr/x", &e), e, DT_EFILE,
              0, "Is a directory");
    /* Destinations that cannot be written locally. */
    OK(dt_fs_upload(g_sb, H "/lerr/src.txt", "abc", 3, ERR));
    CHECK_ERR(dt_fs_download_file(g_sb, H "/lerr/src.txt",
                                  lpath("no/such/dir/f"), &e),
              e, DT_EFILE, 0, "No such file");
    CHECK_ERR(dt_fs_download_file(g_sb, H "/lerr/src.txt", g_local, &e), e,
              DT_EFILE, 0, "Is a directory");
    /* A remote destination that is a directory: the daemon's errors list
     * becomes the message. */
    OK(dt_fs_mkdir(g_sb, H "/lerr/dir", NULL, ERR));
    CHECK_ERR(dt_fs_upload(g_sb, H "/lerr/dir", "x", 1, &e), e,
              DT_EBADREQUEST, 400, H "/lerr/dir");
    CHECK_ERR(dt_fs_upload(g_sb, NULL, "x", 1, &e), e, DT_EINVAL, 0,
              "remote_path");
    dt_upload_item bad = {.remote_path = "", .data = "x", .len = 1};
    CHECK_ERR(dt_fs_upload_many(g_sb, &bad, 1, &e), e, DT_EINVAL, 0,
              "remote path");
    CU_ASSERT_EQUAL(local_count(".dtdl-"), 0);
}

/* Paths that climb out of the sandbox stay inside it. */
static void test_paths_stay_inside(void)
{
    dt_error e;
    void *got = NULL;
    size_t len = 0;
    size_t host_n = 0;
    char *host = read_local("/etc/passwd", &host_n);
    dt_code rc = dt_fs_download(g_sb, "../../../../etc/passwd", &got, &len, &e);
    CU_ASSERT_TRUE(rc == DT_ENOTFOUND || rc == DT_OK);
    if (rc == DT_OK) {   /* the sandbox's own /etc/passwd, not the host's */
        CU_ASSERT_FALSE(host && len == host_n && memcmp(got, host, len) == 0);
        free(got);
    } else {
        CU_ASSERT_EQUAL(e.status, 404);
    }
    free(host);
    /* An upload that climbs lands inside the sandbox, never on the host. */
    char host_path[128], climb[200];
    snprintf(host_path, sizeof host_path, "/tmp/dt-escape-%d", (int)getpid());
    snprintf(climb, sizeof climb, "../../../..%s", host_path);
    rc = dt_fs_upload(g_sb, climb, "escaped?", 8, &e);
    CU_ASSERT_FALSE(local_exists(host_path));
    if (rc == DT_OK) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "cat %s", host_path);
        CU_ASSERT_STRING_EQUAL(SH(cmd), "escaped?");
    }
    unlink(host_path);
    /* Listing "/" shows the sandbox's root, never the emulator's data. */
    dt_file_info *l = NULL;
    size_t n = 0;
    OK(dt_fs_list(g_sb, "/", &l, &n, ERR));
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_STRING_NOT_EQUAL(l[i].name, "sandboxes");
    dt_file_info_list_free(l, n);
}

static void test_wrong_key_and_stopped(void)
{
    dt_error e;
    dt_client *bad = mk_client("not-the-key", 0);
    dt_sandbox *sb = handle_for(bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sb);
    dt_file_info *l = NULL;
    size_t n = 0;
    CHECK_ERR(dt_fs_list(sb, H, &l, &n, &e), e, DT_EUNAUTHORIZED, 401, "");
    CHECK_ERR(dt_fs_upload(sb, H "/x", "x", 1, &e), e, DT_EUNAUTHORIZED, 401,
              "");
    dt_download_item it = {.remote_path = H "/x"};
    CHECK_ERR(dt_fs_download_many(sb, &it, 1, &e), e, DT_EUNAUTHORIZED, 401,
              "");
    CU_ASSERT_PTR_NULL(it.error);
    dt_sandbox_free(sb);
    dt_client_free(bad);

    /* A stopped sandbox has no toolbox: 400. */
    dt_sandbox *other = NULL;
    OK(dt_create(g_c, NULL, &other, ERR));
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    OK(dt_sandbox_stop(other, 0, ERR));
    CHECK_ERR(dt_fs_upload(other, H "/x", "x", 1, &e), e, DT_EBADREQUEST, 400,
              "");
    CHECK_ERR(dt_fs_download_file(other, H "/x", lpath("stopped"), &e), e,
              DT_EBADREQUEST, 400, "");
    CU_ASSERT_FALSE(local_exists(lpath("stopped")));
    dt_sandbox_delete(other, 0, NULL);
    dt_sandbox_free(other);
}

/* ---------- daemon shapes: a scripted stand-in for Daytona's daemon ---------- */

static struct {
    int lfd;
    unsigned port;
    pthread_t th;
    pthread_mutex_t mu;
    char answer[16384];      /* the raw HTTP response to send */
    size_t answer_len;
    buf last;                /* the last request, head and body */
} g_fake = {.lfd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};
static dt_client *g_fc;
static dt_sandbox *g_fsb;

/* Reads one request: the head, then a Content-Length body or a chunked
 * body up to its last chunk. */
static void fake_read_request(int fd, buf *req)
{
    char tmp[65536];
    buf_reset(req);
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0 || buf_add(req, tmp, (size_t)n) != BUF_OK)
            return;
        const char *end = strstr(buf_str(req), "\r\n\r\n");
        if (!end)
            continue;
        size_t head = (size_t)(end - req->data) + 4;
        const char *cl = strcasestr(req->data, "\r\nContent-Length:");
        if (cl && cl < end) {
            if (req->len >= head + strtoul(cl + 17, NULL, 10))
                return;
        } else if (strcasestr(req->data, "chunked") &&
                   strcasestr(req->data, "chunked") < end) {
            if (req->len >= 5 && !memcmp(req->data + req->len - 5,
                                         "0\r\n\r\n", 5))
                return;
        } else {
            return;
        }
    }
}

static void *fake_main(void *arg)
{
    (void)arg;
    buf req;
    buf_init(&req, 1 << 24);
    for (;;) {
        int fd = accept(g_fake.lfd, NULL, NULL);
        if (fd < 0)
            break;
        fake_read_request(fd, &req);
        char out[sizeof g_fake.answer];
        pthread_mutex_lock(&g_fake.mu);
        buf_reset(&g_fake.last);
        buf_add(&g_fake.last, req.data ? req.data : "", req.len);
        size_t n = g_fake.answer_len;
        memcpy(out, g_fake.answer, n);
        pthread_mutex_unlock(&g_fake.mu);
        for (size_t off = 0; off < n;) {
            ssize_t k = send(fd, out + off, n - off, MSG_NOSIGNAL);
            if (k <= 0)
                break;
            off += (size_t)k;
        }
        close(fd);
    }
    buf_release(&req);
    return NULL;
}

/* The next answer: status line, optional Content-Type, the body (a
 * Content-Length is added unless `raw_tail` is set: then the body is sent
 * as is and the connection closed, as a daemon that gives up mid-way). */
static void fake_answer(const char *status, const char *ctype,
                        const char *body, size_t len, int raw_tail)
{
    pthread_mutex_lock(&g_fake.mu);
    int n = snprintf(g_fake.answer, sizeof g_fake.answer,
                     "HTTP/1.1 %s\r\nConnection: close\r\n", status);
    if (ctype)
        n += snprintf(g_fake.answer + n, sizeof g_fake.answer - (size_t)n,
                      "Content-Type: %s\r\n", ctype);
    if (!raw_tail)
        n += snprintf(g_fake.answer + n, sizeof g_fake.answer - (size_t)n,
                      "Content-Length: %zu\r\n", len);
    n += snprintf(g_fake.answer + n, sizeof g_fake.answer - (size_t)n, "\r\n");
    memcpy(g_fake.answer + n, body, len);
    g_fake.answer_len = (size_t)n + len;
    pthread_mutex_unlock(&g_fake.mu);
}

/* The last request's first line, and whether its head/body contain text. */
static const char *fake_request_line(void)
{
    static char line[4096];
    pthread_mutex_lock(&g_fake.mu);
    const char *s = buf_str(&g_fake.last);
    size_t n = strcspn(s, "\r");
    snprintf(line, sizeof line, "%.*s", (int)n, s);
    pthread_mutex_unlock(&g_fake.mu);
    return line;
}

static int fake_request_has(const char *text)
{
    pthread_mutex_lock(&g_fake.mu);
    int yes = memmem(g_fake.last.data ? g_fake.last.data : "", g_fake.last.len,
                     text, strlen(text)) != NULL;
    pthread_mutex_unlock(&g_fake.mu);
    return yes;
}

static int fake_init(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    buf_init(&g_fake.last, 1 << 24);
    g_fake.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (g_fake.lfd < 0 || bind(g_fake.lfd, (struct sockaddr *)&a, sizeof a) ||
        listen(g_fake.lfd, 8) ||
        getsockname(g_fake.lfd, (struct sockaddr *)&a, &al) ||
        pthread_create(&g_fake.th, NULL, fake_main, NULL))
        return 1;
    g_fake.port = ntohs(a.sin_port);
    dt_config cfg;
    dt_config_init(&cfg);
    char url[96], rec[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api", g_fake.port);
    cfg.api_url = url;
    cfg.api_key = KEY;
    cfg.retry.max_attempts = 1;
    if (dt_global_init() != DT_OK || dt_client_new(&cfg, &g_fc, NULL) != DT_OK)
        return 1;
    snprintf(rec, sizeof rec, "{\"id\":\"sb1\",\"state\":\"started\","
             "\"toolboxProxyUrl\":\"http://127.0.0.1:%u/toolbox\"}", g_fake.port);
    if (dt__sandbox_from_json(g_fc, cJSON_Parse(rec), &g_fsb, NULL) != DT_OK)
        return 1;
    snprintf(g_local, sizeof g_local, "/tmp/dt-files-fake-XXXXXX");
    return mkdtemp(g_local) ? 0 : 1;
}

static int fake_cleanup(void)
{
    char cmd[300];
    if (g_fake.lfd >= 0) {
        shutdown(g_fake.lfd, SHUT_RDWR);
        pthread_join(g_fake.th, NULL);
        close(g_fake.lfd);
        g_fake.lfd = -1;
    }
    buf_release(&g_fake.last);
    dt_sandbox_free(g_fsb);
    dt_client_free(g_fc);
    dt_global_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_local);
    return system(cmd) == 0 ? 0 : 1;
}

#define EMPTY(status) fake_answer((status), NULL, "", 0, 0)

/* Empty-bodied errors get a message naming the path, and the right code. */
static void test_fake_empty_errors(void)
{
    dt_error e;
    dt_file_info fi;
    EMPTY("404 Not Found");
    CHECK_ERR(dt_fs_info(g_fsb, "/x y", &fi, &e), e, DT_ENOTFOUND, 404,
              "file not found: /x y");
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "GET /toolbox/sb1/files/info?path=%2Fx%20y HTTP/1.1");
    CU_ASSERT_TRUE(fake_request_has("\r\nAuthorization: Bearer " KEY "\r\n"));
    void *got = NULL;
    size_t len = 0;
    CHECK_ERR(dt_fs_download(g_fsb, "/gone", &got, &len, &e), e,
              DT_ENOTFOUND, 404, "file not found: /gone");
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "GET /toolbox/sb1/files/download?path=%2Fgone HTTP/1.1");
    CHECK_ERR(dt_fs_download_file(g_fsb, "/gone", lpath("f"), &e), e,
              DT_ENOTFOUND, 404, "file not found: /gone");
    CU_ASSERT_FALSE(local_exists(lpath("f")));
    CU_ASSERT_EQUAL(local_count(".dtdl-"), 0);
    EMPTY("403 Forbidden");
    CHECK_ERR(dt_fs_delete(g_fsb, "/root", 1, &e), e, DT_EFORBIDDEN, 403,
              "access denied: /root");
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "DELETE /toolbox/sb1/files?path=%2Froot&recursive=true "
                           "HTTP/1.1");
    EMPTY("409 Conflict");
    CHECK_ERR(dt_fs_move(g_fsb, "/a", "/b", &e), e, DT_ECONFLICT, 409,
              "already exists: /b");
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "POST /toolbox/sb1/files/move?source=%2Fa&destination="
                           "%2Fb HTTP/1.1");
    EMPTY("400 Bad Request");
    CHECK_ERR(dt_fs_list(g_fsb, "/file", &(dt_file_info *){NULL}, &len, &e),
              e, DT_EBADREQUEST, 400, "/file");
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "GET /toolbox/sb1/files?path=%2Ffile HTTP/1.1");
    /* A message the daemon did send is kept as it is. */
    static const char env[] = "{\"statusCode\":404,\"message\":\"not found: "
                              "it is gone\",\"code\":\"NOT_FOUND\"}";
    fake_answer("404 Not Found", "application/json", env, sizeof env - 1, 0);
    CHECK_ERR(dt_fs_info(g_fsb, "/x", &fi, &e), e, DT_ENOTFOUND, 404,
              "not found: it is gone");
}

/* The SDK's request shapes for the small calls. */
static void test_fake_request_shapes(void)
{
    EMPTY("201 Created");
    OK(dt_fs_mkdir(g_fsb, "/d", NULL, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "POST /toolbox/sb1/files/folder?path=%2Fd&mode=755 "
                           "HTTP/1.1");
    EMPTY("200 OK");
    OK(dt_fs_set_permissions(g_fsb, "/p", "644", "u", "g", ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "POST /toolbox/sb1/files/permissions?path=%2Fp&owner=u"
                           "&group=g&mode=644 HTTP/1.1");
    OK(dt_fs_set_permissions(g_fsb, "/p", "600", NULL, NULL, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "POST /toolbox/sb1/files/permissions?path=%2Fp&mode=600 "
                           "HTTP/1.1");
    EMPTY("204 No Content");
    OK(dt_fs_delete(g_fsb, "rel/x", 0, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "DELETE /toolbox/sb1/files?path=rel%2Fx&recursive=false "
                           "HTTP/1.1");
    static const char found[] = "[{\"file\":\"/r/a\",\"line\":3,\"content\":\"a b\"}]";
    fake_answer("200 OK", "application/json", found, sizeof found - 1, 0);
    dt_match *m = NULL;
    size_t n = 0;
    OK(dt_fs_find(g_fsb, "/r", "a b", &m, &n, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "GET /toolbox/sb1/files/find?path=%2Fr&pattern=a%20b "
                           "HTTP/1.1");
    CU_ASSERT_TRUE(n == 1 && m[0].line == 3 && !strcmp(m[0].content, "a b"));
    dt_match_list_free(m, n);
    /* Daytona may answer search with "files": null. */
    static const char none[] = "{\"files\":null}";
    fake_answer("200 OK", "application/json", none, sizeof none - 1, 0);
    char **v = NULL;
    OK(dt_fs_search(g_fsb, "/r", "*.c", &v, &n, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "GET /toolbox/sb1/files/search?path=%2Fr&pattern=%2A.c "
                           "HTTP/1.1");
    CU_ASSERT_EQUAL(n, 0);
    dt_strv_free(v, n);
    static const char rep[] = "[{\"file\":\"/a\",\"success\":true}]";
    fake_answer("200 OK", "application/json", rep, sizeof rep - 1, 0);
    const char *files[] = {"/a"};
    dt_replace_result *r = NULL;
    OK(dt_fs_replace(g_fsb, files, 1, "x\"", "", &r, &n, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "POST /toolbox/sb1/files/replace HTTP/1.1");
    CU_ASSERT_TRUE(fake_request_has("\r\n\r\n{\"files\":[\"/a\"],\"pattern\":"
                                    "\"x\\\"\",\"newValue\":\"\"}"));
    CU_ASSERT_TRUE(fake_request_has("Content-Type: application/json\r\n"));
    dt_replace_result_list_free(r, n);
    /* An answer that is not what Daytona sends. */
    fake_answer("200 OK", "application/json", "{}", 2, 0);
    dt_error e;
    CHECK_ERR(dt_fs_find(g_fsb, "/r", "x", &m, &n, &e), e, DT_EPROTO, 200, "");
}

/* Bulk upload: form-data's body in one request with a length; the D190
 * failure answer (errors list, files null, no message) becomes the
 * message. */
static void test_fake_bulk_upload(void)
{
    static const char ok[] = "{\"files\":[{\"path\":\"/a\",\"bytes\":3}]}";
    fake_answer("200 OK", "application/json", ok, sizeof ok - 1, 0);
    dt_upload_item it[2] = {{.remote_path = "/a/x.txt", .data = "abc", .len = 3},
                            {.remote_path = "/b", .data = "", .len = 0}};
    OK(dt_fs_upload_many(g_fsb, it, 2, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "POST /toolbox/sb1/files/bulk-upload HTTP/1.1");
    CU_ASSERT_TRUE(fake_request_has("\r\nContent-Type: multipart/form-data; "
                                    "boundary=--------------------------"));
    CU_ASSERT_TRUE(fake_request_has("\r\nContent-Length: "));
    CU_ASSERT_FALSE(fake_request_has("Expect:"));
    CU_ASSERT_TRUE(fake_request_has(
        "Content-Disposition: form-data; name=\"files[0].path\"\r\n\r\n/a/x.txt\r\n"));
    CU_ASSERT_TRUE(fake_request_has(
        "Content-Disposition: form-data; name=\"files[0].file\"; "
        "filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n"));
    CU_ASSERT_TRUE(fake_request_has(
        "name=\"files[1].file\"; filename=\"b\"\r\nContent-Type: "
        "application/octet-stream\r\n\r\n\r\n--"));
    static const char bad[] = "{\"errors\":[\"/a/x.txt: is a directory\","
                              "\"/b: permission denied\"],\"files\":null}";
    fake_answer("400 Bad Request", "application/json", bad, sizeof bad - 1, 0);
    dt_error e;
    CHECK_ERR(dt_fs_upload_many(g_fsb, it, 2, &e), e, DT_EBADREQUEST, 400,
              "upload failed: /a/x.txt: is a directory; /b: permission denied");
}

/* Bulk download against the daemon's exact answer shape; then one cut off
 * in the middle of a part (D190 stops without the closing boundary when a
 * copy fails): the call fails, nothing is written locally. */
static void test_fake_bulk_download(void)
{
    buf b;
    buf_init(&b, 8192);
    buf_adds(&b, "--DAYTONA-FILE-BOUNDARY\r\nContent-Disposition: form-data; "
                 "name=\"file\"; filename=\"/a\"; filename*=utf-8''%2Fa\r\n"
                 "Content-Length: 3\r\nContent-Type: application/octet-stream"
                 "\r\n\r\nabc\r\n--DAYTONA-FILE-BOUNDARY\r\nContent-Disposition:"
                 " form-data; name=\"error\"; filename=\"/b\"; filename*=utf-8''"
                 "%2Fb\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"
                 "{\"statusCode\":403,\"message\":\"access denied: /b\",\"code\":"
                 "\"FILE_ACCESS_DENIED\"}\r\n--DAYTONA-FILE-BOUNDARY--\r\n");
    fake_answer("200 OK", "multipart/form-data; boundary=DAYTONA-FILE-BOUNDARY",
                b.data, b.len, 1);
    dt_download_item it[2] = {{.remote_path = "/a", .local_path = lpath("a")},
                              {.remote_path = "/b"}};
    OK(dt_fs_download_many(g_fsb, it, 2, ERR));
    CU_ASSERT_STRING_EQUAL(fake_request_line(),
                           "POST /toolbox/sb1/files/bulk-download HTTP/1.1");
    CU_ASSERT_TRUE(fake_request_has("\r\nAccept: multipart/form-data\r\n"));
    CU_ASSERT_TRUE(fake_request_has("\r\n\r\n{\"paths\":[\"/a\",\"/b\"]}"));
    size_t n = 0;
    char *got = read_local(lpath("a"), &n);
    CU_ASSERT_STRING_EQUAL(got ? got : "", "abc");
    free(got);
    CU_ASSERT_STRING_EQUAL(it[1].error ? it[1].error : "", "access denied: /b");
    dt_download_items_release(it, 2);
    unlink(lpath("a"));
    /* Cut after part of /a's data. */
    size_t cut = (size_t)(strstr(b.data, "abc") - b.data) + 2;
    fake_answer("200 OK", "multipart/form-data; boundary=DAYTONA-FILE-BOUNDARY",
                b.data, cut, 1);
    dt_error e;
    CHECK_ERR(dt_fs_download_many(g_fsb, it, 2, &e), e, DT_EIO, 0,
              "closing boundary");
    CU_ASSERT_PTR_NULL(it[1].error);
    CU_ASSERT_FALSE(local_exists(lpath("a")));
    CU_ASSERT_EQUAL(local_count(".dtdl-"), 0);
    /* A 200 that is not multipart. */
    fake_answer("200 OK", "application/json", "{}", 2, 0);
    CHECK_ERR(dt_fs_download_many(g_fsb, it, 2, &e), e, DT_EPROTO, 0,
              "not multipart");
    /* The daemon's 400 for a bad request keeps its message. */
    static const char bad[] = "{\"error\":\"request body must be {\\\"paths\\\":"
                              " [ ... ]} and non-empty\"}";
    fake_answer("400 Bad Request", "application/json", bad, sizeof bad - 1, 0);
    CHECK_ERR(dt_fs_download_many(g_fsb, it, 2, &e), e, DT_EBADREQUEST, 400,
              "request body must be");
    buf_release(&b);
    /* A single download cut short (fewer bytes than its Content-Length):
     * no local file. */
    fake_answer("200 OK", "application/octet-stream\r\nContent-Length: 10",
                "abc", 3, 1);
    CHECK_ERR(dt_fs_download_file(g_fsb, "/a", lpath("cut"), &e), e, DT_EIO, 0,
              "");
    CU_ASSERT_FALSE(local_exists(lpath("cut")));
    CU_ASSERT_EQUAL(local_count(".dtdl-"), 0);
}

/* ---------- suite ---------- */

static int suite_init(void)
{
    snprintf(g_local, sizeof g_local, "/tmp/dt-files-test-XXXXXX");
    if (!mkdtemp(g_local) || ch_start(&g_emu, g_api, sizeof g_api, KEY) != 0)
        return 1;
    g_c = mk_client(KEY, 0);
    dt_error e;
    if (!g_c || dt_create(g_c, NULL, &g_sb, &e) != DT_OK) {
        fprintf(stderr, "create: %s\n", g_c ? e.message : "no client");
        return 1;
    }
    int code = 0;
    snprintf(g_uid, sizeof g_uid, "%s", sh("id -u | tr -d '\\n'", &code));
    return code == 0 ? 0 : 1;
}

static int suite_cleanup(void)
{
    char cmd[300];
    if (g_sb)
        dt_sandbox_delete(g_sb, 0, NULL);
    dt_sandbox_free(g_sb);
    dt_client_free(g_c);
    ch_stop(&g_emu);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_local);
    return system(cmd) == 0 ? 0 : 1;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("client_files", suite_init, suite_cleanup);
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"upload/download buffers", test_upload_download_buffer},
        {"list and info", test_list_and_info},
        {"mkdir and delete", test_mkdir_delete},
        {"move", test_move},
        {"permissions", test_permissions},
        {"find, search, replace", test_find_search_replace},
        {"16 MiB streamed both ways", test_big_file_streamed},
        {"upload from a pipe (chunked)", test_upload_from_pipe},
        {"bulk upload", test_bulk_upload},
        {"bulk download with per-item errors", test_bulk_download},
        {"missing files: 404, nothing left locally", test_missing_files},
        {"local file errors", test_local_errors},
        {"paths stay inside the sandbox", test_paths_stay_inside},
        {"wrong key 401, stopped sandbox 400", test_wrong_key_and_stopped},
    };
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            s = NULL;
    CU_pSuite f = s ? CU_add_suite("daemon shapes", fake_init, fake_cleanup)
                    : NULL;
    if (!f || !CU_add_test(f, "empty-bodied errors", test_fake_empty_errors) ||
        !CU_add_test(f, "request shapes", test_fake_request_shapes) ||
        !CU_add_test(f, "bulk upload", test_fake_bulk_upload) ||
        !CU_add_test(f, "bulk download", test_fake_bulk_download))
        s = NULL;
    if (!s) {
        CU_cleanup_registry();
        return 1;
    }
    return cu_run_and_cleanup();
}
