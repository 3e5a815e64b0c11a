/*
 * reap.c - the repair pass: makes Daytona and the store agree again after
 * crashes, failed deletes and sandboxes deleted behind the system's back.
 *
 *  1. Every sandbox labelled with this app that no active session owns is
 *     an orphan (a start that crashed before recording, a replaced or
 *     closed session whose delete failed or never ran) and is deleted --
 *     once it is older than the grace period, so a start that has created
 *     its sandbox but not yet recorded it is never hit.
 *  2. Every active session whose sandbox no longer exists is closed
 *     ("sandbox gone").
 *
 * Order matters in step 1: the sandboxes are listed first and the store is
 * asked about each one afterwards, so a session recorded meanwhile is seen
 * as the owner; a sandbox created after the listing is not looked at.  The
 * createdAt Daytona reports is compared with our clock; the grace period
 * must dwarf any skew between the two (minutes, not seconds).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "manager.h"
#include "timeutil.h"

#define PAGE_LIMIT 100
#define MAX_PAGES 10000

typedef struct {
    char *id;
    int64_t created_at;     /* 0 = unknown */
} seen_sandbox;

typedef struct {
    seen_sandbox *v;
    size_t n, cap;
} seen_list;

static void seen_release(seen_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].id);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Daytona's createdAt of a listed sandbox, 0 when it did not say. */
static int64_t created_at(const dt_sandbox *sb)
{
    int64_t ms = 0;
    cJSON *j = cJSON_Parse(dt_sandbox_json(sb));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "createdAt");
    if (!cJSON_IsString(c) || time_parse_iso8601(c->valuestring, &ms) != 0)
        ms = 0;
    cJSON_Delete(j);
    return ms;
}

static sess_code seen_add(seen_list *l, const dt_sandbox *sb, sess_error *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        seen_sandbox *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return sess__fail(err, SESS_ENOMEM, "out of memory");
        l->v = nv;
        l->cap = nc;
    }
    char *id = strdup(dt_sandbox_id(sb));
    if (!id)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    l->v[l->n].id = id;
    l->v[l->n].created_at = created_at(sb);
    l->n++;
    return SESS_OK;
}

/* One page of this app's sandboxes into l; *count = items on the page. */
static sess_code list_page(sess_manager *m, int page, seen_list *l,
                           size_t *count, sess_error *err)
{
    dt_kv app = {SESS_LABEL_APP, m->app};
    dt_list_opts o = {0};
    dt_sandbox_list *list = NULL;
    dt_error de;
    o.labels = &app;
    o.n_labels = 1;
    o.page = page;
    o.limit = PAGE_LIMIT;
    dt_code d = dt_list(m->client, &o, &list, &de);
    if (d != DT_OK)
        return sess__dt_fail(err, SESS_EDAYTONA, &de, "listing sandboxes");
    sess_code c = SESS_OK;
    *count = dt_sandbox_list_count(list);
    for (size_t i = 0; c == SESS_OK && i < *count; i++) {
        const dt_sandbox *sb = dt_sandbox_list_at(list, i);
        if (sb && !sess__state_gone(dt_sandbox_state(sb)))
            c = seen_add(l, sb, err);
    }
    dt_sandbox_list_free(list);
    return c;
}

/* All of this app's sandboxes, every page, before anything is deleted (a
 * delete would shift the pages under us). */
static sess_code list_all(sess_manager *m, seen_list *l, sess_error *err)
{
    for (int page = 1; page <= MAX_PAGES; page++) {
        size_t count = 0;
        sess_code c = list_page(m, page, l, &count, err);
        if (c != SESS_OK)
            return c;
        if (count < PAGE_LIMIT)
            return SESS_OK;
    }
    return SESS_OK;
}

/* Step 1 for one sandbox. */
static void reap_one(sess_manager *m, const seen_sandbox *s, int64_t now,
                     sess_reap_report *r)
{
    int active = 0;
    dt_error de;
    if (sess__store_sandbox_active(m->store, s->id, &active, NULL) != SESS_OK) {
        r->failures++;
        return;
    }
    if (active)
        return;
    /* A grace of 0 means "no age check" (tests), so clock skew between us
     * and Daytona cannot keep an orphan alive. */
    if (m->reap_grace_ms > 0 &&
        (s->created_at == 0 || now - s->created_at < m->reap_grace_ms)) {
        r->sandboxes_young++;
        return;
    }
    if (sess__delete_sandbox(m, s->id, &de) == DT_OK)
        r->sandboxes_deleted++;
    else
        r->failures++;
}

static int seen_has(const seen_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].id, id) == 0)
            return 1;
    return 0;
}

/* Step 2 for one active session: closes it when its sandbox is gone.  A
 * sandbox missing from the listing is looked up by id before anything is
 * concluded (it may have been created after the listing, or relabelled). */
static void check_session(sess_manager *m, const sess_session *s,
                          const seen_list *l, sess_reap_report *r)
{
    dt_sandbox *sb = NULL;
    dt_error de;
    if (seen_has(l, s->sandbox_id))
        return;
    dt_code d = dt_get(m->client, s->sandbox_id, &sb, &de);
    int gone = d == DT_ENOTFOUND ||
               (d == DT_OK && sess__state_gone(dt_sandbox_state(sb)));
    dt_sandbox_free(sb);
    if (d != DT_OK && d != DT_ENOTFOUND) {
        r->failures++;
        return;
    }
    if (!gone)
        return;
    sess_code c = sess__store_close(m->store, s->user_id, s->id,
                                    SESS_REASON_SANDBOX_GONE, time_now_ms(),
                                    NULL, NULL);
    if (c == SESS_OK)
        r->sessions_closed++;
    else if (c != SESS_ENOTFOUND)   /* closed meanwhile: nothing to do */
        r->failures++;
}

sess_code sess_reap(sess_manager *m, sess_reap_report *out, sess_error *err)
{
    seen_list l = {0};
    sess_session *act = NULL;
    size_t n_act = 0;
    sess_reap_report r = {0};
    if (!m)
        return sess__fail(err, SESS_EINVAL, "no manager");
    int64_t now = time_now_ms();
    sess_code c = list_all(m, &l, err);
    if (c != SESS_OK)
        goto cleanup;
    r.sandboxes_seen = l.n;
    for (size_t i = 0; i < l.n; i++)
        reap_one(m, &l.v[i], now, &r);
    c = sess_store_list(m->store, NULL, 1, 0, &act, &n_act, err);
    if (c != SESS_OK)
        goto cleanup;
    for (size_t i = 0; i < n_act; i++)
        check_session(m, &act[i], &l, &r);
    if (out)
        *out = r;
cleanup:
    sess_session_list_free(act, n_act);
    seen_release(&l);
    return c;
}
