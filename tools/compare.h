/*
 * compare.h - compares two directories of recorded exchanges (fixtures
 * written by `daytona-emu --upstream URL --record DIR`) the way
 * tools/dt-compare reports them.
 *
 * Exchanges are paired by (method, normalized path, sequence): the k-th
 * exchange of "GET /api/sandbox/<id>" in A with the k-th in B.  Before
 * counting, a run of consecutive GETs with the same path and the same
 * signature (status, headers, JSON shape) counts once, so a poll loop that
 * ran a different number of times is no difference (turn this off with
 * collapse = 0; other methods are never collapsed: repeated writes are
 * real).  For each pair it compares:
 *   - the status code;
 *   - the headers that matter: content-type (boundary parameters dropped,
 *     case and spaces ignored) and content-disposition;
 *   - the response JSON's shape: key sets and value types, recursively
 *     (an array's elements are merged into one shape; an empty array
 *     matches any; values are never compared).
 * Exchanges without a partner are differences too.
 *
 * Every difference is one line: "<METHOD> <path> #<k>: <field>: <what>
 * (<file in A> | <file in B>)", e.g.
 *   POST /api/sandbox #1: status: 200 != 201 (000001-....json | ...)
 *   GET /api/sandbox/<id> #2: response.json.labels.x: only in B (string) (...)
 */
#ifndef TOOLS_COMPARE_H
#define TOOLS_COMPARE_H

#include <stddef.h>

typedef struct dtc_rec dtc_rec;

/* Loads every *.json fixture of dir.  Returns 0, or -1 with a message in
 * err (unreadable directory, a file that is not a fixture).  Free with
 * dtc_free (NULL is a no-op). */
int dtc_load(const char *dir, dtc_rec **out, char *err, size_t errlen);
void dtc_free(dtc_rec *r);
/* Exchanges loaded (before collapsing). */
size_t dtc_count(const dtc_rec *r);

typedef struct {
    int collapse;   /* 1 (default): count a run of equal polls once */
} dtc_opts;

/* Called once per difference with the line (no newline; valid during the
 * call). */
typedef void (*dtc_report_fn)(void *ctx, const char *line);

/* Compares A with B; returns the number of differences (0 = equal), or
 * (size_t)-1 when out of memory. */
size_t dtc_compare(const dtc_rec *a, const dtc_rec *b, const dtc_opts *o,
                   dtc_report_fn report, void *ctx);

#endif
