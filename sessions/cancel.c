/*
 * cancel.c - sess_cancel: stopping a streamed run from another thread.
 *
 * A streamed run spends its time blocked in libdaytona, reading the log
 * WebSocket of a toolbox session; nothing in that read can be interrupted
 * from outside, and a silent program gives the output callback no chance
 * to say stop.  What does end the read is the server closing the stream,
 * which Daytona (and daytona-emu) do when the session is deleted -- and
 * deleting the session also kills the program.  So firing a token deletes
 * the run's toolbox session, through a sandbox handle of its own (a
 * dt_sandbox is one thread's at a time; the client is shared).
 *
 * The run publishes its target (client, sandbox id, session id) with
 * sess__cancel_arm once the session exists and withdraws it with
 * sess__cancel_disarm, which waits for a fire using the target: after the
 * run returns, the token never touches the run's client again, so the
 * caller may free it.  A fire before the arm is remembered (`fired`) and
 * the arm refuses; the run checks the token between its steps as well.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"

struct sess_cancel {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fired;
    int firing;              /* a fire is deleting the target's session */
    /* the target, set while a run is inside its toolbox session */
    dt_client *client;
    char *sandbox_id;
    char *sid;
};

sess_code sess_cancel_new(sess_cancel **out, sess_error *err)
{
    if (!out)
        return sess__fail(err, SESS_EINVAL, "no token out-parameter");
    sess_cancel *c = calloc(1, sizeof *c);
    if (!c)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return sess__fail(err, SESS_ESYSTEM, "cannot make a mutex");
    }
    if (pthread_cond_init(&c->cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return sess__fail(err, SESS_ESYSTEM, "cannot make a condition variable");
    }
    *out = c;
    return SESS_OK;
}

void sess_cancel_free(sess_cancel *c)
{
    if (!c)
        return;
    free(c->sandbox_id);
    free(c->sid);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int sess_cancel_fired(sess_cancel *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    int f = c->fired;
    pthread_mutex_unlock(&c->mu);
    return f;
}

void sess_cancel_fire(sess_cancel *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    int act = !c->fired && c->client;
    c->fired = 1;
    if (act)
        c->firing = 1;
    pthread_mutex_unlock(&c->mu);
    if (!act)
        return;
    /* The target stays put while `firing` is set (disarm waits), so it is
     * read here without the lock.  Failures are not reported: the run
     * notices the fire anyway at its next step or output. */
    dt_sandbox *sb = NULL;
    if (dt_get(c->client, c->sandbox_id, &sb, NULL) == DT_OK)
        dt_session_delete(sb, c->sid, NULL);
    dt_sandbox_free(sb);
    pthread_mutex_lock(&c->mu);
    c->firing = 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int sess__cancel_arm(sess_cancel *c, dt_client *client, const char *sandbox_id,
                     const char *sid)
{
    char *a = strdup(sandbox_id), *b = strdup(sid);
    if (!a || !b) {
        free(a);
        free(b);
        return -2;
    }
    pthread_mutex_lock(&c->mu);
    int fired = c->fired;
    if (!fired) {
        c->client = client;
        c->sandbox_id = a;
        c->sid = b;
        a = b = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(a);
    free(b);
    return fired ? -1 : 0;
}

int sess__cancel_disarm(sess_cancel *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->firing)
        pthread_cond_wait(&c->cv, &c->mu);
    char *a = c->sandbox_id, *b = c->sid;
    c->client = NULL;
    c->sandbox_id = c->sid = NULL;
    int fired = c->fired;
    pthread_mutex_unlock(&c->mu);
    free(a);
    free(b);
    return fired;
}
