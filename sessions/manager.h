/*
 * manager.h - the session manager's internals, shared by manager.c (start,
 * active, close, history), run.c (the restore path and runs) and reap.c.
 *
 * The manager's fields are written only by sess_manager_new (and the hook
 * by sess_manager_set_hook, before sharing), then only read, so threads
 * share a manager without a lock; all mutable state is in the store and in
 * Daytona.
 */
#ifndef SESSIONS_MANAGER_H
#define SESSIONS_MANAGER_H

#include "sess.h"
#include "store.h"

/* Longest user id accepted: it becomes a label value on the sandbox. */
#define SESS__USER_ID_MAX 256

struct sess_manager {
    dt_client *client;        /* borrowed */
    sess_store *store;        /* borrowed */
    char *app;
    char **languages;         /* lowercase */
    size_t n_languages;
    char *snapshot;
    char *image;
    int auto_stop, auto_archive, auto_delete;
    int cpu, memory, disk;
    dt_kv *labels;            /* extra labels, owned copies */
    size_t n_labels;
    long reap_grace_ms;
    long sandbox_timeout_ms;
    char *ts_runner;          /* NULL = ts-node on PATH, else npx ts-node */
    sess_hook_fn hook;
    void *hook_ctx;
};

/* SESS_EINVAL unless user_id is a non-empty string of at most
 * SESS__USER_ID_MAX bytes. */
sess_code sess__check_user(const char *user_id, sess_error *err);

/* Calls the test hook, if any. */
void sess__hook(sess_manager *m, sess_hook_point p, const char *sandbox_id);

/* Deletes a sandbox by id and waits until it is gone.  A sandbox that is
 * already gone is success. */
dt_code sess__delete_sandbox(sess_manager *m, const char *sandbox_id,
                             dt_error *de);

/* 1 for the states of a sandbox on its way out or gone. */
int sess__state_gone(const char *state);

/* Cancel tokens (cancel.c).  A run arms its token once its toolbox session
 * exists, so a fire knows what to delete, and disarms it before that
 * session is deleted by the run itself. */

/* Points c at the toolbox session sid of sandbox sandbox_id (reached
 * through client).  0, -1 when c is already fired (the run must stop),
 * -2 when out of memory. */
int sess__cancel_arm(sess_cancel *c, dt_client *client, const char *sandbox_id,
                     const char *sid);
/* Forgets the target (if any), waiting for a fire that is deleting it;
 * returns 1 when c was fired. */
int sess__cancel_disarm(sess_cancel *c);

#endif
