/*
 * record_norm.c - placeholders for generated values and redaction of
 * secrets in recorded exchanges (see record_norm.h for the rules).
 *
 * Every rewrite is a pass over the string that copies it into a bounded
 * buffer, replacing matches; passes run in a fixed order: secrets first (a
 * token must never survive because a later rule rewrote part of it), then
 * "Bearer ..." texts, times, learned values, UUIDs, hex runs, digit runs.
 * Placeholders contain '<' and letters only, so no later pass matches them.
 */
#include "record_norm.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

/* Bounds: a recording holds a few hundred ids; the caps only stop a
 * runaway client from growing the tables without limit.  Past the cap new
 * ids are not learned (shape rules still apply); secrets are always kept. */
#define MAX_LEARNED 16384
#define MAX_STRING (64u * 1024 * 1024)

typedef struct {
    char *value;
    size_t len;
    const char *ph;      /* placeholder; NULL for secrets */
} entry;

typedef struct {
    entry *v;
    size_t n, cap;
} table;

struct rec_norm {
    pthread_mutex_t mu;
    table secrets;       /* longest first */
    table learned;       /* longest first */
};

static const char REDACTED[] = "<redacted>";

rec_norm *rec_norm_new(void)
{
    rec_norm *n = calloc(1, sizeof *n);
    if (n)
        pthread_mutex_init(&n->mu, NULL);
    return n;
}

static void table_release(table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].value);
    free(t->v);
    memset(t, 0, sizeof *t);
}

void rec_norm_free(rec_norm *n)
{
    if (!n)
        return;
    table_release(&n->secrets);
    table_release(&n->learned);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

/* Inserts keeping the table sorted by length, longest first, so a value
 * that contains another is replaced whole.  Duplicates are skipped. */
static void table_add(table *t, const char *value, const char *ph, size_t cap)
{
    size_t len = strlen(value);
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].len == len && memcmp(t->v[i].value, value, len) == 0)
            return;
    if (t->n >= cap)
        return;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 32;
        entry *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv)
            return;
        t->v = nv;
        t->cap = nc;
    }
    char *copy = strdup(value);
    if (!copy)
        return;
    size_t at = 0;
    while (at < t->n && t->v[at].len >= len)
        at++;
    memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof *t->v);
    t->v[at] = (entry){copy, len, ph};
    t->n++;
}

void rec_norm_add_secret(rec_norm *n, const char *value)
{
    if (!n || !value || strlen(value) < 4)
        return;
    pthread_mutex_lock(&n->mu);
    /* Secrets are never dropped for a cap: a leak is worse than memory. */
    table_add(&n->secrets, value, NULL, (size_t)-1);
    pthread_mutex_unlock(&n->mu);
}

void rec_norm_learn(rec_norm *n, const char *value, const char *placeholder)
{
    if (!n || !value || strlen(value) < 6)
        return;
    pthread_mutex_lock(&n->mu);
    table_add(&n->learned, value, placeholder, MAX_LEARNED);
    pthread_mutex_unlock(&n->mu);
}

int rec_norm_secret_name(const char *name)
{
    static const char *const parts[] = {
        "token", "secret", "password", "passwd", "apikey", "api_key",
        "api-key", "authorization", "credential", "signature", "auth_key",
        "authkey", "private"};
    static const char *const whole[] = {"key", "auth", "sig", "cookie"};
    if (!name)
        return 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strcasestr(name, parts[i]))
            return 1;
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
        if (strcasecmp(name, whole[i]) == 0)
            return 1;
    return 0;
}

/* ---------- learning from JSON ---------- */

static int id_key(const char *k)
{
    static const char *const keys[] = {
        "id", "sandboxId", "sessionId", "cmdId", "commandId", "contextId",
        "organizationId", "runnerId", "snapshotId", "volumeId", "userId"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

static void learn_locked(rec_norm *n, const cJSON *j, int depth)
{
    /* Depth bound: recorded JSON comes from a peer, and recursion on a
     * hostile document must not exhaust the stack. */
    if (!j || depth > 64)
        return;
    if (cJSON_IsObject(j)) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        for (const cJSON *c = j->child; c; c = c->next) {
            const char *k = c->string ? c->string : "";
            if (cJSON_IsString(c) && c->valuestring) {
                size_t l = strlen(c->valuestring);
                if (rec_norm_secret_name(k) && l >= 4)
                    table_add(&n->secrets, c->valuestring, NULL, (size_t)-1);
                else if (id_key(k) && l >= 6)
                    table_add(&n->learned, c->valuestring, "<id>", MAX_LEARNED);
                else if (strcmp(k, "name") == 0 && id && l >= 6)
                    table_add(&n->learned, c->valuestring, "<name>", MAX_LEARNED);
            } else {
                learn_locked(n, c, depth + 1);
            }
        }
    } else if (cJSON_IsArray(j)) {
        for (const cJSON *c = j->child; c; c = c->next)
            learn_locked(n, c, depth + 1);
    }
}

void rec_norm_learn_json(rec_norm *n, const cJSON *j)
{
    if (!n || !j)
        return;
    pthread_mutex_lock(&n->mu);
    learn_locked(n, j, 0);
    pthread_mutex_unlock(&n->mu);
}

/* ---------- string passes ---------- */

/* A matcher looks at s[i..] (s is the whole string, for boundary checks)
 * and returns the length of a match, 0 for none. */
typedef size_t (*matcher)(const char *s, size_t i, const void *arg);

/* Copies s replacing every match of m by rep.  Returns a new string, or
 * NULL on OOM. */
static char *pass(const char *s, matcher m, const void *arg, const char *rep)
{
    buf b;
    buf_init(&b, MAX_STRING);
    size_t i = 0, start = 0;
    int ok = 1;
    while (s[i] && ok) {
        size_t l = m(s, i, arg);
        if (l == 0) {
            i++;
            continue;
        }
        ok = buf_add(&b, s + start, i - start) == BUF_OK &&
             buf_adds(&b, rep) == BUF_OK;
        i += l;
        start = i;
    }
    if (ok && buf_add(&b, s + start, i - start) == BUF_OK &&
        buf_add(&b, "", 0) == BUF_OK) {
        size_t len;
        return buf_detach(&b, &len);
    }
    buf_release(&b);
    return NULL;
}

/* Runs a pass and swaps the result into *s.  Returns 0, -1 on OOM. */
static int apply(char **s, matcher m, const void *arg, const char *rep)
{
    char *r = pass(*s, m, arg, rep);
    if (!r)
        return -1;
    free(*s);
    *s = r;
    return 0;
}

static size_t m_literal(const char *s, size_t i, const void *arg)
{
    const entry *e = arg;
    return strncmp(s + i, e->value, e->len) == 0 ? e->len : 0;
}

/* "Bearer <credentials>" (any case): the whole phrase goes. */
static size_t m_bearer(const char *s, size_t i, const void *arg)
{
    (void)arg;
    if (strncasecmp(s + i, "bearer", 6) != 0)
        return 0;
    if (i > 0 && isalnum((unsigned char)s[i - 1]))
        return 0;
    size_t j = i + 6;
    while (s[j] == ' ' || s[j] == '\t')
        j++;
    size_t k = j;
    while (s[k] && !isspace((unsigned char)s[k]) && s[k] != '"' && s[k] != ',')
        k++;
    /* "Bearer" alone (in a message such as "Bearer token required") is
     * still a word to drop: the recordings must not contain it at all. */
    return k - i;
}

static int digits(const char *p, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return 0;
    return 1;
}

/* Length of a zone suffix at p: Z, +hh:mm, +hhmm, " +0000 UTC", or 0. */
static size_t zone_len(const char *p)
{
    if (*p == 'Z')
        return 1;
    if ((*p == '+' || *p == '-') && digits(p + 1, 2)) {
        if (p[3] == ':' && digits(p + 4, 2))
            return 6;
        if (digits(p + 3, 2))
            return 5;
    }
    if (*p == ' ' && (p[1] == '+' || p[1] == '-') && digits(p + 2, 4)) {
        size_t l = 6;
        if (p[l] == ' ' && isupper((unsigned char)p[l + 1])) {
            size_t k = l + 1;
            while (isupper((unsigned char)p[k]))
                k++;
            l = k;
        }
        return l;
    }
    return 0;
}

/* ISO-8601 (2026-06-23T13:00:00.000Z) or Go's time text
 * (2026-06-23 12:00:00.123456789 +0000 UTC). */
static size_t m_time(const char *s, size_t i, const void *arg)
{
    (void)arg;
    const char *p = s + i;
    if (i > 0 && isdigit((unsigned char)s[i - 1]))
        return 0;
    if (!digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' ||
        !digits(p + 8, 2) || (p[10] != 'T' && p[10] != ' ') ||
        !digits(p + 11, 2) || p[13] != ':' || !digits(p + 14, 2))
        return 0;
    size_t l = 16;
    if (p[l] == ':' && digits(p + l + 1, 2))
        l += 3;
    if ((p[l] == '.' || p[l] == ',') && isdigit((unsigned char)p[l + 1])) {
        l++;
        while (isdigit((unsigned char)p[l]))
            l++;
    }
    return l + zone_len(p + l);
}

static int hexc(char c)
{
    return isxdigit((unsigned char)c) != 0;
}

static size_t m_uuid(const char *s, size_t i, const void *arg)
{
    (void)arg;
    static const int groups[] = {8, 4, 4, 4, 12};
    const char *p = s + i;
    if (i > 0 && hexc(s[i - 1]))
        return 0;
    size_t l = 0;
    for (int g = 0; g < 5; g++) {
        for (int k = 0; k < groups[g]; k++, l++)
            if (!hexc(p[l]))
                return 0;
        if (g < 4 && p[l++] != '-')
            return 0;
    }
    return hexc(p[l]) ? 0 : l;
}

/* A word-bounded run of at least `*min` characters of one class. */
typedef struct {
    int (*cls)(int);
    size_t min;
} run_spec;

static int is_hex_int(int c) { return isxdigit(c); }
static int is_digit_int(int c) { return isdigit(c); }

static size_t m_run(const char *s, size_t i, const void *arg)
{
    const run_spec *r = arg;
    if (i > 0 && isalnum((unsigned char)s[i - 1]))
        return 0;
    size_t l = 0;
    while (s[i + l] && r->cls((unsigned char)s[i + l]))
        l++;
    if (l < r->min || isalnum((unsigned char)s[i + l]))
        return 0;
    return l;
}

/* The passes, with n->mu held. */
static char *norm_locked(rec_norm *n, const char *s)
{
    static const run_spec hex16 = {is_hex_int, 16};
    static const run_spec dig12 = {is_digit_int, 12};
    char *out = strdup(s);
    if (!out)
        return NULL;
    int rc = 0;
    for (size_t i = 0; i < n->secrets.n && rc == 0; i++)
        if (strstr(out, n->secrets.v[i].value))
            rc = apply(&out, m_literal, &n->secrets.v[i], REDACTED);
    if (rc == 0)
        rc = apply(&out, m_bearer, NULL, REDACTED);
    if (rc == 0)
        rc = apply(&out, m_time, NULL, "<time>");
    for (size_t i = 0; i < n->learned.n && rc == 0; i++) {
        const entry *e = &n->learned.v[i];
        if (strcmp(out, e->value) == 0) {
            free(out);
            return strdup(e->ph);
        }
        /* Inside longer text only values long enough not to be words. */
        if (e->len >= 8 && strstr(out, e->value))
            rc = apply(&out, m_literal, e, e->ph);
    }
    if (rc == 0)
        rc = apply(&out, m_uuid, NULL, "<id>");
    if (rc == 0)
        rc = apply(&out, m_run, &hex16, "<id>");
    if (rc == 0)
        rc = apply(&out, m_run, &dig12, "<time>");
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

char *rec_norm_string(rec_norm *n, const char *s)
{
    if (!s)
        s = "";
    pthread_mutex_lock(&n->mu);
    char *r = norm_locked(n, s);
    pthread_mutex_unlock(&n->mu);
    return r;
}

/* ---------- paths and queries ---------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) (and '+' as space when plus); NULL on OOM. */
static char *decode(const char *s, size_t len, int plus)
{
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
            hexval(s[i + 2]) >= 0 && (s[i + 1] != '0' || s[i + 2] != '0')) {
            d[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (plus && s[i] == '+') {
            d[j++] = ' ';
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    return d;
}

char *rec_norm_path(rec_norm *n, const char *raw_path)
{
    buf b;
    buf_init(&b, MAX_STRING);
    const char *p = raw_path ? raw_path : "";
    int ok = 1;
    while (ok) {
        size_t sl = strcspn(p, "/");
        char *seg = decode(p, sl, 0);
        char *norm = seg ? rec_norm_string(n, seg) : NULL;
        if (!norm) {
            ok = 0;
        } else if (strcmp(norm, seg) == 0) {
            ok = buf_add(&b, p, sl) == BUF_OK;     /* unchanged: keep raw */
        } else {
            ok = buf_adds(&b, norm) == BUF_OK;
        }
        free(seg);
        free(norm);
        if (!ok || p[sl] == '\0')
            break;
        ok = buf_add(&b, "/", 1) == BUF_OK;
        p += sl + 1;
    }
    if (ok && buf_add(&b, "", 0) == BUF_OK) {
        size_t len;
        return buf_detach(&b, &len);
    }
    buf_release(&b);
    return NULL;
}

/* Adds key=value to the query object (a repeated key becomes an array). */
static int query_put(cJSON *q, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    if (!v)
        return -1;
    cJSON *old = cJSON_GetObjectItemCaseSensitive(q, key);
    if (!old)
        return cJSON_AddItemToObject(q, key, v) ? 0 : (cJSON_Delete(v), -1);
    if (!cJSON_IsArray(old)) {
        cJSON *arr = cJSON_CreateArray();
        cJSON *first = cJSON_DetachItemViaPointer(q, old);
        if (!arr || !cJSON_AddItemToArray(arr, first) ||
            !cJSON_AddItemToObject(q, key, arr)) {
            cJSON_Delete(arr);
            cJSON_Delete(v);
            return -1;
        }
        old = arr;
    }
    return cJSON_AddItemToArray(old, v) ? 0 : (cJSON_Delete(v), -1);
}

/* One "k=v" pair of a query into q. */
static int query_pair(rec_norm *n, cJSON *q, const char *p, size_t len)
{
    const char *eq = memchr(p, '=', len);
    size_t kl = eq ? (size_t)(eq - p) : len;
    char *k = decode(p, kl, 1);
    char *v = eq ? decode(eq + 1, len - kl - 1, 1) : strdup("");
    char *nv = NULL;
    int rc = -1;
    if (!k || !v)
        goto done;
    if (rec_norm_secret_name(k)) {
        rec_norm_add_secret(n, v);
        nv = strdup(REDACTED);
    } else {
        nv = rec_norm_string(n, v);
    }
    if (nv)
        rc = query_put(q, k, nv);
done:
    free(k);
    free(v);
    free(nv);
    return rc;
}

cJSON *rec_norm_query(rec_norm *n, const char *query)
{
    cJSON *q = cJSON_CreateObject();
    const char *p = query ? query : "";
    while (q && *p) {
        size_t len = strcspn(p, "&");
        if (len > 0 && query_pair(n, q, p, len) != 0) {
            cJSON_Delete(q);
            return NULL;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return q;
}

/* ---------- JSON ---------- */

static int json_locked(rec_norm *n, cJSON *j, int secret, int depth)
{
    if (depth > 64) {
        /* Too deep to walk: drop what is below rather than keep it raw. */
        if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
            while (j->child)
                cJSON_Delete(cJSON_DetachItemViaPointer(j, j->child));
        }
        return 0;
    }
    if (cJSON_IsString(j)) {
        char *r = secret ? strdup(REDACTED) : norm_locked(n, j->valuestring);
        if (!r)
            return -1;
        /* cJSON_SetValuestring only shrinks in place; swap the text. */
        free(j->valuestring);
        j->valuestring = r;
        return 0;
    }
    for (cJSON *c = j->child; c; c = c->next) {
        int sec = secret || (cJSON_IsObject(j) && rec_norm_secret_name(c->string));
        if (json_locked(n, c, sec, depth + 1) != 0)
            return -1;
    }
    return 0;
}

int rec_norm_json(rec_norm *n, cJSON *j)
{
    if (!n || !j)
        return 0;
    pthread_mutex_lock(&n->mu);
    int rc = json_locked(n, j, 0, 0);
    pthread_mutex_unlock(&n->mu);
    return rc;
}
