/*
 * store.h - the session store's internals, shared by the modules of the
 * session library (manager.c, run.c, reap.c, tokens.c) and its tests:
 * the struct, error helpers and the row operations the manager builds on.
 *
 * Every function here takes the store's mutex for its whole duration, so
 * each is atomic with respect to the other threads of the process; the
 * multi-statement ones also run in one BEGIN IMMEDIATE transaction, so they
 * are atomic with respect to other processes on the same file.
 *
 * Naming: internal cross-file functions carry a double underscore (sess__).
 */
#ifndef SESSIONS_STORE_H
#define SESSIONS_STORE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "sess.h"

struct sess_store {
    sqlite3 *db;
    pthread_mutex_t mu;      /* one statement sequence at a time */
};

/* ---- errors ---- */

/* Fills err (if non-NULL) and returns code.  printf-style message. */
sess_code sess__fail(sess_error *err, sess_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fills err from SQLite's last error on db, mapping rc: BUSY/LOCKED ->
 * SESS_EBUSY, CONSTRAINT -> SESS_ECONFLICT, NOMEM -> SESS_ENOMEM, else
 * SESS_EDB.  `what` says which step failed. */
sess_code sess__db_fail(sqlite3 *db, int rc, sess_error *err, const char *what);
/* SESS_EDAYTONA (or `code`) with Daytona's error copied into err->dt and
 * its message prefixed by `what`. */
sess_code sess__dt_fail(sess_error *err, sess_code code, const dt_error *dt,
                        const char *what);

/* strdup that treats NULL as NULL. */
char *sess__strdup(const char *s);

/* ---- row operations (all take the mutex) ---- */

/* Inserts s as given (status, times and all).  SESS_ECONFLICT when the
 * database refuses it (a second active session for the user, a duplicate
 * id, a closed row without a closing time...). */
sess_code sess__store_insert(sess_store *st, const sess_session *s,
                             sess_error *err);

/* start's bookkeeping in one transaction: closes the user's active session
 * with `reason` at s->created_at and inserts s (which must be active).
 * *replaced (may be NULL) gets the session closed, with *had = 1; *had = 0
 * when there was none. */
sess_code sess__store_replace_active(sess_store *st, const sess_session *s,
                                     const char *reason, sess_session *replaced,
                                     int *had, sess_error *err);

/* The user's active session; SESS_ENOTFOUND when none. */
sess_code sess__store_active(sess_store *st, const char *user_id,
                             sess_session *out, sess_error *err);

/* Closes the user's active session -- only if it is still session_id when
 * session_id is non-NULL (so a late closer never closes a newer session).
 * *closed (may be NULL) gets it as closed.  SESS_ENOTFOUND when nothing
 * matched. */
sess_code sess__store_close(sess_store *st, const char *user_id,
                            const char *session_id, const char *reason,
                            int64_t now, sess_session *closed,
                            sess_error *err);

/* Sets last_run_at of the user's session session_id. */
sess_code sess__store_touch_run(sess_store *st, const char *user_id,
                                const char *session_id, int64_t now,
                                sess_error *err);

/* *active = 1 when an active session records sandbox_id. */
sess_code sess__store_sandbox_active(sess_store *st, const char *sandbox_id,
                                     int *active, sess_error *err);

#endif
