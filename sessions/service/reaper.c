/*
 * reaper.c - the service's background reaper: sess_reap once at start-up
 * (a restart is exactly when a crash may have left orphans) and then every
 * interval.  The library's grace period protects starts in progress, in
 * this process or in another replica sharing the database.
 *
 * Stopping wakes the thread at once; a pass already under way is finished
 * first (it is bounded by the client's timeouts), so the manager is never
 * freed under it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "svc.h"

struct svc_reaper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    long interval_s;
    sess_manager *mgr;
};

static void reap_once(sess_manager *m)
{
    sess_reap_report rep;
    sess_error e;
    if (sess_reap(m, &rep, &e) != SESS_OK) {
        svc_log(SVC_LOG_WARN, "reap failed: %s", e.message);
        return;
    }
    /* Quiet when there was nothing to do: it runs every minute. */
    int level = rep.sandboxes_deleted || rep.sessions_closed || rep.failures
                    ? SVC_LOG_INFO : SVC_LOG_DEBUG;
    svc_log(level, "reap: %zu sandboxes seen, %zu orphans deleted, %zu left "
            "(inside the grace period), %zu sessions closed, %zu failures",
            rep.sandboxes_seen, rep.sandboxes_deleted, rep.sandboxes_young,
            rep.sessions_closed, rep.failures);
}

static void *reaper_main(void *arg)
{
    svc_reaper *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        reap_once(r->mgr);
        pthread_mutex_lock(&r->mu);
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += r->interval_s;
        int rc = 0;
        while (!r->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&r->cv, &r->mu, &dl);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

svc_reaper *svc_reaper_start(sess_manager *m, long interval_s)
{
    pthread_condattr_t a;
    svc_reaper *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->mgr = m;
    r->interval_s = interval_s;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &a);
    pthread_condattr_destroy(&a);
    if (pthread_create(&r->thread, NULL, reaper_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    return r;
}

void svc_reaper_stop(svc_reaper *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
