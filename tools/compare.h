/*
 * compare.h - compares two directories of recorded exchanges (fixtures
 * written by `daytona-emu --upstream URL --record DIR`) the way
 * tools/dt-compare reports them.
 *
 * Exchanges are paired by (method, normalized path, sequence).  Writes
 * (every method but GET) are numbered over the whole recording: the k-th
 * "POST /api/sandbox" of A pairs with the k-th of B ("#k").  GETs are
 * numbered inside the stretch since the last write, from its end ("#-1" is
 * the last GET of that path after that write, "#-2" the one before) and
 * pair only when their writes paired -- so the settled answer after a wait
 * pairs with the settled answer, and an extra poll or write on one side
 * does not shift everything after it.  Before numbering, a run of
 * consecutive GETs with the same path and the same signature (status,
 * headers, JSON shape) counts once (turn this off with collapse = 0).
 * For each pair it compares:
 *   - the status code;
 *   - the headers that matter: content-type (boundary parameters dropped,
 *     case and spaces ignored) and content-disposition;
 *   - the response JSON's shape: key sets and value types, recursively
 *     (an array's elements are merged into one shape; an empty array
 *     matches any; values are never compared).
 * Exchanges without a partner are differences too.
 *
 * Every difference is one line: "<exchange>: <field>: <what> (<file in A>
 * | <file in B>)", e.g.
 *   POST /api/sandbox #1: status: 200 != 201 (000001-....json | ...)
 *   GET /api/sandbox/<id> #-1 after PUT /api/sandbox/<id>/labels #1:
 *       response.json.labels.x: only in B (string) (...)
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
