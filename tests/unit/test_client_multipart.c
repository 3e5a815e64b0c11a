/*
 * test_client_multipart.c - libdaytona's file-transfer formats without a
 * server: the bulk-upload body generator (exact bytes in form-data's
 * shape, quoting, streaming at every read size equal to the one-shot body,
 * local files streamed, shrinking files and missing files failing) and the
 * bulk-download decoder (parts routed to items by path, error parts, a
 * body split at every offset, local files written only on success,
 * truncated and foreign answers rejected).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "cu_run.h"
#include "files_multipart.h"
#include "multipart.h"

#include "data/formdata4_upload.h"

static char g_dir[256];   /* a scratch directory for local files */

static int suite_init(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dt-mp-test-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int suite_clean(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
    return rmdir(g_dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Reads a whole file into a heap string (len in *n), NULL if missing. */
static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b;
    buf_init(&b, 1 << 24);
    char tmp[4096];
    size_t got;
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_add(&b, tmp, got);
    fclose(f);
    return buf_detach(&b, n);
}

/* Entries in g_dir (besides . and ..) whose name starts with prefix. */
static int count_entries(const char *prefix)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

/* Drains the generator with reads of at most `step` bytes. */
static int drain(dt__mpw *w, size_t step, buf *out)
{
    char *chunk = malloc(step);
    int rc = -1;
    while (chunk) {
        size_t n = dt__mpw_read(w, chunk, step);
        if (n == (size_t)-1 || n == 0) {
            rc = n ? -1 : 0;
            break;
        }
        CU_ASSERT_TRUE(n <= step);
        buf_add(out, chunk, n);
    }
    free(chunk);
    return rc;
}

/* ---- the generator ---- */

static const char k_expected[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"files[0].path\"\r\n"
    "\r\n"
    "/home/daytona/a.txt\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"files[0].file\"; "
    "filename=\"a.txt\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "hello\r\n-- XyZ --XyZ not a delimiter\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"files[1].path\"\r\n"
    "\r\n"
    "dir/b.bin\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"files[1].file\"; "
    "filename=\"b.bin\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "0123456789abcdefghij\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"files[2].path\"\r\n"
    "\r\n"
    "/tmp/empty\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"files[2].file\"; "
    "filename=\"empty\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "\r\n"
    "--XyZ--\r\n";

static const char k_data[] = "hello\r\n-- XyZ --XyZ not a delimiter";

/* Builds the three-item body above; the second item from a local file. */
static dt__mpw *make_body(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/src-b.bin", g_dir);
    write_file(path, "0123456789abcdefghij", 20);
    dt__mpw *w = NULL;
    dt_error e = {0};
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new("XyZ", &w, &e), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_field(w, "files[0].path",
                                      "/home/daytona/a.txt", &e), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_data(w, "files[0].file", "a.txt", NULL,
                                     k_data, sizeof k_data - 1, &e), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_field(w, "files[1].path", "dir/b.bin", &e),
                    DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_file(w, "files[1].file", "b.bin", NULL, path,
                                     &e), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_field(w, "files[2].path", "/tmp/empty", &e),
                    DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_data(w, "files[2].file", "empty",
                                     "text/plain", NULL, 0, &e), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_close(w, &e), DT_OK);
    return w;
}

static void test_exact_body(void)
{
    dt__mpw *w = make_body();
    buf out;
    buf_init(&out, 1 << 20);
    CU_ASSERT_STRING_EQUAL(dt__mpw_content_type(w),
                           "multipart/form-data; boundary=XyZ");
    CU_ASSERT_EQUAL(dt__mpw_length(w), (long long)sizeof k_expected - 1);
    CU_ASSERT_EQUAL(drain(w, 65536, &out), 0);
    CU_ASSERT_EQUAL(out.len, sizeof k_expected - 1);
    CU_ASSERT_EQUAL(memcmp(out.data, k_expected, out.len), 0);
    /* Exhausted: stays at the end. */
    char c;
    CU_ASSERT_EQUAL(dt__mpw_read(w, &c, 1), 0);
    CU_ASSERT_EQUAL(dt__mpw_read_error(w, NULL), DT_OK);
    buf_release(&out);
    dt__mpw_free(w);
}

/* Streaming at every read size gives the one-shot body byte for byte. */
static void test_every_read_size(void)
{
    buf one;
    buf_init(&one, 1 << 20);
    dt__mpw *w = make_body();
    CU_ASSERT_EQUAL(drain(w, sizeof k_expected + 100, &one), 0);
    dt__mpw_free(w);
    for (size_t step = 1; step <= sizeof k_expected; step++) {
        buf out;
        buf_init(&out, 1 << 20);
        w = make_body();
        CU_ASSERT_EQUAL(drain(w, step, &out), 0);
        CU_ASSERT_EQUAL(out.len, one.len);
        CU_ASSERT_EQUAL(memcmp(out.data, one.data, one.len), 0);
        buf_release(&out);
        dt__mpw_free(w);
    }
    buf_release(&one);
}

typedef struct {
    int parts;
    char names[8][128];
    char filenames[8][128];
    buf data[8];
} parsed;

static int p_part(void *ctx, const mp_part *p)
{
    parsed *x = ctx;
    snprintf(x->names[x->parts], sizeof x->names[0], "%s", p->name);
    snprintf(x->filenames[x->parts], sizeof x->filenames[0], "%s",
             p->has_filename ? p->filename : "(none)");
    buf_init(&x->data[x->parts], 1 << 20);
    x->parts++;
    return 0;
}

static int p_data(void *ctx, const char *d, size_t n)
{
    parsed *x = ctx;
    buf_add(&x->data[x->parts - 1], d, n);
    return 0;
}

/* The body parses back (with the reader the emulator uses) to exactly
 * what was put in. */
static void test_round_trip(void)
{
    parsed x;
    memset(&x, 0, sizeof x);
    dt__mpw *w = make_body();
    buf out;
    buf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(drain(w, 7, &out), 0);
    mp_callbacks cb = {p_part, p_data, NULL, &x};
    mp_reader *r = mp_reader_new("XyZ", &cb);
    CU_ASSERT_EQUAL(mp_feed(r, out.data, out.len), MP_OK);
    CU_ASSERT_EQUAL(mp_finish(r), MP_OK);
    CU_ASSERT_EQUAL_FATAL(x.parts, 6);
    CU_ASSERT_STRING_EQUAL(x.names[1], "files[0].file");
    CU_ASSERT_STRING_EQUAL(x.filenames[1], "a.txt");
    CU_ASSERT_STRING_EQUAL(x.filenames[0], "(none)");
    CU_ASSERT_STRING_EQUAL(buf_str(&x.data[0]), "/home/daytona/a.txt");
    CU_ASSERT_EQUAL(x.data[1].len, sizeof k_data - 1);
    CU_ASSERT_EQUAL(memcmp(x.data[1].data, k_data, sizeof k_data - 1), 0);
    CU_ASSERT_STRING_EQUAL(buf_str(&x.data[3]), "0123456789abcdefghij");
    CU_ASSERT_EQUAL(x.data[5].len, 0);
    for (int i = 0; i < x.parts; i++)
        buf_release(&x.data[i]);
    mp_reader_free(r);
    buf_release(&out);
    dt__mpw_free(w);
}

/* The same two files the SDK's npm form-data 4 encoded (the captured
 * vector in tests/unit/data): identical bytes, the payload streamed from a
 * local file as uploadFiles does for a path source. */
static void test_same_as_formdata4(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/data.bin", g_dir);
    write_file(path, FD4_PAYLOAD0, sizeof FD4_PAYLOAD0);
    dt__mpw *w = NULL;
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new(FD4_BOUNDARY, &w, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt__mpw_content_type(w), FD4_CONTENT_TYPE);
    CU_ASSERT_EQUAL(dt__mpw_add_field(w, "files[0].path", FD4_PATH0, NULL),
                    DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_file(w, "files[0].file", FD4_FILENAME0,
                                     dt__mpw_mime_for(path), path, NULL),
                    DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_field(w, "files[1].path", FD4_PATH1, NULL),
                    DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_data(w, "files[1].file", FD4_FILENAME1,
                                     dt__mpw_mime_for(FD4_PATH1), FD4_DATA1,
                                     sizeof FD4_DATA1 - 1, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_close(w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_length(w), (long long)sizeof FD4_BODY);
    buf out;
    buf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(drain(w, 100, &out), 0);
    CU_ASSERT_EQUAL_FATAL(out.len, sizeof FD4_BODY);
    CU_ASSERT_EQUAL(memcmp(out.data, FD4_BODY, sizeof FD4_BODY), 0);
    buf_release(&out);
    dt__mpw_free(w);
    CU_ASSERT_STRING_EQUAL(dt__mpw_mime_for("/a/b.JSON"), "application/json");
    CU_ASSERT_STRING_EQUAL(dt__mpw_mime_for("/a.d/noext"),
                           "application/octet-stream");
    CU_ASSERT_STRING_EQUAL(dt__mpw_mime_for("x.tar.gz"), "application/gzip");
}

static void test_quoting(void)
{
    static const struct {
        const char *in, *quoted, *decoded;
    } cases[] = {
        {"plain.txt", "plain.txt", "plain.txt"},
        {"say \"hi\".txt", "say \\\"hi\\\".txt", "say \"hi\".txt"},
        {"back\\slash", "back\\\\slash", "back\\slash"},
        {"two\r\nlines", "two%0D%0Alines", "two%0D%0Alines"},
        {"caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b;
        buf_init(&b, 1024);
        CU_ASSERT_EQUAL(dt__mpw_quote(&b, cases[i].in), 0);
        CU_ASSERT_STRING_EQUAL(buf_str(&b), cases[i].quoted);
        buf_release(&b);
        /* As a part's name and filename, read back by a real parser. */
        dt__mpw *w = NULL;
        parsed x;
        memset(&x, 0, sizeof x);
        CU_ASSERT_EQUAL_FATAL(dt__mpw_new("q", &w, NULL), DT_OK);
        CU_ASSERT_EQUAL(dt__mpw_add_data(w, cases[i].in, cases[i].in,
                                         "text/x\r\nInjected: 1", "d", 1,
                                         NULL), DT_OK);
        CU_ASSERT_EQUAL(dt__mpw_close(w, NULL), DT_OK);
        buf out;
        buf_init(&out, 1 << 16);
        CU_ASSERT_EQUAL(drain(w, 3, &out), 0);
        CU_ASSERT_PTR_NULL(strstr(out.data, "\r\nInjected"));
        mp_callbacks cb = {p_part, p_data, NULL, &x};
        mp_reader *r = mp_reader_new("q", &cb);
        CU_ASSERT_EQUAL(mp_feed(r, out.data, out.len), MP_OK);
        CU_ASSERT_EQUAL(mp_finish(r), MP_OK);
        CU_ASSERT_EQUAL_FATAL(x.parts, 1);
        CU_ASSERT_STRING_EQUAL(x.names[0], cases[i].decoded);
        CU_ASSERT_STRING_EQUAL(x.filenames[0], cases[i].decoded);
        CU_ASSERT_STRING_EQUAL(buf_str(&x.data[0]), "d");
        buf_release(&x.data[0]);
        mp_reader_free(r);
        buf_release(&out);
        dt__mpw_free(w);
    }
}

static void test_random_boundary(void)
{
    dt__mpw *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new(NULL, &a, NULL), DT_OK);
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new(NULL, &b, NULL), DT_OK);
    const char *ct = dt__mpw_content_type(a);
    const char *pfx = "multipart/form-data; boundary=";
    CU_ASSERT_EQUAL(strncmp(ct, pfx, strlen(pfx)), 0);
    const char *bd = ct + strlen(pfx);
    CU_ASSERT_EQUAL(strlen(bd), 50);
    CU_ASSERT_EQUAL(strspn(bd, "-"), 26);
    CU_ASSERT_EQUAL(strspn(bd + 26, "0123456789abcdef"), 24);
    CU_ASSERT_STRING_NOT_EQUAL(ct, dt__mpw_content_type(b));
    /* An empty body is just the close delimiter. */
    CU_ASSERT_EQUAL(dt__mpw_close(a, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_length(a), 2 + 50 + 4);
    dt__mpw_free(a);
    dt__mpw_free(b);
    dt__mpw *w = (dt__mpw *)0x1;
    dt_error e = {0};
    CU_ASSERT_EQUAL(dt__mpw_new("", &w, &e), DT_EINVAL);
    CU_ASSERT_EQUAL(dt__mpw_new("bad\"quote", &w, NULL), DT_EINVAL);
    CU_ASSERT_EQUAL(dt__mpw_new("trailing ", &w, NULL), DT_EINVAL);
    CU_ASSERT_EQUAL(dt__mpw_new("12345678901234567890123456789012345678901"
                                "234567890123456789012345678901", &w, NULL),
                    DT_EINVAL);
    CU_ASSERT_PTR_EQUAL(w, (dt__mpw *)0x1);
}

static void test_misuse(void)
{
    dt__mpw *w = NULL;
    dt_error e = {0};
    char c[16];
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new("b", &w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_field(w, "x", "y", NULL), DT_OK);
    /* Not closed yet: the generator refuses, and says why. */
    CU_ASSERT_EQUAL(dt__mpw_read(w, c, sizeof c), (size_t)-1);
    CU_ASSERT_EQUAL(dt__mpw_read_error(w, &e), DT_EFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "before it was closed"));
    CU_ASSERT_EQUAL(dt__mpw_close(w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_field(w, "x", "y", &e), DT_EINVAL);
    CU_ASSERT_EQUAL(dt__mpw_add_data(w, NULL, NULL, NULL, "", 0, NULL),
                    DT_EINVAL);
    dt__mpw_free(w);
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new("b", &w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_data(w, "f", "f", NULL, NULL, 3, NULL),
                    DT_EINVAL);
    dt__mpw_free(w);
    dt__mpw_free(NULL);
}

static void test_local_file_errors(void)
{
    dt__mpw *w = NULL;
    dt_error e = {0};
    char path[512];
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new("b", &w, NULL), DT_OK);
    snprintf(path, sizeof path, "%s/does-not-exist", g_dir);
    CU_ASSERT_EQUAL(dt__mpw_add_file(w, "f", "f", NULL, path, &e), DT_EFILE);
    CU_ASSERT_EQUAL(e.code, DT_EFILE);
    CU_ASSERT_EQUAL(e.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "No such file or directory"));
    memset(&e, 0, sizeof e);
    CU_ASSERT_EQUAL(dt__mpw_add_file(w, "f", "f", NULL, g_dir, &e), DT_EFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "Is a directory"));
    /* Nothing was added by the failures: the body is only the close. */
    CU_ASSERT_EQUAL(dt__mpw_close(w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_length(w), 2 + 1 + 4);
    dt__mpw_free(w);
}

/* A file that shrinks after its size was taken fails the read with
 * DT_EFILE instead of sending a body shorter than announced. */
static void test_file_shrinks(void)
{
    char path[512], big[10000];
    memset(big, 'x', sizeof big);
    snprintf(path, sizeof path, "%s/shrinks", g_dir);
    write_file(path, big, sizeof big);
    dt__mpw *w = NULL;
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new("b", &w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_file(w, "f", "f", NULL, path, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_close(w, NULL), DT_OK);
    long long declared = dt__mpw_length(w);
    CU_ASSERT_TRUE(declared > (long long)sizeof big);
    CU_ASSERT_EQUAL(truncate(path, 100), 0);
    buf out;
    buf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(drain(w, 4096, &out), -1);
    dt_error e = {0};
    CU_ASSERT_EQUAL(dt__mpw_read_error(w, &e), DT_EFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "shrank"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, path));
    /* Sticky. */
    char c;
    CU_ASSERT_EQUAL(dt__mpw_read(w, &c, 1), (size_t)-1);
    buf_release(&out);
    dt__mpw_free(w);
}

/* A stream (no size known) makes the length unknown and is read to EOF. */
static void test_stream_source(void)
{
    dt__mpw *w = NULL;
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new("b", &w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_file(w, "f", "f", NULL, "/dev/null", NULL),
                    DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_close(w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_length(w), -1);
    buf out;
    buf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(drain(w, 5, &out), 0);
    CU_ASSERT_STRING_EQUAL(buf_str(&out),
                           "--b\r\nContent-Disposition: form-data; name=\"f\"; "
                           "filename=\"f\"\r\nContent-Type: "
                           "application/octet-stream\r\n\r\n\r\n--b--\r\n");
    buf_release(&out);
    dt__mpw_free(w);
}

/* A large local file goes through in bounded chunks with the exact bytes. */
static void test_large_file(void)
{
    char path[512];
    size_t size = 3 * 1024 * 1024 + 17;
    char *data = malloc(size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)(i * 31 + (i >> 11));
    snprintf(path, sizeof path, "%s/large", g_dir);
    write_file(path, data, size);
    dt__mpw *w = NULL;
    CU_ASSERT_EQUAL_FATAL(dt__mpw_new("b", &w, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_add_file(w, "f", "f", NULL, path, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt__mpw_close(w, NULL), DT_OK);
    buf out;
    buf_init(&out, 8 << 20);
    CU_ASSERT_EQUAL(drain(w, 65536, &out), 0);
    CU_ASSERT_EQUAL((long long)out.len, dt__mpw_length(w));
    const char *body = strstr(out.data, "\r\n\r\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(memcmp(body + 4, data, size), 0);
    CU_ASSERT_STRING_EQUAL(body + 4 + size, "\r\n--b--\r\n");
    buf_release(&out);
    dt__mpw_free(w);
    free(data);
    unlink(path);
}

/* ---- the bulk-download decoder ---- */

#define BD "DAYTONA-FILE-BOUNDARY"
#define BD_CT "multipart/form-data; boundary=" BD

static const char k_err404[] =
    "{\"statusCode\":404,\"message\":\"file not found: /nope\","
    "\"code\":\"FILE_NOT_FOUND\",\"timestamp\":\"t\",\"path\":\"/nope\","
    "\"method\":\"POST\"}";

/* The daemon's answer for /a.txt (text), /nope (missing) and "/d/b \"q\""
 * (binary, with a quote in its name), written with the same writer the
 * emulator uses. */
static void daemon_body(buf *b, const char *bin, size_t bin_len)
{
    buf_init(b, 1 << 20);
    mp_write_part_header(b, BD, 1, "file", "/a.txt", 5,
                         "text/plain; charset=utf-8");
    buf_adds(b, "alpha");
    mp_write_part_header(b, BD, 0, "error", "/nope", -1,
                         "application/json; charset=utf-8");
    buf_adds(b, k_err404);
    mp_write_part_header(b, BD, 0, "file", "/d/b \"q\"", (long long)bin_len,
                         NULL);
    buf_add(b, bin, bin_len);
    mp_write_close(b, BD);
}

static const char k_bin[] = "\r\n--DAYTONA-FILE-BOUNDAR\0\xff\r\n-";

/* Decodes body in two chunks split at `split`. */
static dt_code decode(dt_download_item *items, size_t n, const buf *body,
                      size_t split, const char *ct, size_t max_mem,
                      dt_error *e)
{
    dt__bulk_dl *d = NULL;
    dt_code rc = dt__bulk_dl_new(items, n, max_mem, ct, &d, e);
    if (rc != DT_OK)
        return rc;
    if (split > body->len)
        split = body->len;
    if (dt__bulk_dl_feed(d, body->data, split) != 0 ||
        dt__bulk_dl_feed(d, body->data + split, body->len - split) != 0)
        rc = dt__bulk_dl_error(d, e);
    else
        rc = dt__bulk_dl_finish(d, e);
    dt__bulk_dl_free(d);
    return rc;
}

static void check_three(dt_download_item *it, const char *local)
{
    CU_ASSERT_PTR_NULL(it[0].error);
    CU_ASSERT_EQUAL(it[0].len, 5);
    CU_ASSERT_STRING_EQUAL((char *)it[0].data, "alpha");
    CU_ASSERT_PTR_NULL(it[1].data);
    CU_ASSERT_STRING_EQUAL(it[1].error, "file not found: /nope");
    CU_ASSERT_PTR_NULL(it[2].error);
    CU_ASSERT_PTR_NULL(it[2].data);
    size_t n = 0;
    char *got = read_file(local, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(n, sizeof k_bin - 1);
    CU_ASSERT_EQUAL(memcmp(got, k_bin, n), 0);
    free(got);
}

/* Every split offset, routed by path (the items are in another order than
 * the parts), local file written, no temporary file left. */
static void test_split_everywhere(void)
{
    buf body;
    char local[512];
    daemon_body(&body, k_bin, sizeof k_bin - 1);
    snprintf(local, sizeof local, "%s/out.bin", g_dir);
    for (size_t split = 0; split <= body.len; split++) {
        dt_download_item it[3] = {
            {.remote_path = "/a.txt"},
            {.remote_path = "/nope", .local_path = local},
            {.remote_path = "/d/b \"q\"", .local_path = local},
        };
        unlink(local);
        dt_error e = {0};
        CU_ASSERT_EQUAL_FATAL(decode(it, 3, &body, split, BD_CT, 1 << 20, &e),
                              DT_OK);
        check_three(it, local);
        /* The error item's local_path was not touched: only one file. */
        CU_ASSERT_EQUAL(count_entries(".dtdl-"), 0);
        dt_download_items_release(it, 3);
        CU_ASSERT_PTR_NULL(it[0].data);
    }
    buf_release(&body);
    unlink(local);
}

/* Byte by byte through the public feed. */
static void test_byte_by_byte(void)
{
    buf body;
    char local[512];
    daemon_body(&body, k_bin, sizeof k_bin - 1);
    snprintf(local, sizeof local, "%s/one.bin", g_dir);
    dt_download_item it[3] = {
        {.remote_path = "/d/b \"q\"", .local_path = local},
        {.remote_path = "/nope"},
        {.remote_path = "/a.txt"},
    };
    dt__bulk_dl *d = NULL;
    CU_ASSERT_EQUAL_FATAL(dt__bulk_dl_new(it, 3, 1 << 20, BD_CT, &d, NULL),
                          DT_OK);
    for (size_t i = 0; i < body.len; i++)
        CU_ASSERT_EQUAL_FATAL(dt__bulk_dl_feed(d, body.data + i, 1), 0);
    CU_ASSERT_EQUAL(dt__bulk_dl_finish(d, NULL), DT_OK);
    dt__bulk_dl_free(d);
    dt_download_item ordered[3] = {it[2], it[1], it[0]};
    check_three(ordered, local);
    dt_download_items_release(it, 3);
    buf_release(&body);
    unlink(local);
}

/* The same path asked twice gets the two parts in order; a path with no
 * part is the SDK's "No data received"; a non-JSON error part is its
 * text; fields without a filename are ignored. */
static void test_routing_details(void)
{
    buf b;
    buf_init(&b, 1 << 16);
    buf_adds(&b, "preamble\r\n");
    mp_write_part_header(&b, BD, 1, "note", NULL, -1, "text/plain");
    buf_adds(&b, "ignored field");
    mp_write_part_header(&b, BD, 0, "file", "/x", -1, NULL);
    buf_adds(&b, "first");
    mp_write_part_header(&b, BD, 0, "file", "/x", -1, NULL);
    buf_adds(&b, "second");
    mp_write_part_header(&b, BD, 0, "error", "/t", -1, "text/plain");
    buf_adds(&b, "  \r\nplain failure\r\n ");
    mp_write_part_header(&b, BD, 0, "other", "/x", -1, NULL);
    buf_adds(&b, "unknown part names are drained");
    mp_write_close(&b, BD);
    dt_download_item it[4] = {{.remote_path = "/x"}, {.remote_path = "/x"},
                              {.remote_path = "/t"}, {.remote_path = "/none"}};
    CU_ASSERT_EQUAL_FATAL(decode(it, 4, &b, b.len / 2, BD_CT, 100, NULL),
                          DT_OK);
    CU_ASSERT_STRING_EQUAL((char *)it[0].data, "first");
    CU_ASSERT_STRING_EQUAL((char *)it[1].data, "second");
    CU_ASSERT_STRING_EQUAL(it[2].error, "plain failure");
    CU_ASSERT_STRING_EQUAL(it[3].error, "No data received for this file");
    CU_ASSERT_PTR_NULL(it[3].data);
    dt_download_items_release(it, 4);
    buf_release(&b);
}

/* A failure of the whole answer leaves the items untouched, writes no
 * local file and keeps an existing one as it was. */
static void expect_failure(const buf *body, const char *ct, size_t max_mem,
                           dt_code want, const char *msg_part)
{
    char local[512];
    snprintf(local, sizeof local, "%s/keep.txt", g_dir);
    write_file(local, "old", 3);
    for (size_t split = 0; split <= body->len; split += 7) {
        dt_download_item it[2] = {
            {.remote_path = "/a.txt", .data = (void *)0x1, .len = 99},
            {.remote_path = "/b", .local_path = local},
        };
        dt_error e = {0};
        CU_ASSERT_EQUAL(decode(it, 2, body, split, ct, max_mem, &e), want);
        CU_ASSERT_EQUAL(e.code, want);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.message, msg_part));
        CU_ASSERT_PTR_EQUAL(it[0].data, (void *)0x1);
        CU_ASSERT_EQUAL(it[0].len, 99);
        CU_ASSERT_PTR_NULL(it[1].error);
        size_t n = 0;
        char *kept = read_file(local, &n);
        CU_ASSERT_TRUE(kept && n == 3 && memcmp(kept, "old", 3) == 0);
        free(kept);
        CU_ASSERT_EQUAL(count_entries(".dtdl-"), 0);
    }
    unlink(local);
}

static void test_failures(void)
{
    buf b;
    /* Truncated in the middle of the local file's part. */
    buf_init(&b, 1 << 16);
    mp_write_part_header(&b, BD, 1, "file", "/a.txt", -1, NULL);
    buf_adds(&b, "alpha");
    mp_write_part_header(&b, BD, 0, "file", "/b", -1, NULL);
    buf_adds(&b, "new content, cut");
    expect_failure(&b, BD_CT, 1 << 20, DT_EIO, "closing boundary");
    /* A part for a path nobody asked for. */
    buf_reset(&b);
    mp_write_part_header(&b, BD, 1, "file", "/b", -1, NULL);
    buf_adds(&b, "new");
    mp_write_part_header(&b, BD, 0, "file", "/etc/passwd", -1, NULL);
    buf_adds(&b, "root:x:0:0");
    mp_write_close(&b, BD);
    expect_failure(&b, BD_CT, 1 << 20, DT_EPROTO, "/etc/passwd");
    /* Not multipart at all. */
    buf_reset(&b);
    buf_adds(&b, "{\"message\":\"hello\"}");
    expect_failure(&b, "application/json", 1 << 20, DT_EPROTO,
                   "not multipart");
    /* Malformed: a delimiter followed by garbage. */
    buf_reset(&b);
    mp_write_part_header(&b, BD, 1, "file", "/b", -1, NULL);
    buf_adds(&b, "x\r\n--" BD "garbage");
    expect_failure(&b, BD_CT, 1 << 20, DT_EPROTO, "malformed");
    /* An in-memory item over the cap. */
    buf_reset(&b);
    mp_write_part_header(&b, BD, 1, "file", "/a.txt", -1, NULL);
    buf_adds(&b, "0123456789");
    mp_write_close(&b, BD);
    expect_failure(&b, BD_CT, 9, DT_ETOOBIG, "/a.txt");
    buf_release(&b);
}

/* A local destination that cannot be written is that item's error; the
 * others succeed. */
static void test_local_write_error(void)
{
    buf body;
    char bad[512];
    daemon_body(&body, k_bin, sizeof k_bin - 1);
    snprintf(bad, sizeof bad, "%s/no-such-dir/out", g_dir);
    dt_download_item it[3] = {
        {.remote_path = "/a.txt"}, {.remote_path = "/nope"},
        {.remote_path = "/d/b \"q\"", .local_path = bad},
    };
    CU_ASSERT_EQUAL_FATAL(decode(it, 3, &body, 10, BD_CT, 1 << 20, NULL),
                          DT_OK);
    CU_ASSERT_STRING_EQUAL((char *)it[0].data, "alpha");
    CU_ASSERT_PTR_NOT_NULL_FATAL(it[2].error);
    CU_ASSERT_PTR_NOT_NULL(strstr(it[2].error, bad));
    CU_ASSERT_PTR_NOT_NULL(strstr(it[2].error, "No such file or directory"));
    dt_download_items_release(it, 3);
    /* A directory as destination. */
    dt_download_item it2[3] = {
        {.remote_path = "/a.txt"}, {.remote_path = "/nope"},
        {.remote_path = "/d/b \"q\"", .local_path = g_dir},
    };
    CU_ASSERT_EQUAL_FATAL(decode(it2, 3, &body, 0, BD_CT, 1 << 20, NULL),
                          DT_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(it2[2].error ? it2[2].error : "",
                                  "Is a directory"));
    dt_download_items_release(it2, 3);
    buf_release(&body);
}

/* ---- local destinations ---- */

static void test_ltmp(void)
{
    char local[512];
    dt__ltmp t;
    dt_error e = {0};
    snprintf(local, sizeof local, "%s/lt.txt", g_dir);
    write_file(local, "previous", 8);
    CU_ASSERT_EQUAL_FATAL(dt__ltmp_open(&t, local, &e), DT_OK);
    CU_ASSERT_PTR_NOT_NULL(t.tmp_path);
    CU_ASSERT_EQUAL(dt__ltmp_write(&t, "new", 3, &e), DT_OK);
    CU_ASSERT_EQUAL(count_entries(".dtdl-"), 1);
    dt__ltmp_abort(&t);   /* failed transfer: the old file stays */
    CU_ASSERT_EQUAL(count_entries(".dtdl-"), 0);
    size_t n = 0;
    char *got = read_file(local, &n);
    CU_ASSERT_STRING_EQUAL(got, "previous");
    free(got);
    CU_ASSERT_EQUAL_FATAL(dt__ltmp_open(&t, local, &e), DT_OK);
    CU_ASSERT_EQUAL(dt__ltmp_write(&t, "new", 3, &e), DT_OK);
    CU_ASSERT_EQUAL(dt__ltmp_commit(&t, &e), DT_OK);
    dt__ltmp_abort(&t);   /* after commit: frees only */
    got = read_file(local, &n);
    CU_ASSERT_STRING_EQUAL(got, "new");
    free(got);
    CU_ASSERT_EQUAL(count_entries(".dtdl-"), 0);
    /* Relative paths write in the current directory's terms. */
    CU_ASSERT_EQUAL(dt__ltmp_open(&t, "", &e), DT_EINVAL);
    /* A device is written directly. */
    CU_ASSERT_EQUAL_FATAL(dt__ltmp_open(&t, "/dev/null", &e), DT_OK);
    CU_ASSERT_PTR_NULL(t.tmp_path);
    CU_ASSERT_EQUAL(dt__ltmp_write(&t, "x", 1, &e), DT_OK);
    CU_ASSERT_EQUAL(dt__ltmp_commit(&t, &e), DT_OK);
    dt__ltmp_abort(&t);
    CU_ASSERT_EQUAL(dt__ltmp_open(&t, g_dir, &e), DT_EFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "Is a directory"));
    unlink(local);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("upload body", suite_init, suite_clean);
    CU_add_test(s, "exact bytes", test_exact_body);
    CU_add_test(s, "every read size", test_every_read_size);
    CU_add_test(s, "round trip", test_round_trip);
    CU_add_test(s, "same bytes as form-data 4", test_same_as_formdata4);
    CU_add_test(s, "quoting", test_quoting);
    CU_add_test(s, "random boundary", test_random_boundary);
    CU_add_test(s, "misuse", test_misuse);
    CU_add_test(s, "local file errors", test_local_file_errors);
    CU_add_test(s, "file shrinks", test_file_shrinks);
    CU_add_test(s, "stream source", test_stream_source);
    CU_add_test(s, "large file", test_large_file);
    s = CU_add_suite("bulk download", suite_init, suite_clean);
    CU_add_test(s, "split at every offset", test_split_everywhere);
    CU_add_test(s, "byte by byte", test_byte_by_byte);
    CU_add_test(s, "routing details", test_routing_details);
    CU_add_test(s, "whole-answer failures", test_failures);
    CU_add_test(s, "local write error", test_local_write_error);
    CU_add_test(s, "local destinations", test_ltmp);
    return cu_run_and_cleanup();
}
