/*
 * test_rnd_time.c - tests for common/rnd.c (random bytes, v4 UUIDs, tokens)
 * and common/timeutil.c (clocks, ISO-8601 formatting and parsing).
 *
 * Randomness is checked by shape (length, alphabet, version and variant
 * bits) and by the absence of repeats, never by exact values; the UUID and
 * time formatting of fixed inputs is checked exactly.
 */
#include "rnd.h"
#include "timeutil.h"

#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_run.h"

/* ---- rnd ---- */

static void test_rnd_bytes(void)
{
    uint8_t a[64], b[64];
    CU_ASSERT_EQUAL(rnd_bytes(a, 0), 0);
    CU_ASSERT_EQUAL(rnd_bytes(a, sizeof a), 0);
    CU_ASSERT_EQUAL(rnd_bytes(b, sizeof b), 0);
    /* 2^-512 chance of a false failure. */
    CU_ASSERT(memcmp(a, b, sizeof a) != 0);

    /* Over 256 bytes getrandom may return short: the loop must fill all. */
    size_t n = 1 << 20;
    uint8_t *big = calloc(1, n);
    CU_ASSERT_FATAL(big != NULL);
    CU_ASSERT_EQUAL(rnd_bytes(big, n), 0);
    /* The last 64 bytes all zero would mean the tail was never written. */
    static const uint8_t zero[64];
    CU_ASSERT(memcmp(big + n - 64, zero, 64) != 0);
    free(big);
}

static int uuid_shape_ok(const char *u)
{
    if (strlen(u) != 36 || !uuid_is_valid(u))
        return 0;
    for (int i = 0; i < 36; i++) {
        if (u[i] >= 'A' && u[i] <= 'F')
            return 0; /* must be lowercase */
    }
    return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static void test_rnd_uuid(void)
{
    enum { N = 200 };
    static char ids[N][UUID_STR_LEN];
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL_FATAL(rnd_uuid(ids[i]), 0);
        CU_ASSERT(uuid_shape_ok(ids[i]));
    }
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++)
            CU_ASSERT(strcmp(ids[i], ids[j]) != 0);
    }
}

static void test_uuid_format(void)
{
    static const struct {
        unsigned char in[16];
        const char *out;
    } cases[] = {
        {{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
          0x0b, 0x0c, 0x0d, 0x0e, 0x0f},
         "00010203-0405-4607-8809-0a0b0c0d0e0f"},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff},
         "ffffffff-ffff-4fff-bfff-ffffffffffff"},
        {{0}, "00000000-0000-4000-8000-000000000000"},
        {{0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde,
          0xf0, 0x01, 0x23, 0x45, 0x67},
         "deadbeef-1234-4678-9abc-def001234567"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[UUID_STR_LEN];
        memset(out, 'X', sizeof out);
        uuid_format(cases[i].in, out);
        CU_ASSERT_STRING_EQUAL(out, cases[i].out);
        CU_ASSERT(uuid_shape_ok(out));
    }
}

static void test_uuid_is_valid(void)
{
    static const struct {
        const char *s;
        int valid;
    } cases[] = {
        {"00010203-0405-4607-8809-0a0b0c0d0e0f", 1},
        {"DEADBEEF-1234-4678-9ABC-DEF001234567", 1}, /* case-insensitive */
        {"deadbeef-1234-1678-9abc-def001234567", 1}, /* any version */
        {"00000000-0000-0000-0000-000000000000", 1},
        {"", 0},
        {"00010203-0405-4607-8809-0a0b0c0d0e0", 0},   /* 35 chars */
        {"00010203-0405-4607-8809-0a0b0c0d0e0f0", 0}, /* 37 chars */
        {"00010203-0405-4607-8809-0a0b0c0d0e0f ", 0}, /* trailing space */
        {"000102030405-4607-8809-0a0b0c0d0e0f00", 0}, /* dash misplaced */
        {"00010203_0405_4607_8809_0a0b0c0d0e0f", 0},
        {"0001020-30405-4607-8809-0a0b0c0d0e0f", 0},
        {"g0010203-0405-4607-8809-0a0b0c0d0e0f", 0},  /* not hex */
        {"00010203-0405-4607-8809-0a0b0c0d0e0g", 0},
        {"{00010203-0405-4607-8809-0a0b0c0d0e0f}", 0},
        {"000102030405460788090a0b0c0d0e0f", 0},     /* no dashes */
        {"../../etc/passwd-aaaa-aaaa-aaaaaaaaaa", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CU_ASSERT_EQUAL(uuid_is_valid(cases[i].s), cases[i].valid);
    CU_ASSERT_EQUAL(uuid_is_valid(NULL), 0);
}

static void test_rnd_token(void)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    int seen[36] = {0};
    char tok[64];

    for (int round = 0; round < 200; round++) {
        size_t n = (round % 2) ? 32 : 16;
        memset(tok, 'X', sizeof tok);
        CU_ASSERT_EQUAL_FATAL(rnd_token(tok, n), 0);
        CU_ASSERT_EQUAL(strlen(tok), n);
        for (size_t i = 0; i < n; i++) {
            const char *at = strchr(alphabet, tok[i]);
            CU_ASSERT_FATAL(at != NULL && tok[i] != '\0');
            seen[at - alphabet]++;
        }
    }
    /* 4800 draws: each symbol expected ~133 times.  Missing one, or one
     * far off the mean, means a broken mapping, not bad luck. */
    for (int i = 0; i < 36; i++) {
        CU_ASSERT(seen[i] > 50);
        CU_ASSERT(seen[i] < 250);
    }

    CU_ASSERT_EQUAL(rnd_token(tok, 0), 0);
    CU_ASSERT_STRING_EQUAL(tok, "");

    /* Longer than the internal random pool: filled in several rounds. */
    char longtok[301];
    memset(longtok, 'X', sizeof longtok);
    CU_ASSERT_EQUAL(rnd_token(longtok, 300), 0);
    CU_ASSERT_EQUAL(strlen(longtok), 300);
    CU_ASSERT_EQUAL(strspn(longtok, alphabet), 300);

    char a[33], b[33];
    CU_ASSERT_EQUAL(rnd_token(a, 32), 0);
    CU_ASSERT_EQUAL(rnd_token(b, 32), 0);
    CU_ASSERT(strcmp(a, b) != 0);
}

/* ---- time ---- */

static void test_clocks(void)
{
    int64_t now = time_now_ms();
    /* After 2024-01-01 and before 2100-01-01. */
    CU_ASSERT(now > INT64_C(1704067200000));
    CU_ASSERT(now < INT64_C(4102444800000));
    int64_t m1 = time_mono_ms();
    int64_t m2 = time_mono_ms();
    CU_ASSERT(m2 >= m1);
}

static const struct {
    int64_t ms;
    const char *iso;
} ISO_FORMAT[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {1, "1970-01-01T00:00:00.001Z"},
    {999, "1970-01-01T00:00:00.999Z"},
    {-1, "1969-12-31T23:59:59.999Z"},
    {-1000, "1969-12-31T23:59:59.000Z"},
    {-1001, "1969-12-31T23:59:58.999Z"},
    {INT64_C(1000000000000), "2001-09-09T01:46:40.000Z"},
    {INT64_C(1782219600000), "2026-06-23T13:00:00.000Z"},
    {INT64_C(1782219600123), "2026-06-23T13:00:00.123Z"},
    {INT64_C(951868799999), "2000-02-29T23:59:59.999Z"},
    {INT64_C(1709208000000), "2024-02-29T12:00:00.000Z"},
    {INT64_C(-62167219200000), "0000-01-01T00:00:00.000Z"},
    {INT64_C(253402300799999), "9999-12-31T23:59:59.999Z"},
    /* Outside four-digit years the value is clamped. */
    {INT64_C(253402300800000), "9999-12-31T23:59:59.999Z"},
    {INT64_MAX, "9999-12-31T23:59:59.999Z"},
    {INT64_C(-62167219200001), "0000-01-01T00:00:00.000Z"},
    {INT64_MIN, "0000-01-01T00:00:00.000Z"},
};

static void test_iso_format(void)
{
    for (size_t i = 0; i < sizeof ISO_FORMAT / sizeof ISO_FORMAT[0]; i++) {
        char out[ISO8601_LEN];
        memset(out, 'X', sizeof out);
        time_iso8601(ISO_FORMAT[i].ms, out);
        CU_ASSERT_STRING_EQUAL(out, ISO_FORMAT[i].iso);
    }
}

static void test_iso_parse(void)
{
    static const struct {
        const char *s;
        int rc;
        int64_t ms;
    } cases[] = {
        {"2026-06-23T13:00:00Z", 0, INT64_C(1782219600000)},
        {"2026-06-23T13:00:00.123Z", 0, INT64_C(1782219600123)},
        {"2026-06-23T13:00:00.123+02:00", 0, INT64_C(1782212400123)},
        {"2026-06-23T13:00:00-05:30", 0, INT64_C(1782239400000)},
        {"2026-06-23T13:00:00+00:00", 0, INT64_C(1782219600000)},
        {"2026-06-23T13:00:00-00:00", 0, INT64_C(1782219600000)},
        {"2026-06-23T13:00:00.1Z", 0, INT64_C(1782219600100)},
        {"2026-06-23T13:00:00.12Z", 0, INT64_C(1782219600120)},
        {"2026-06-23T13:00:00.123456Z", 0, INT64_C(1782219600123)},
        {"2026-06-23T13:00:00.999999999Z", 0, INT64_C(1782219600999)},
        {"2026-01-01T00:30:00+01:00", 0, INT64_C(1767223800000)},
        {"1970-01-01T00:00:00+14:00", 0, INT64_C(-50400000)},
        {"1969-12-31T23:59:59.999Z", 0, -1},
        {"2000-02-29T23:59:59.999Z", 0, INT64_C(951868799999)},
        {"0000-01-01T00:00:00.000Z", 0, INT64_C(-62167219200000)},
        {"9999-12-31T23:59:59.999Z", 0, INT64_C(253402300799999)},
        /* Rejected. */
        {"", -1, 0},
        {"2026-06-23", -1, 0},
        {"2026-06-23T13:00:00", -1, 0},       /* no zone */
        {"2026-06-23T13:00Z", -1, 0},         /* no seconds */
        {"2026-06-23 13:00:00Z", -1, 0},      /* space for T */
        {"2026-06-23t13:00:00z", -1, 0},      /* lower case */
        {"2026-6-23T13:00:00Z", -1, 0},       /* not fixed width */
        {"26-06-23T13:00:00Z", -1, 0},
        {"+2026-06-23T13:00:00Z", -1, 0},
        {" 2026-06-23T13:00:00Z", -1, 0},
        {"2026-06-23T13:00:00Z ", -1, 0},     /* trailing text */
        {"2026-06-23T13:00:00ZZ", -1, 0},
        {"2026-06-23T13:00:00.Z", -1, 0},     /* empty fraction */
        {"2026-06-23T13:00:00,123Z", -1, 0},
        {"2026-06-23T13:00:00+02", -1, 0},    /* offset needs minutes */
        {"2026-06-23T13:00:00+0200", -1, 0},  /* and the colon */
        {"2026-06-23T13:00:00+24:00", -1, 0},
        {"2026-06-23T13:00:00+02:60", -1, 0},
        {"2026-13-01T00:00:00Z", -1, 0},
        {"2026-00-01T00:00:00Z", -1, 0},
        {"2026-06-00T00:00:00Z", -1, 0},
        {"2026-06-31T00:00:00Z", -1, 0},
        {"2026-02-29T00:00:00Z", -1, 0},      /* not a leap year */
        {"1900-02-29T00:00:00Z", -1, 0},      /* century, not leap */
        {"2026-06-23T24:00:00Z", -1, 0},
        {"2026-06-23T13:60:00Z", -1, 0},
        {"2026-06-23T13:00:60Z", -1, 0},      /* no leap seconds */
        {"2026-06-23T13:00:0aZ", -1, 0},
        {"not a date", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 42;
        int rc = time_parse_iso8601(cases[i].s, &ms);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        if (rc != cases[i].rc)
            fprintf(stderr, "\n  case %zu: \"%s\" rc=%d\n", i, cases[i].s, rc);
        if (cases[i].rc == 0) {
            CU_ASSERT_EQUAL(ms, cases[i].ms);
        } else {
            CU_ASSERT_EQUAL(ms, 42); /* out-parameter untouched on error */
        }
    }
    int64_t ms = 42;
    CU_ASSERT_EQUAL(time_parse_iso8601(NULL, &ms), -1);
}

/* format -> parse is the identity over the whole four-digit-year range. */
static void test_iso_roundtrip(void)
{
    uint64_t x = 88172645463325252u; /* xorshift64: reproducible inputs */
    for (int i = 0; i < 5000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t span = INT64_C(253402300799999) + INT64_C(62167219200000);
        int64_t ms = (int64_t)(x % (uint64_t)span) - INT64_C(62167219200000);
        char out[ISO8601_LEN];
        int64_t back = 0;
        time_iso8601(ms, out);
        CU_ASSERT_EQUAL(strlen(out), 24);
        CU_ASSERT_EQUAL_FATAL(time_parse_iso8601(out, &back), 0);
        CU_ASSERT_EQUAL_FATAL(back, ms);
    }
    char now[ISO8601_LEN];
    int64_t t = time_now_ms(), back = 0;
    time_iso8601(t, now);
    CU_ASSERT_EQUAL(time_parse_iso8601(now, &back), 0);
    CU_ASSERT_EQUAL(back, t);
}

int main(void)
{
    static const cu_test tests[] = {
        {"rnd", "rnd_bytes", test_rnd_bytes},
        {"rnd", "rnd_uuid v4 shape and uniqueness", test_rnd_uuid},
        {"rnd", "uuid_format known bytes", test_uuid_format},
        {"rnd", "uuid_is_valid table", test_uuid_is_valid},
        {"rnd", "rnd_token alphabet, length, spread", test_rnd_token},
        {"time", "clocks", test_clocks},
        {"time", "ISO-8601 format table", test_iso_format},
        {"time", "ISO-8601 parse table", test_iso_parse},
        {"time", "ISO-8601 round trip", test_iso_roundtrip},
    };
    return cu_run_table(tests, sizeof tests / sizeof tests[0], NULL, NULL);
}
