/*
 * store.h - the only module that touches SQLite.
 *
 * One connection per emulator, serialized by a mutex (SQLite's own
 * serialized mode is not enough because read-modify-write transitions must
 * be atomic).  WAL journal with synchronous=NORMAL: a committed transaction
 * survives the process being killed (kill -9); only an OS crash could lose
 * the last commits.  Every call that acknowledges a change returns after
 * its COMMIT.
 *
 * The schema carries a version in `meta`; opening a database written by a
 * different schema version fails with EMU_ESCHEMA and a clear message
 * rather than guessing.
 *
 * All functions are thread-safe.  Records returned through out-parameters
 * are the caller's (sandbox_release / free as stated).
 */
#ifndef EMU_STORE_H
#define EMU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "sandbox.h"

typedef struct emu_store emu_store;

#define STORE_SCHEMA_VERSION 1

/* path ":memory:" opens a private in-memory database.  On failure returns
 * NULL with a message in err. */
emu_store *store_open(const char *path, char *err, size_t errlen);
void store_close(emu_store *st);
/* The connection's `PRAGMA synchronous` (0 OFF, 1 NORMAL, 2 FULL), or -1:
 * for tests of the durability store_open promises. */
int store_synchronous(emu_store *st);

/* ---- meta ---- */
emu_code store_meta_get_int(emu_store *st, const char *key, int64_t *out);
emu_code store_meta_set_int(emu_store *st, const char *key, int64_t v);

/* ---- organizations ---- */
/* 1 exists, 0 not, -1 error. */
int store_org_exists(emu_store *st, const char *org);
emu_code store_org_ensure(emu_store *st, const char *org);
/* Array of {"id"} (caller frees). */
cJSON *store_org_list(emu_store *st);

/* ---- sandboxes ---- */

/* Inserts a new record and sets sb->seq; EMU_ECONFLICT when (org, name)
 * is taken. */
emu_code store_sandbox_insert(emu_store *st, emu_sandbox *sb);

/* Looks up a non-destroyed sandbox by id, then (unless by_id_only) by name,
 * within org (NULL = any organization).  EMU_ENOTFOUND when absent. */
emu_code store_sandbox_get(emu_store *st, const char *org,
                           const char *id_or_name, int by_id_only,
                           emu_sandbox *out);

/*
 * Atomic read-modify-write: inside one IMMEDIATE transaction, loads the
 * sandbox as store_sandbox_get would, calls fn(sb, ctx) which may change
 * the record and returns 0 to commit or non-zero to abort (that value is
 * returned as *fn_result).  On commit the updated record is copied to
 * `after` (when non-NULL) and the unchanged one to `before` (when non-NULL).
 * Returns EMU_ENOTFOUND, EMU_ECONFLICT (the new name is taken), EMU_EDB, or
 * EMU_OK (also when fn aborted: check *fn_result).
 */
typedef int (*store_modify_fn)(emu_sandbox *sb, void *ctx);
emu_code store_sandbox_modify(emu_store *st, const char *org,
                              const char *id_or_name, int by_id_only,
                              store_modify_fn fn, void *ctx, int *fn_result,
                              emu_sandbox *before, emu_sandbox *after);

typedef struct {
    const char *org;             /* required */
    const char *id_prefix;       /* case-insensitive prefix */
    const char *name_prefix;     /* case-insensitive prefix */
    const cJSON *labels;         /* object: every pair must match */
    const char **states;         /* stored states (any of) */
    int nstates;
    const char **snapshots;      /* exact names (any of) */
    int nsnapshots;
    const char **targets;        /* regions (any of) */
    int ntargets;
    int include_errored_deleted;
    int public_filter;           /* -1 any, 0/1 */
    int recoverable_filter;      /* -1 any, 0/1 */
    double min_cpu, max_cpu, min_mem, max_mem, min_disk, max_disk; /* <0 off */
    int64_t created_after, created_before;   /* 0 = off */
    int64_t activity_after, activity_before; /* 0 = off */
    const char *sort;            /* column key, see store.c */
    int desc;
    int limit;
    /* keyset cursor (cursor list) */
    int has_cursor;
    const char *cursor_text;     /* sort value when the column is text */
    double cursor_num;           /* sort value when numeric */
    const char *cursor_id;
    /* offset (paginated list); -1 = not used */
    int64_t offset;
} store_list_query;

/* 1 if `sort` names a sortable column (cursor list or paginated list). */
int store_sort_valid(const char *sort, int paginated);
/* 1 when the sort column is numeric (its cursor value is a number). */
int store_sort_numeric(const char *sort);

/* Runs the query; *out is an array of *n records (free each with
 * sandbox_release, then free(*out)).  Fetches limit+1 rows to set
 * *has_more.  *total (when non-NULL) receives the count without paging. */
emu_code store_sandbox_list(emu_store *st, const store_list_query *q,
                            emu_sandbox **out, size_t *n, int *has_more,
                            int64_t *total);

/* The sort value of a record for building a cursor (text or number). */
void store_sort_value(const emu_sandbox *sb, const char *sort,
                      const char **text, double *num);

/* Sandboxes the scheduler must look at, at emulator time now:
 *  kind 0: transitions due; 1: auto-stop; 2: auto-archive; 3: auto-delete.
 * Returns ids and orgs (arrays of SB_ID_LEN strings, caller frees both). */
emu_code store_sandbox_due(emu_store *st, int kind, int64_t now,
                           char (**ids)[SB_ID_LEN], char (**orgs)[SB_ID_LEN],
                           size_t *n);

/* Removes a record outright (a create that could not be completed). */
emu_code store_sandbox_purge(emu_store *st, const char *id);

/* The earliest moment >= from (emulator ms) at which the scheduler has
 * something to do — an auto-stop/archive/delete deadline or a transition
 * due — or 0 when there is none. */
int64_t store_next_event(emu_store *st, int64_t from);

/* The earliest pending transition_due (emulator ms), or 0 when none. */
int64_t store_next_due(emu_store *st);

/* Counts sandboxes (not destroyed) in org (NULL = all). */
int64_t store_sandbox_count(emu_store *st, const char *org);

/* Deletes every record of org (NULL = everything) and returns the number of
 * sandboxes removed, or -1. */
int64_t store_reset(emu_store *st, const char *org);

/* ---- signed preview tokens ---- */
emu_code store_preview_token_add(emu_store *st, const char *token,
                                 const char *sandbox_id, int port,
                                 int64_t expires_at);
/* EMU_ENOTFOUND for unknown or expired (at `now`) tokens. */
emu_code store_preview_token_get(emu_store *st, const char *token,
                                 int64_t now, char sandbox_id[SB_ID_LEN],
                                 int *port);
emu_code store_preview_token_delete(emu_store *st, const char *token,
                                    const char *sandbox_id, int port);
void store_preview_token_purge(emu_store *st, int64_t now);

/* ---- snapshots ---- */
typedef struct {
    char id[SB_ID_LEN];
    char org_id[SB_ID_LEN];      /* "" for general (shared) snapshots */
    char name[256];
    char image_name[256];
    char state[24];
    double cpu, gpu, mem, disk;
    char *entrypoint_json;       /* JSON array text or NULL */
    int64_t created_at, updated_at, last_used_at;
} emu_snapshot;

void snapshot_release(emu_snapshot *s);
/* EMU_ECONFLICT when the name exists in org. */
emu_code store_snapshot_insert(emu_store *st, const emu_snapshot *s);
/* By id then name; visible = general or org's own. */
emu_code store_snapshot_get(emu_store *st, const char *org,
                            const char *id_or_name, emu_snapshot *out);
emu_code store_snapshot_list(emu_store *st, const char *org, int64_t offset,
                             int limit, emu_snapshot **out, size_t *n,
                             int64_t *total);
/* Only the org's own snapshots can be deleted. */
emu_code store_snapshot_delete(emu_store *st, const char *org,
                               const char *id);
emu_code store_snapshot_set_state(emu_store *st, const char *org,
                                  const char *id, const char *state);

/* ---- volumes ---- */
typedef struct {
    char id[SB_ID_LEN];
    char org_id[SB_ID_LEN];
    char name[256];
    char state[24];
    int64_t created_at, updated_at;
} emu_volume;

emu_code store_volume_insert(emu_store *st, const emu_volume *v);
/* by_name: look up by name, else by id. */
emu_code store_volume_get(emu_store *st, const char *org, const char *key,
                          int by_name, emu_volume *out);
emu_code store_volume_list(emu_store *st, const char *org, emu_volume **out,
                           size_t *n);
emu_code store_volume_delete(emu_store *st, const char *org, const char *id);
/* 1 when a sandbox that is not destroyed mounts the volume. */
int store_volume_in_use(emu_store *st, const char *org, const char *id);

#endif
