/*
 * faults.c - fault rules; see faults.h.
 */
#include "faults.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 64

typedef struct {
    int id;
    char method[16];
    char path[256];
    int status;
    char message[256];
    int latency_ms;
    int drop;
    int retry_after;       /* -1 = no Retry-After header */
    double probability;
    uint64_t rng;          /* splitmix64 state, from the rule's seed */
    int times;             /* remaining firings; -1 = unlimited */
    int fired;
} rule;

struct emu_faults {
    pthread_mutex_t mu;
    rule rules[MAX_RULES];
    int n;
    int next_id;
};

emu_faults *faults_new(void)
{
    emu_faults *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->next_id = 1;
    return f;
}

void faults_free(emu_faults *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int faults_glob(const char *p, const char *s)
{
    /* Iterative glob with single-star backtracking: linear enough for the
     * short patterns used here and immune to pathological recursion. */
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            ss = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int get_int(const cJSON *o, const char *k, int def, int lo, int hi,
                   int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
        return -1;
    *out = (int)v->valuedouble;
    return 0;
}

int faults_add(emu_faults *f, const cJSON *o, char *err, size_t errlen)
{
    rule r;
    memset(&r, 0, sizeof r);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "fault must be a JSON object");
        return 0;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "method");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "path");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(o, "drop");
    const cJSON *prob = cJSON_GetObjectItemCaseSensitive(o, "probability");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (m && (!cJSON_IsString(m) || strlen(m->valuestring) >= sizeof r.method)) {
        snprintf(err, errlen, "method must be a string");
        return 0;
    }
    if (!cJSON_IsString(p) || p->valuestring[0] == '\0' ||
        strlen(p->valuestring) >= sizeof r.path) {
        snprintf(err, errlen, "path must be a non-empty string pattern");
        return 0;
    }
    if (msg && (!cJSON_IsString(msg) ||
                strlen(msg->valuestring) >= sizeof r.message)) {
        snprintf(err, errlen, "message must be a string under 256 bytes");
        return 0;
    }
    if (drop && !cJSON_IsBool(drop)) {
        snprintf(err, errlen, "drop must be a boolean");
        return 0;
    }
    if (prob && (!cJSON_IsNumber(prob) || prob->valuedouble < 0 ||
                 prob->valuedouble > 1)) {
        snprintf(err, errlen, "probability must be a number from 0 to 1");
        return 0;
    }
    if (seed && !cJSON_IsNumber(seed)) {
        snprintf(err, errlen, "seed must be a number");
        return 0;
    }
    if (get_int(o, "status", 0, 0, 599, &r.status) ||
        (r.status != 0 && r.status < 100)) {
        snprintf(err, errlen, "status must be an HTTP status code");
        return 0;
    }
    if (get_int(o, "latencyMs", 0, 0, 600000, &r.latency_ms)) {
        snprintf(err, errlen, "latencyMs must be 0..600000");
        return 0;
    }
    /* Retry-After lets client tests check that a 429/503 wait is the
     * server's, not the client's own backoff. */
    if (get_int(o, "retryAfter", -1, 0, 86400, &r.retry_after)) {
        snprintf(err, errlen, "retryAfter must be 0..86400 seconds");
        return 0;
    }
    if (r.retry_after >= 0 && !r.status) {
        snprintf(err, errlen, "retryAfter needs a status");
        return 0;
    }
    if (get_int(o, "times", 0, 0, 1000000000, &r.times)) {
        snprintf(err, errlen, "times must be a non-negative integer");
        return 0;
    }
    if (r.times == 0)
        r.times = -1;
    r.drop = drop && cJSON_IsTrue(drop);
    if (!r.status && !r.drop && !r.latency_ms) {
        snprintf(err, errlen, "a fault needs status, latencyMs or drop");
        return 0;
    }
    snprintf(r.method, sizeof r.method, "%s", m ? m->valuestring : "*");
    snprintf(r.path, sizeof r.path, "%s", p->valuestring);
    snprintf(r.message, sizeof r.message, "%s",
             msg ? msg->valuestring : "Injected fault");
    r.probability = prob ? prob->valuedouble : 1.0;
    r.rng = seed ? (uint64_t)(int64_t)seed->valuedouble : 0x5eedULL;

    pthread_mutex_lock(&f->mu);
    int id = 0;
    if (f->n < MAX_RULES) {
        r.id = id = f->next_id++;
        f->rules[f->n++] = r;
    } else {
        snprintf(err, errlen, "too many fault rules (max %d)", MAX_RULES);
    }
    pthread_mutex_unlock(&f->mu);
    return id;
}

int faults_remove(emu_faults *f, int id)
{
    pthread_mutex_lock(&f->mu);
    int removed = 0;
    if (id == 0) {
        removed = f->n;
        f->n = 0;
    } else {
        for (int i = 0; i < f->n; i++) {
            if (f->rules[i].id == id) {
                memmove(&f->rules[i], &f->rules[i + 1],
                        (size_t)(f->n - i - 1) * sizeof(rule));
                f->n--;
                removed = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&f->mu);
    return removed;
}

static cJSON *rule_json(const rule *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "id", r->id) ||
        !cJSON_AddStringToObject(o, "method", r->method) ||
        !cJSON_AddStringToObject(o, "path", r->path) ||
        !cJSON_AddNumberToObject(o, "status", r->status) ||
        !cJSON_AddStringToObject(o, "message", r->message) ||
        !cJSON_AddNumberToObject(o, "latencyMs", r->latency_ms) ||
        !cJSON_AddBoolToObject(o, "drop", r->drop) ||
        !cJSON_AddNumberToObject(o, "retryAfter", r->retry_after) ||
        !cJSON_AddNumberToObject(o, "probability", r->probability) ||
        !cJSON_AddNumberToObject(o, "remaining", r->times) ||
        !cJSON_AddNumberToObject(o, "fired", r->fired)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *faults_list(emu_faults *f)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n; i++) {
        cJSON *o = rule_json(&f->rules[i]);
        if (!o || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            a = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return a;
}

int faults_match(emu_faults *f, const char *method, const char *path,
                 fault_action *out)
{
    if (strncmp(path, "/_emulator/", 11) == 0)
        return 0;
    int hit = 0;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n && !hit; i++) {
        rule *r = &f->rules[i];
        if (strcmp(r->method, "*") != 0 && strcasecmp(r->method, method) != 0)
            continue;
        if (!faults_glob(r->path, path))
            continue;
        if (r->times == 0)
            continue;
        /* 53 random bits → [0,1); the draw happens for every matching
         * request so the sequence depends only on the seed and the order. */
        double u = (double)(splitmix64(&r->rng) >> 11) / 9007199254740992.0;
        if (u >= r->probability)
            continue;
        if (r->times > 0)
            r->times--;
        r->fired++;
        out->status = r->status;
        snprintf(out->message, sizeof out->message, "%s", r->message);
        out->latency_ms = r->latency_ms;
        out->drop = r->drop;
        out->retry_after = r->retry_after;
        hit = 1;
    }
    pthread_mutex_unlock(&f->mu);
    return hit;
}
