/*
 * test_record_norm.c - record mode's normalization (emulator/record_norm):
 * placeholders for ids, names and times, redaction of secrets wherever
 * they appear, paths segment by segment, queries, JSON in place.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>

#include "cu_run.h"
#include "record_norm.h"

static rec_norm *n;

static int setup(void)
{
    n = rec_norm_new();
    return n ? 0 : -1;
}

static int teardown(void)
{
    rec_norm_free(n);
    n = NULL;
    return 0;
}

static void expect(const char *in, const char *want)
{
    char *got = rec_norm_string(n, in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  '%s' -> '%s', want '%s'\n", in, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_shapes(void)
{
    static const struct { const char *in, *want; } cases[] = {
        {"d5555c9b-0b90-470f-83ae-d7185f93d6b6", "<id>"},
        {"/sandbox/D5555C9B-0B90-470F-83AE-D7185F93D6B6/x", "/sandbox/<id>/x"},
        /* not a UUID: a group too long */
        {"d5555c9b0-0b90-470f-83ae-d7185f93d6b6", "d5555c9b0-0b90-470f-83ae-d7185f93d6b6"},
        {"2026-06-23T13:00:00.000Z", "<time>"},
        {"at 2026-06-23T13:00:00Z, ok", "at <time>, ok"},
        {"2026-06-23T13:00:00.123+02:00", "<time>"},
        {"2026-06-23 12:00:00.123456789 +0000 UTC", "<time>"},
        {"DESTROYED_box_1719000000000", "DESTROYED_box_<time>"},
        {"run 0123456789abcdef end", "run <id> end"},
        {"0123456789abcde", "0123456789abcde"},          /* 15 hex: kept */
        {"port 3000", "port 3000"},
        {"12345678901", "12345678901"},                  /* 11 digits: kept */
        {"Authorization: Bearer abc.def", "Authorization: <redacted>"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect(cases[i].in, cases[i].want);
}

static void test_secrets_everywhere(void)
{
    rec_norm_add_secret(n, "dtn_supersecretkey");
    rec_norm_add_secret(n, "abc");    /* too short: ignored */
    expect("key=dtn_supersecretkey;", "key=<redacted>;");
    expect("xdtn_supersecretkeyx", "x<redacted>x");
    expect("abc", "abc");
}

static void test_learned(void)
{
    cJSON *j = cJSON_Parse("{\"id\":\"sbx-fixed-1\",\"name\":\"my-box-name\","
                           "\"files\":[{\"name\":\"plain.txt\"}],"
                           "\"token\":\"tok-0000-secret\","
                           "\"nested\":{\"sessionId\":\"sess-abcdef\"}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    rec_norm_learn_json(n, j);
    expect("sbx-fixed-1", "<id>");
    expect("my-box-name", "<name>");
    expect("sess-abcdef", "<id>");
    /* a name of an object without an id is data, not a generated name */
    expect("plain.txt", "plain.txt");
    expect("url with tok-0000-secret inside", "url with <redacted> inside");
    expect("http://3000-sbx-fixed-1.proxy", "http://3000-<id>.proxy");

    CU_ASSERT_EQUAL(rec_norm_json(n, j), 0);
    char *text = cJSON_PrintUnformatted(j);
    CU_ASSERT_STRING_EQUAL(text, "{\"id\":\"<id>\",\"name\":\"<name>\","
                           "\"files\":[{\"name\":\"plain.txt\"}],"
                           "\"token\":\"<redacted>\","
                           "\"nested\":{\"sessionId\":\"<id>\"}}");
    free(text);
    cJSON_Delete(j);
}

static void test_path_and_query(void)
{
    rec_norm_learn(n, "my session", "<id>");
    char *p = rec_norm_path(n, "/toolbox/d5555c9b-0b90-470f-83ae-d7185f93d6b6/"
                               "process/session/my%20session/exec");
    CU_ASSERT_STRING_EQUAL(p, "/toolbox/<id>/process/session/<id>/exec");
    free(p);
    p = rec_norm_path(n, "/api/sandbox/a%2Fb/ports/3000/preview-url");
    CU_ASSERT_STRING_EQUAL(p, "/api/sandbox/a%2Fb/ports/3000/preview-url");
    free(p);

    cJSON *q = rec_norm_query(n, "force=false&states=a&states=b&path=%2Ftmp%2Fx+y"
                                 "&DAYTONA_SANDBOX_AUTH_KEY=q-secret-1&flag");
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    char *t = cJSON_PrintUnformatted(q);
    CU_ASSERT_STRING_EQUAL(t, "{\"force\":\"false\",\"states\":[\"a\",\"b\"],"
                           "\"path\":\"/tmp/x y\",\"DAYTONA_SANDBOX_AUTH_KEY\":"
                           "\"<redacted>\",\"flag\":\"\"}");
    free(t);
    cJSON_Delete(q);
    /* the query's secret is now known everywhere */
    expect("echo q-secret-1", "echo <redacted>");
    q = rec_norm_query(n, NULL);
    CU_ASSERT(q && q->child == NULL);
    cJSON_Delete(q);
}

static void test_secret_names(void)
{
    static const char *const yes[] = {"token", "X-Daytona-Preview-Token",
        "Authorization", "apiKey", "api_key", "DAYTONA_SANDBOX_AUTH_KEY", "key",
        "signature", "password", "clientSecret", "Cookie"};
    static const char *const no[] = {"name", "labels", "keys", "path", "id",
        "monkey", "author"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CU_ASSERT_EQUAL(rec_norm_secret_name(yes[i]), 1);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CU_ASSERT_EQUAL(rec_norm_secret_name(no[i]), 0);
}

/* Values under secret keys go whatever their depth; numbers stay. */
static void test_json_secret_subtrees(void)
{
    cJSON *j = cJSON_Parse("{\"env\":{\"API_TOKEN\":\"v1-secret\",\"X\":\"1\"},"
                           "\"credentials\":[\"c1\",{\"u\":\"c2\"}],\"tokenTtl\":60}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(rec_norm_json(n, j), 0);
    char *t = cJSON_PrintUnformatted(j);
    CU_ASSERT_STRING_EQUAL(t, "{\"env\":{\"API_TOKEN\":\"<redacted>\",\"X\":\"1\"},"
                           "\"credentials\":[\"<redacted>\",{\"u\":\"<redacted>\"}],"
                           "\"tokenTtl\":60}");
    free(t);
    cJSON_Delete(j);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("record_norm", setup, teardown);
    CU_add_test(s, "shape rules", test_shapes);
    CU_add_test(s, "secrets replaced anywhere", test_secrets_everywhere);
    CU_add_test(s, "learned ids and names", test_learned);
    CU_add_test(s, "paths and queries", test_path_and_query);
    CU_add_test(s, "secret names", test_secret_names);
    CU_add_test(s, "secret subtrees in JSON", test_json_secret_subtrees);
    return cu_run_and_cleanup();
}
