/*
 * sess.h - the session system: one active Daytona sandbox per user, as apps
 * build it on Daytona (the coding game's boss_sessions flow: a signed-in
 * user starts a session in a language, runs code in it again and again,
 * comes back later to the same session, and the app cleans up after them).
 *
 * Two handles:
 *  - sess_store: the SQLite record of sessions (and of the service's bearer
 *    tokens).  The database itself enforces "at most one active session per
 *    user" (a partial unique index), so two threads, two processes or two
 *    service replicas sharing the file cannot break it.
 *  - sess_manager: the operations (start, active, run, run with streaming,
 *    close, reap, history) on top of a store and a libdaytona client.
 *
 * Conventions (those of libdaytona):
 *  - Functions return a sess_code; SESS_OK (0) is success.
 *  - The last parameter `sess_error *err` may be NULL; when non-NULL it is
 *    filled on failure (code, a message fit to show, and -- when Daytona
 *    was the cause -- Daytona's own error in err->dt).
 *  - Out-parameters are written only on success.  Structs with a *_release
 *    function own their strings; release them with it.
 *  - Input strings are copied as needed; the caller keeps them.
 *  - Times are milliseconds since the Unix epoch (as the seed's Date.now()).
 *
 * Ownership of users: every operation that takes a user_id reads and
 * writes only that user's rows and only that user's sandboxes; there is no
 * way through a user operation to name another user's session.  The only
 * cross-user functions are the operator ones, marked "operators" below
 * (listing everything, reaping, tokens).
 *
 * Threads: a sess_store and a sess_manager may be used from any number of
 * threads at once (the store serialises its SQLite connection with a mutex;
 * Daytona calls are made outside that lock, so slow sandboxes never block
 * other users' bookkeeping).  Several processes may open the same database
 * file: writes are serialised by SQLite (WAL, busy timeout, BEGIN
 * IMMEDIATE).  Call dt_global_init() before starting threads.  Never use a
 * store across fork(): open a new one in the child.
 */
#ifndef SESSIONS_SESS_H
#define SESSIONS_SESS_H

#include <stddef.h>
#include <stdint.h>

#include "daytona/daytona.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* Stable numbers: never renumbered; retired values leave a gap. */
typedef enum {
    SESS_OK = 0,
    SESS_EINVAL = 1,        /* an argument is invalid (NULL, empty user...) */
    SESS_ENOMEM = 2,
    SESS_EDB = 3,           /* SQLite failed (its message is in err) */
    SESS_EBUSY = 4,         /* the database stayed locked past the timeout */
    SESS_ESCHEMA = 5,       /* a database of a newer version, or not ours */
    SESS_ENOTFOUND = 6,     /* no (active) session, no such token */
    SESS_ECONFLICT = 7,     /* the database refused the write (a second
                               active session for a user, a duplicate id) */
    SESS_ELANGUAGE = 8,     /* "Unsupported language: <as given>" */
    SESS_EDAYTONA = 9,      /* a Daytona call failed; see err->dt */
    SESS_EGONE = 10,        /* the session's sandbox no longer exists; the
                               session has been closed */
    SESS_EUNAUTHORIZED = 11,/* token unknown or revoked */
    SESS_ECANCELED = 12,    /* an output callback or a sess_cancel
                               stopped a streamed run */
    SESS_ESYSTEM = 13       /* the system failed us (getrandom, threads) */
} sess_code;

/* Static English text for a code; never NULL. */
const char *sess_strerror(sess_code code);

#define SESS_ERROR_MESSAGE_MAX 1024

/* The message of SESS_EGONE, word for word the seed's. */
#define SESS_MSG_RESTORE_FAILED "Could not restore sandbox session. Please refresh."

typedef struct {
    sess_code code;
    char message[SESS_ERROR_MESSAGE_MAX];
    dt_error dt;            /* Daytona's error when it caused this one
                               (SESS_EDAYTONA, SESS_EGONE); dt.code is
                               DT_OK otherwise */
} sess_error;

/* ------------------------------------------------------------------ */
/* Session records                                                    */
/* ------------------------------------------------------------------ */

typedef enum { SESS_ACTIVE = 0, SESS_CLOSED = 1 } sess_status;

/* "active" / "closed". */
const char *sess_status_name(sess_status s);

/* Why a session was closed (close_reason). */
#define SESS_REASON_CLOSED "closed"            /* sess_close */
#define SESS_REASON_REPLACED "replaced"        /* the user started another */
#define SESS_REASON_SANDBOX_GONE "sandbox gone"/* found missing (run, reap) */
#define SESS_REASON_MIGRATED "migrated"        /* closed before schema v2 */

typedef struct {
    char *id;               /* random UUID */
    char *user_id;
    char *sandbox_id;
    char *language;         /* lowercase, one of the supported set */
    sess_status status;
    int64_t created_at;
    int64_t closed_at;      /* 0 while active */
    char *close_reason;     /* NULL while active */
    int64_t last_run_at;    /* 0 = never run */
} sess_session;

/* Frees the strings and zeroes *s.  NULL is a no-op. */
void sess_session_release(sess_session *s);
/* Releases each element and frees the array. */
void sess_session_list_free(sess_session *v, size_t n);

/* ------------------------------------------------------------------ */
/* Store                                                              */
/* ------------------------------------------------------------------ */

/* The schema version a store has after sess_store_open (PRAGMA
 * user_version).  1 = the seed's boss_sessions shape; 2 = closing time and
 * reason, last run, one-active-per-user index, tokens. */
#define SESS_SCHEMA_VERSION 2

typedef struct sess_store sess_store;

/* Opens (creating if needed) the database at path, in WAL mode with a busy
 * timeout (busy_timeout_ms; 0 = 5000), and migrates it to
 * SESS_SCHEMA_VERSION in one transaction.  Fails with SESS_ESCHEMA for a
 * database newer than this program or a non-empty database that is not a
 * session store.  Free with sess_store_close. */
sess_code sess_store_open(const char *path, long busy_timeout_ms,
                          sess_store **out, sess_error *err);
/* NULL is a no-op.  No other thread may be using the store. */
void sess_store_close(sess_store *st);

/* Sessions newest first.  user_id NULL = every user (operators only);
 * active_only = only active ones; limit 0 = no limit.  *out: free with
 * sess_session_list_free (NULL with *n == 0 when there are none). */
sess_code sess_store_list(sess_store *st, const char *user_id, int active_only,
                          size_t limit, sess_session **out, size_t *n,
                          sess_error *err);

/* ------------------------------------------------------------------ */
/* Bearer tokens (operators; the service checks them)                 */
/* ------------------------------------------------------------------ */

/* Tokens are "dts_" + 43 random base64url characters (256 bits).  Only
 * their SHA-256 (lowercase hex) is stored; the token itself is shown once,
 * by sess_token_create. */
#define SESS_TOKEN_PREFIX "dts_"
#define SESS_TOKEN_HASH_LEN 64

typedef struct {
    char *hash;             /* SHA-256 hex: the token's id for operators */
    char *user_id;
    int64_t created_at;
    int64_t revoked_at;     /* 0 = valid */
} sess_token_info;

void sess_token_list_free(sess_token_info *v, size_t n);

/* Makes a token for user_id.  *token_out: the token (free()); *hash_out
 * (may be NULL): its hash (free()). */
sess_code sess_token_create(sess_store *st, const char *user_id,
                            char **token_out, char **hash_out,
                            sess_error *err);
/* The user of a valid token (*user_out: free()).  SESS_EUNAUTHORIZED for
 * an unknown or revoked token (one message for both: no oracle). */
sess_code sess_token_verify(sess_store *st, const char *token,
                            char **user_out, sess_error *err);
/* Revokes by token or by its hash (64 hex).  SESS_ENOTFOUND when unknown;
 * revoking twice is fine (the first time stays). */
sess_code sess_token_revoke(sess_store *st, const char *token_or_hash,
                            sess_error *err);
/* Tokens newest first; user_id NULL = all. */
sess_code sess_token_list(sess_store *st, const char *user_id,
                          sess_token_info **out, size_t *n, sess_error *err);

/* ------------------------------------------------------------------ */
/* Manager                                                            */
/* ------------------------------------------------------------------ */

/* Labels on every sandbox the system creates: how reap recognises its own
 * and whose session a sandbox is.  The app label's value is the config's
 * `app`, so two deployments sharing one Daytona organisation never reap
 * each other's sandboxes. */
#define SESS_LABEL_APP "daytona-sessions/app"
#define SESS_LABEL_USER "daytona-sessions/user"
#define SESS_LABEL_SESSION "daytona-sessions/session"

#define SESS_DEFAULT_APP "daytona-sessions"
#define SESS_DEFAULT_REAP_GRACE_MS (10L * 60 * 1000)

/* Initialise with sess_config_init, then set what differs. */
typedef struct {
    const char *app;                 /* NULL = SESS_DEFAULT_APP */
    const char *const *languages;    /* NULL = python, typescript, javascript */
    size_t n_languages;
    const char *snapshot;            /* NULL = Daytona's default */
    const char *image;               /* a base image instead of a snapshot
                                        (e.g. "python:3.12", built by
                                        Daytona); NULL = none.  Setting both
                                        snapshot and image is SESS_EINVAL. */
    int auto_stop_minutes;           /* -1 = Daytona's default (15) */
    int auto_archive_minutes;        /* -1 = default */
    int auto_delete_minutes;         /* -1 = never */
    int cpu, memory, disk;           /* cores, GiB, GiB; -1 = default.
                                        Daytona takes resources only for a
                                        sandbox built from an image: any of
                                        them without `image` is SESS_EINVAL
                                        (with a snapshot they would make
                                        every start fail with a 400). */
    const dt_kv *labels;             /* extra labels (ours win a clash) */
    size_t n_labels;
    long reap_grace_ms;              /* how old an unrecorded sandbox must be
                                        before reap deletes it (so a start
                                        in progress is not hit); -1 =
                                        SESS_DEFAULT_REAP_GRACE_MS */
    long sandbox_timeout_ms;         /* create / start waits; 0 = 60000 */
    const char *typescript_runner;   /* streamed TypeScript runs: the ts-node
                                        command, run by the sandbox's shell;
                                        NULL = `ts-node` when the sandbox
                                        has it on its PATH (daytona-emu),
                                        else `npx ts-node` (Daytona's
                                        images) */
} sess_config;

/* Defaults: everything NULL, numbers -1, sandbox_timeout_ms 0. */
void sess_config_init(sess_config *c);

typedef struct sess_manager sess_manager;

/* A manager over a client and a store, both borrowed: they must outlive
 * the manager.  cfg is copied (NULL = defaults).  SESS_EINVAL for a bad
 * configuration (no languages, a language with upper-case letters...). */
sess_code sess_manager_new(dt_client *client, sess_store *store,
                           const sess_config *cfg, sess_manager **out,
                           sess_error *err);
/* NULL is a no-op.  No other thread may be using the manager. */
void sess_manager_free(sess_manager *m);
sess_store *sess_manager_store(sess_manager *m);

/* Starts a session for user_id in `language` (checked case-insensitively
 * against the configured set, else SESS_ELANGUAGE "Unsupported language:
 * <as given>"): creates a labelled sandbox, waits until it is started,
 * records the session as the user's active one -- closing the previous one
 * (reason "replaced") in the same transaction -- and then deletes the
 * previous sandbox.  *out (may be NULL): the new session.
 * Concurrent starts for one user each replace the one before, so exactly
 * one stays active and every replaced sandbox is deleted by its replacer.
 * A sandbox whose session could not be recorded (a crash, a failure) is
 * deleted here or, failing that, by sess_reap after the grace period. */
sess_code sess_start(sess_manager *m, const char *user_id, const char *language,
                     sess_session *out, sess_error *err);

/* The user's active session; SESS_ENOTFOUND when there is none. */
sess_code sess_active(sess_manager *m, const char *user_id, sess_session *out,
                      sess_error *err);

typedef struct {
    char *session_id;       /* the session the code ran in */
    int exit_code;
    char *output;           /* sess_run: combined output; sess_run_stream:
                               NULL (the callback saw it all) */
    size_t output_len;
} sess_run_result;

void sess_run_result_release(sess_run_result *r);

/* Runs code in the user's active session (the seed's restore path): gets
 * the sandbox, starts it if it is stopped or archived and waits until it is
 * started, runs the code in the session's language (timeout_s 0 = the
 * server's own limit) and records the run time.  A non-zero exit code is
 * not a failure; code still running past timeout_s is killed and the call
 * fails with SESS_EDAYTONA, err->dt.code DT_ETIMEOUT (Daytona's 408 carries
 * no output).  SESS_ENOTFOUND when the user has no active session;
 * SESS_EGONE with SESS_MSG_RESTORE_FAILED when the sandbox no longer exists
 * (the session is then closed, reason "sandbox gone"). */
sess_code sess_run(sess_manager *m, const char *user_id, const char *code,
                   int timeout_s, sess_run_result *out, sess_error *err);

typedef enum { SESS_STDOUT = 1, SESS_STDERR = 2 } sess_stream;

/* A chunk of output as it arrives (not NUL-terminated).  Return 0 to go
 * on, non-zero to stop (the run then fails with SESS_ECANCELED). */
typedef int (*sess_output_cb)(void *ctx, sess_stream stream, const char *data,
                              size_t len);

/* As sess_run, but output reaches cb chunk by chunk while the code runs
 * (a toolbox session: the interpreter started asynchronously, its logs
 * followed over WebSocket).  timeout_s > 0 kills the program after that
 * many seconds (exit code 124).  The callback runs on the calling thread.
 * Same as sess_run_stream_opts with opts {timeout_s, no cancel}. */
sess_code sess_run_stream(sess_manager *m, const char *user_id,
                          const char *code, int timeout_s, sess_output_cb cb,
                          void *ctx, sess_run_result *out, sess_error *err);

/* A cancel token: stops a streamed run from another thread, also a run
 * whose program prints nothing (so its callback never gets the chance).
 * Firing deletes the run's toolbox session -- with a sandbox handle of its
 * own, on the firing thread -- which kills the program and ends the log
 * stream the run is blocked on; the run then fails with SESS_ECANCELED.
 * A token fired before or between the run's steps (restoring the sandbox,
 * creating the toolbox session) stops it at the next step.  Once fired a
 * token stays fired; use a new one per run.  One run at a time per token. */
typedef struct sess_cancel sess_cancel;

sess_code sess_cancel_new(sess_cancel **out, sess_error *err);
/* Any thread, any number of times (only the first one acts).  Returns once
 * the run's toolbox session has been deleted (a Daytona call or two), or at
 * once when no run is inside its toolbox session. */
void sess_cancel_fire(sess_cancel *c);
/* 1 once fired. */
int sess_cancel_fired(sess_cancel *c);
/* NULL is a no-op.  Not while a run or a fire is using the token. */
void sess_cancel_free(sess_cancel *c);

typedef struct {
    int timeout_s;          /* as sess_run_stream's; 0 = none */
    sess_cancel *cancel;    /* NULL = only the callback can stop the run */
} sess_stream_opts;

/* sess_run_stream with options (opts NULL = all defaults).  When opts->
 * cancel fires, the call returns SESS_ECANCELED promptly, the program is
 * killed and its toolbox session is gone; after the call returns, the
 * token no longer touches the manager's client. */
sess_code sess_run_stream_opts(sess_manager *m, const char *user_id,
                               const char *code, const sess_stream_opts *opts,
                               sess_output_cb cb, void *ctx,
                               sess_run_result *out, sess_error *err);

/* Closes the user's active session (reason "closed") and deletes its
 * sandbox.  *out (may be NULL): the closed session.  SESS_ENOTFOUND when
 * there is none.  The record is closed first: if the delete then fails,
 * the call still fails (SESS_EDAYTONA) but the sandbox is left to reap. */
sess_code sess_close(sess_manager *m, const char *user_id, sess_session *out,
                     sess_error *err);

/* The user's sessions, newest first (limit 0 = all).  *out: free with
 * sess_session_list_free. */
sess_code sess_history(sess_manager *m, const char *user_id, size_t limit,
                       sess_session **out, size_t *n, sess_error *err);

typedef struct {
    size_t sandboxes_seen;      /* labelled with this app */
    size_t sandboxes_deleted;   /* orphans deleted */
    size_t sandboxes_young;     /* orphans left alone: inside the grace */
    size_t sessions_closed;     /* active sessions whose sandbox was gone */
    size_t failures;            /* deletes/lookups that failed (retry later) */
} sess_reap_report;

/* Operators (and the service's timer): deletes every sandbox labelled with
 * this app that no active session owns and that is older than the grace
 * period, and closes every active session whose sandbox no longer exists
 * (reason "sandbox gone").  A failure on one sandbox is counted and does
 * not stop the rest; the call fails only when it could not list.  *out may
 * be NULL. */
sess_code sess_reap(sess_manager *m, sess_reap_report *out, sess_error *err);

/* ------------------------------------------------------------------ */
/* Fault points (tests only)                                          */
/* ------------------------------------------------------------------ */

typedef enum {
    SESS_HOOK_AFTER_CREATE = 1,  /* start: sandbox made, nothing recorded */
    SESS_HOOK_AFTER_RECORD = 2,  /* start: recorded, old sandbox not deleted */
    SESS_HOOK_AFTER_CLOSE = 3    /* close: record closed, sandbox not deleted */
} sess_hook_point;

/* Called at each point with the sandbox id concerned; a crash test kills
 * the process there.  Set before the manager is shared between threads. */
typedef void (*sess_hook_fn)(void *ctx, sess_hook_point point,
                             const char *sandbox_id);
void sess_manager_set_hook(sess_manager *m, sess_hook_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
