/*
 * faults.h - fault injection for /_emulator/faults: for requests matching a
 * method and a path pattern, answer with a status and Daytona error body,
 * add latency, or drop the connection; each with a probability drawn from a
 * per-rule seeded generator so runs repeat, and an optional count.
 * Thread-safe.
 */
#ifndef EMU_FAULTS_H
#define EMU_FAULTS_H

#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct emu_faults emu_faults;

typedef struct {
    int status;            /* 0 = no status override */
    char message[256];
    int latency_ms;
    int drop;
    int retry_after;       /* seconds for a Retry-After header; -1 = none */
} fault_action;

emu_faults *faults_new(void);
void faults_free(emu_faults *f);

/* Adds a rule from its JSON description (see docs/EMULATOR.md):
 * {"method":"GET"|"*", "path":"/api/sandbox/…", "status":503,
 *  "message":"…", "latencyMs":100, "drop":false, "probability":1.0,
 *  "seed":42, "times":0, "retryAfter":2}.  Returns the new rule id (>0), or 0 and an error
 * text in err when the description is invalid. */
int faults_add(emu_faults *f, const cJSON *rule, char *err, size_t errlen);
/* Removes one rule (1 if it existed) or all rules (id 0; returns count). */
int faults_remove(emu_faults *f, int id);
/* The rules as a JSON array (caller frees), NULL on allocation failure. */
cJSON *faults_list(emu_faults *f);

/* Finds the first rule matching and firing for this request; fills *out and
 * returns 1, else 0.  Paths under /_emulator/ never match. */
int faults_match(emu_faults *f, const char *method, const char *path,
                 fault_action *out);

/* Glob match where '*' matches any run of characters (including '/') and
 * '?' one character.  Exposed for tests. */
int faults_glob(const char *pattern, const char *s);

#endif
