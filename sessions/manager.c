/*
 * manager.c - the session manager: configuration, start, active, close and
 * history.  (The restore path and runs are in run.c, reap in reap.c.)
 *
 * Start is the delicate one.  Its order -- create the sandbox, then record
 * the session (closing the previous one in the same transaction), then
 * delete the previous sandbox -- is chosen so that every crash or failure
 * leaves only states reap repairs:
 *  - crash after create: a labelled sandbox no active session owns, which
 *    reap deletes once it is older than the grace period;
 *  - crash after record: the replaced session is closed but its sandbox
 *    lives on, again owned by no active session, again reap's;
 *  - the database refuses the record: we delete the new sandbox ourselves.
 * Concurrent starts for one user are serialised by the store's write
 * transaction: each replaces the one committed before it and deletes that
 * one's sandbox, so exactly one session stays active and no sandbox is left
 * behind.  The sandbox is created outside any lock (it takes seconds).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "manager.h"
#include "rnd.h"
#include "timeutil.h"

static const char *const DEFAULT_LANGUAGES[] = {"python", "typescript",
                                                "javascript"};

void sess_config_init(sess_config *c)
{
    memset(c, 0, sizeof *c);
    c->auto_stop_minutes = -1;
    c->auto_archive_minutes = -1;
    c->auto_delete_minutes = -1;
    c->cpu = c->memory = c->disk = -1;
    c->reap_grace_ms = -1;
}

sess_code sess__check_user(const char *user_id, sess_error *err)
{
    if (!user_id || !*user_id)
        return sess__fail(err, SESS_EINVAL, "a user id is required");
    if (strlen(user_id) > SESS__USER_ID_MAX)
        return sess__fail(err, SESS_EINVAL, "user id longer than %d bytes",
                          SESS__USER_ID_MAX);
    return SESS_OK;
}

void sess__hook(sess_manager *m, sess_hook_point p, const char *sandbox_id)
{
    if (m->hook)
        m->hook(m->hook_ctx, p, sandbox_id);
}

int sess__state_gone(const char *state)
{
    return state && (strcmp(state, "destroyed") == 0 ||
                     strcmp(state, "destroying") == 0);
}

dt_code sess__delete_sandbox(sess_manager *m, const char *sandbox_id,
                             dt_error *de)
{
    dt_sandbox *sb = NULL;
    dt_code d = dt_get(m->client, sandbox_id, &sb, de);
    if (d == DT_OK)
        d = dt_sandbox_delete(sb, m->sandbox_timeout_ms, de);
    dt_sandbox_free(sb);
    return d == DT_ENOTFOUND ? DT_OK : d;
}

/* ---------- construction ---------- */

static void free_fields(sess_manager *m)
{
    free(m->app);
    for (size_t i = 0; i < m->n_languages; i++)
        free(m->languages[i]);
    free(m->languages);
    free(m->snapshot);
    free(m->image);
    for (size_t i = 0; i < m->n_labels; i++) {
        free((char *)m->labels[i].key);
        free((char *)m->labels[i].value);
    }
    free(m->labels);
    free(m->ts_runner);
}

/* Copies the language list, lowercase; rejects empty names. */
static sess_code copy_languages(sess_manager *m, const sess_config *cfg,
                                sess_error *err)
{
    const char *const *src = cfg->languages ? cfg->languages : DEFAULT_LANGUAGES;
    size_t n = cfg->languages ? cfg->n_languages : 3;
    if (n == 0)
        return sess__fail(err, SESS_EINVAL, "no supported language configured");
    m->languages = calloc(n, sizeof *m->languages);
    if (!m->languages)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!src[i] || !*src[i])
            return sess__fail(err, SESS_EINVAL, "empty language name");
        if (!(m->languages[i] = strdup(src[i])))
            return sess__fail(err, SESS_ENOMEM, "out of memory");
        m->n_languages = i + 1;
        for (char *p = m->languages[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    return SESS_OK;
}

/* Copies the extra labels, leaving out our own keys (ours must win: they
 * are how reap and the user check know a sandbox). */
static sess_code copy_labels(sess_manager *m, const sess_config *cfg,
                             sess_error *err)
{
    if (!cfg->n_labels)
        return SESS_OK;
    m->labels = calloc(cfg->n_labels, sizeof *m->labels);
    if (!m->labels)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->n_labels; i++) {
        const dt_kv *l = &cfg->labels[i];
        if (!l->key || !*l->key || !l->value)
            return sess__fail(err, SESS_EINVAL, "label %zu has no key or value", i);
        if (strncmp(l->key, "daytona-sessions/", 17) == 0)
            continue;
        dt_kv *d = &m->labels[m->n_labels];
        d->key = strdup(l->key);
        d->value = strdup(l->value);
        m->n_labels++;
        if (!d->key || !d->value)
            return sess__fail(err, SESS_ENOMEM, "out of memory");
    }
    return SESS_OK;
}

/* Where sandboxes come from: Daytona takes a snapshot or an image, not
 * both, and resources only with an image (for a snapshot they are a 400,
 * which would fail every start; better to refuse the configuration). */
static sess_code check_source(const sess_config *cfg, sess_error *err)
{
    int image = cfg->image && *cfg->image;
    if (image && cfg->snapshot && *cfg->snapshot)
        return sess__fail(err, SESS_EINVAL, "snapshot and image are mutually "
                          "exclusive: a sandbox is made from one or the other");
    if (!image && (cfg->cpu >= 0 || cfg->memory >= 0 || cfg->disk >= 0))
        return sess__fail(err, SESS_EINVAL, "cpu, memory and disk require an "
                          "image: Daytona accepts sandbox resources only for "
                          "sandboxes built from an image");
    return SESS_OK;
}

static sess_code copy_config(sess_manager *m, const sess_config *cfg,
                             sess_error *err)
{
    sess_code c = check_source(cfg, err);
    if (c != SESS_OK)
        return c;
    m->app = strdup(cfg->app && *cfg->app ? cfg->app : SESS_DEFAULT_APP);
    m->snapshot = cfg->snapshot && *cfg->snapshot ? strdup(cfg->snapshot) : NULL;
    m->image = cfg->image && *cfg->image ? strdup(cfg->image) : NULL;
    m->ts_runner = cfg->typescript_runner && *cfg->typescript_runner
                       ? strdup(cfg->typescript_runner) : NULL;
    if (!m->app || (cfg->snapshot && *cfg->snapshot && !m->snapshot) ||
        (cfg->image && *cfg->image && !m->image) ||
        (cfg->typescript_runner && *cfg->typescript_runner && !m->ts_runner))
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    m->auto_stop = cfg->auto_stop_minutes;
    m->auto_archive = cfg->auto_archive_minutes;
    m->auto_delete = cfg->auto_delete_minutes;
    m->cpu = cfg->cpu;
    m->memory = cfg->memory;
    m->disk = cfg->disk;
    m->reap_grace_ms = cfg->reap_grace_ms < 0 ? SESS_DEFAULT_REAP_GRACE_MS
                                              : cfg->reap_grace_ms;
    m->sandbox_timeout_ms = cfg->sandbox_timeout_ms;
    c = copy_languages(m, cfg, err);
    if (c == SESS_OK)
        c = copy_labels(m, cfg, err);
    return c;
}

sess_code sess_manager_new(dt_client *client, sess_store *store,
                           const sess_config *cfg, sess_manager **out,
                           sess_error *err)
{
    sess_config defaults;
    if (!client || !store || !out)
        return sess__fail(err, SESS_EINVAL, "a client and a store are required");
    if (!cfg) {
        sess_config_init(&defaults);
        cfg = &defaults;
    }
    sess_manager *m = calloc(1, sizeof *m);
    if (!m)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    m->client = client;
    m->store = store;
    sess_code c = copy_config(m, cfg, err);
    if (c != SESS_OK) {
        sess_manager_free(m);
        return c;
    }
    *out = m;
    return SESS_OK;
}

void sess_manager_free(sess_manager *m)
{
    if (!m)
        return;
    free_fields(m);
    free(m);
}

sess_store *sess_manager_store(sess_manager *m)
{
    return m ? m->store : NULL;
}

void sess_manager_set_hook(sess_manager *m, sess_hook_fn fn, void *ctx)
{
    m->hook = fn;
    m->hook_ctx = ctx;
}

/* ---------- start ---------- */

/* The supported language equal to `language` ignoring case, or NULL. */
static const char *find_language(const sess_manager *m, const char *language)
{
    for (size_t i = 0; i < m->n_languages; i++)
        if (strcasecmp(m->languages[i], language) == 0)
            return m->languages[i];
    return NULL;
}

/* Creates the sandbox of a new session, labelled with app, user and
 * session, and waits until it is started. */
static sess_code create_sandbox(sess_manager *m, const char *user_id,
                                const char *session_id, const char *language,
                                dt_sandbox **sb, sess_error *err)
{
    dt_create_params p;
    dt_error de;
    size_t n = m->n_labels;
    dt_kv *labels = malloc((n + 3) * sizeof *labels);
    if (!labels)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    if (n)
        memcpy(labels, m->labels, n * sizeof *labels);
    labels[n++] = (dt_kv){SESS_LABEL_APP, m->app};
    labels[n++] = (dt_kv){SESS_LABEL_USER, user_id};
    labels[n++] = (dt_kv){SESS_LABEL_SESSION, session_id};
    dt_create_params_init(&p);
    p.language = language;
    p.snapshot = m->snapshot;
    p.image = m->image;
    p.labels = labels;
    p.n_labels = n;
    p.auto_stop_interval = m->auto_stop;
    p.auto_archive_interval = m->auto_archive;
    p.auto_delete_interval = m->auto_delete;
    p.cpu = m->cpu;
    p.memory = m->memory;
    p.disk = m->disk;
    p.timeout_ms = m->sandbox_timeout_ms;
    dt_code d = dt_create(m->client, &p, sb, &de);
    free(labels);
    return d == DT_OK ? SESS_OK
                      : sess__dt_fail(err, SESS_EDAYTONA, &de,
                                      "creating the sandbox");
}

/* Fills the new session's record (strings owned by s). */
static sess_code new_record(const char *user_id, const char *session_id,
                            const char *sandbox_id, const char *language,
                            sess_session *s, sess_error *err)
{
    memset(s, 0, sizeof *s);
    s->id = strdup(session_id);
    s->user_id = strdup(user_id);
    s->sandbox_id = strdup(sandbox_id);
    s->language = strdup(language);
    s->status = SESS_ACTIVE;
    s->created_at = time_now_ms();
    if (!s->id || !s->user_id || !s->sandbox_id || !s->language) {
        sess_session_release(s);
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    }
    return SESS_OK;
}

/* Records s and deletes what it replaced.  On failure the new sandbox is
 * deleted here (best effort: if that fails too, reap will). */
static sess_code record(sess_manager *m, sess_session *s, sess_error *err)
{
    sess_session old = {0};
    int had = 0;
    dt_error de;
    sess_code c = sess__store_replace_active(m->store, s, SESS_REASON_REPLACED,
                                             &old, &had, err);
    if (c != SESS_OK) {
        sess__delete_sandbox(m, s->sandbox_id, &de);
        return c;
    }
    sess__hook(m, SESS_HOOK_AFTER_RECORD, had ? old.sandbox_id : NULL);
    /* The new session stands whatever happens to the old sandbox: a failed
     * delete is not the caller's problem, and reap deletes it later (no
     * active session owns it any more). */
    if (had)
        sess__delete_sandbox(m, old.sandbox_id, &de);
    sess_session_release(&old);
    return SESS_OK;
}

sess_code sess_start(sess_manager *m, const char *user_id, const char *language,
                     sess_session *out, sess_error *err)
{
    char session_id[UUID_STR_LEN];
    dt_sandbox *sb = NULL;
    sess_session s = {0};
    if (!m)
        return sess__fail(err, SESS_EINVAL, "no manager");
    sess_code c = sess__check_user(user_id, err);
    if (c != SESS_OK)
        return c;
    if (!language)
        return sess__fail(err, SESS_EINVAL, "a language is required");
    const char *lang = find_language(m, language);
    if (!lang)
        return sess__fail(err, SESS_ELANGUAGE, "Unsupported language: %s",
                          language);
    if (rnd_uuid(session_id) != 0)
        return sess__fail(err, SESS_ESYSTEM, "no random bytes for an id");
    c = create_sandbox(m, user_id, session_id, lang, &sb, err);
    if (c != SESS_OK)
        return c;
    sess__hook(m, SESS_HOOK_AFTER_CREATE, dt_sandbox_id(sb));
    c = new_record(user_id, session_id, dt_sandbox_id(sb), lang, &s, err);
    if (c == SESS_OK)
        c = record(m, &s, err);
    else
        dt_sandbox_delete(sb, m->sandbox_timeout_ms, NULL);
    dt_sandbox_free(sb);
    if (c != SESS_OK)
        return c;
    if (out)
        *out = s;
    else
        sess_session_release(&s);
    return SESS_OK;
}

/* ---------- active, close, history ---------- */

sess_code sess_active(sess_manager *m, const char *user_id, sess_session *out,
                      sess_error *err)
{
    sess_session s = {0};
    if (!m)
        return sess__fail(err, SESS_EINVAL, "no manager");
    sess_code c = sess__check_user(user_id, err);
    if (c == SESS_OK)
        c = sess__store_active(m->store, user_id, &s, err);
    if (c != SESS_OK)
        return c;
    if (out)
        *out = s;
    else
        sess_session_release(&s);
    return SESS_OK;
}

sess_code sess_close(sess_manager *m, const char *user_id, sess_session *out,
                     sess_error *err)
{
    sess_session s = {0};
    dt_error de;
    if (!m)
        return sess__fail(err, SESS_EINVAL, "no manager");
    sess_code c = sess__check_user(user_id, err);
    if (c == SESS_OK)
        c = sess__store_close(m->store, user_id, NULL, SESS_REASON_CLOSED,
                              time_now_ms(), &s, err);
    if (c != SESS_OK)
        return c;
    sess__hook(m, SESS_HOOK_AFTER_CLOSE, s.sandbox_id);
    dt_code d = sess__delete_sandbox(m, s.sandbox_id, &de);
    if (d != DT_OK) {
        sess_session_release(&s);
        return sess__dt_fail(err, SESS_EDAYTONA, &de,
                             "session closed; deleting its sandbox failed "
                             "(reap will retry)");
    }
    if (out)
        *out = s;
    else
        sess_session_release(&s);
    return SESS_OK;
}

sess_code sess_history(sess_manager *m, const char *user_id, size_t limit,
                       sess_session **out, size_t *n, sess_error *err)
{
    if (!m)
        return sess__fail(err, SESS_EINVAL, "no manager");
    sess_code c = sess__check_user(user_id, err);
    if (c != SESS_OK)
        return c;
    return sess_store_list(m->store, user_id, 0, limit, out, n, err);
}
