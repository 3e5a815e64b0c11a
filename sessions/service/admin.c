/*
 * admin.c - the operator commands of daytona-sessions, against the same
 * database (--db) as the service, which may be running meanwhile (SQLite
 * serialises the writers):
 *
 *   token create USER      prints the token, the only time it is shown
 *   token revoke TOKEN     by the token or by its hash
 *   token list [USER]      hashes, users, creation and revocation times
 *   sessions list          [--user U] [--active] [--limit N]
 *   reap                   one reap pass now, and what it did
 *
 * Output is a small table for people, or with --format json one JSON
 * document on one line for scripts.  Exit status: 0 done, 1 failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"
#include "timeutil.h"

static int fail(const char *what, const sess_error *e)
{
    fprintf(stderr, SVC_NAME ": %s: %s\n", what, e->message);
    return 1;
}

static int usage_error(const char *msg)
{
    fprintf(stderr, SVC_NAME ": %s (see --help)\n", msg);
    return 2;
}

/* Prints doc on one line (and deletes it). */
static int print_json(cJSON *doc)
{
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!s) {
        fprintf(stderr, SVC_NAME ": out of memory\n");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

/* An ISO-8601 time, or "-" for 0. */
static const char *when(int64_t ms, char out[ISO8601_LEN])
{
    if (!ms)
        return "-";
    time_iso8601(ms, out);
    return out;
}

/* ---------- tokens ---------- */

static int token_create(sess_store *st, const svc_config *cfg, const char *user)
{
    char *token = NULL, *hash = NULL;
    sess_error e;
    if (sess_token_create(st, user, &token, &hash, &e) != SESS_OK)
        return fail("token create", &e);
    int rc = 0;
    if (cfg->json) {
        cJSON *o = cJSON_CreateObject();
        if (o && (!cJSON_AddStringToObject(o, "token", token) ||
                  !cJSON_AddStringToObject(o, "hash", hash) ||
                  !cJSON_AddStringToObject(o, "userId", user))) {
            cJSON_Delete(o);
            o = NULL;
        }
        rc = print_json(o);
    } else {
        puts(token);
    }
    free(token);
    free(hash);
    return rc;
}

static int token_revoke(sess_store *st, const svc_config *cfg, const char *tok)
{
    sess_error e;
    if (sess_token_revoke(st, tok, &e) != SESS_OK)
        return fail("token revoke", &e);
    if (cfg->json) {
        cJSON *o = cJSON_CreateObject();
        if (o && !cJSON_AddTrueToObject(o, "revoked")) {
            cJSON_Delete(o);
            o = NULL;
        }
        return print_json(o);
    }
    puts("revoked");
    return 0;
}

static cJSON *token_json(const sess_token_info *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "hash", t->hash) ||
        !cJSON_AddStringToObject(o, "userId", t->user_id) ||
        !cJSON_AddNumberToObject(o, "createdAt", (double)t->created_at) ||
        !(t->revoked_at ? cJSON_AddNumberToObject(o, "revokedAt",
                                                  (double)t->revoked_at)
                        : cJSON_AddNullToObject(o, "revokedAt"))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int token_list(sess_store *st, const svc_config *cfg, const char *user)
{
    sess_token_info *v = NULL;
    size_t n = 0;
    sess_error e;
    char t1[ISO8601_LEN], t2[ISO8601_LEN];
    if (sess_token_list(st, user, &v, &n, &e) != SESS_OK)
        return fail("token list", &e);
    int rc = 0;
    if (cfg->json) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; a && i < n; i++) {
            cJSON *o = token_json(&v[i]);
            if (!o || !cJSON_AddItemToArray(a, o)) {
                cJSON_Delete(o);
                cJSON_Delete(a);
                a = NULL;
            }
        }
        rc = print_json(a);
    } else {
        printf("%-64s  %-20s  %-24s  %s\n", "HASH", "USER", "CREATED", "REVOKED");
        for (size_t i = 0; i < n; i++)
            printf("%-64s  %-20s  %-24s  %s\n", v[i].hash, v[i].user_id,
                   when(v[i].created_at, t1), when(v[i].revoked_at, t2));
    }
    sess_token_list_free(v, n);
    return rc;
}

static int cmd_token(sess_store *st, const svc_config *cfg)
{
    const char *sub = cfg->n_words > 1 ? cfg->words[1] : "";
    const char *arg = cfg->n_words > 2 ? cfg->words[2] : NULL;
    if (cfg->n_words > 3)
        return usage_error("too many arguments");
    if (strcmp(sub, "create") == 0)
        return arg ? token_create(st, cfg, arg) : usage_error("token create USER");
    if (strcmp(sub, "revoke") == 0)
        return arg ? token_revoke(st, cfg, arg) : usage_error("token revoke TOKEN");
    if (strcmp(sub, "list") == 0)
        return token_list(st, cfg, arg);
    return usage_error("token create|revoke|list");
}

/* ---------- sessions, reap ---------- */

static int cmd_sessions(sess_store *st, const svc_config *cfg)
{
    sess_session *v = NULL;
    size_t n = 0;
    sess_error e;
    char t1[ISO8601_LEN], t2[ISO8601_LEN];
    if (cfg->n_words != 2 || strcmp(cfg->words[1], "list") != 0)
        return usage_error("sessions list [--user U] [--active] [--limit N]");
    if (sess_store_list(st, cfg->user, cfg->active_only, (size_t)cfg->limit,
                        &v, &n, &e) != SESS_OK)
        return fail("sessions list", &e);
    int rc = 0;
    if (cfg->json) {
        rc = print_json(svc_session_list_json(v, n));
    } else {
        printf("%-36s  %-16s  %-10s  %-6s  %-36s  %-24s  %-24s  %s\n", "ID",
               "USER", "LANGUAGE", "STATUS", "SANDBOX", "CREATED", "CLOSED",
               "REASON");
        for (size_t i = 0; i < n; i++)
            printf("%-36s  %-16s  %-10s  %-6s  %-36s  %-24s  %-24s  %s\n",
                   v[i].id, v[i].user_id, v[i].language,
                   sess_status_name(v[i].status), v[i].sandbox_id,
                   when(v[i].created_at, t1), when(v[i].closed_at, t2),
                   v[i].close_reason ? v[i].close_reason : "-");
    }
    sess_session_list_free(v, n);
    return rc;
}

static cJSON *report_json(const sess_reap_report *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "sandboxesSeen", (double)r->sandboxes_seen) ||
        !cJSON_AddNumberToObject(o, "sandboxesDeleted", (double)r->sandboxes_deleted) ||
        !cJSON_AddNumberToObject(o, "sandboxesYoung", (double)r->sandboxes_young) ||
        !cJSON_AddNumberToObject(o, "sessionsClosed", (double)r->sessions_closed) ||
        !cJSON_AddNumberToObject(o, "failures", (double)r->failures)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* A pass with failures (a delete that did not go through) exits 1 after
 * its report: the next pass retries them. */
static int cmd_reap(const svc_config *cfg)
{
    svc_app app = {0};
    sess_reap_report rep;
    sess_error e;
    if (cfg->n_words != 1)
        return usage_error("reap takes no arguments");
    if (svc_open(&app, cfg, 1) != 0)
        return 1;
    int rc = 1;
    if (sess_reap(app.mgr, &rep, &e) != SESS_OK) {
        fail("reap", &e);
        goto done;
    }
    if (cfg->json) {
        rc = print_json(report_json(&rep));
    } else {
        printf("sandboxes seen:     %zu\norphans deleted:    %zu\n"
               "left (grace):       %zu\nsessions closed:    %zu\n"
               "failures:           %zu\n", rep.sandboxes_seen,
               rep.sandboxes_deleted, rep.sandboxes_young, rep.sessions_closed,
               rep.failures);
        rc = 0;
    }
    if (rc == 0 && rep.failures)
        rc = 1;
done:
    svc_close(&app);
    return rc;
}

int svc_admin(const svc_config *cfg)
{
    const char *cmd = cfg->words[0];
    if (strcmp(cmd, "reap") == 0)
        return cmd_reap(cfg);
    if (strcmp(cmd, "token") != 0 && strcmp(cmd, "sessions") != 0) {
        fprintf(stderr, SVC_NAME ": unknown command '%s' (see --help)\n", cmd);
        return 2;
    }
    svc_app app = {0};
    if (svc_open(&app, cfg, 0) != 0)
        return 1;
    int rc = strcmp(cmd, "token") == 0 ? cmd_token(app.store, cfg)
                                       : cmd_sessions(app.store, cfg);
    svc_close(&app);
    return rc;
}
