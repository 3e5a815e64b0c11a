/*
 * cmd_sandbox.c - `dtctl sandbox create|list|info|start|stop|archive|delete`
 * (also reachable without the `sandbox` word, as in Daytona's CLI).
 *
 * Flags follow Daytona's CLI (apps/cli/cmd/sandbox) where they
 * overlap: create's --label/-l and --env/-e are repeatable KEY=VALUE, list's
 * -l is --limit and -c is --cursor.  Resources are in Daytona's API units
 * (cores, GiB); intervals are minutes.  Transitions wait for their end
 * state like the SDKs do.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtctl.h"

enum {
    O_NAME = 1, O_LABEL, O_ENV, O_CPU, O_MEMORY, O_DISK, O_AUTO_STOP,
    O_AUTO_ARCHIVE, O_AUTO_DELETE, O_SNAPSHOT, O_NET_BLOCK_ALL, O_LANGUAGE,
    O_USER, O_PUBLIC, O_GPU, O_NET_ALLOW, O_EPHEMERAL, O_IMAGE,
    O_PAGE, O_LIMIT, O_CURSOR, O_ALL
};

/* ------------------------------------------------------------------ */
/* Human-readable output                                              */
/* ------------------------------------------------------------------ */

static void print_labels(const dt_sandbox *sb, const char *sep)
{
    size_t n = dt_sandbox_label_count(sb);

    for (size_t i = 0; i < n; i++) {
        dt_kv kv = dt_sandbox_label_at(sb, i);
        printf("%s%s=%s", i ? sep : "", kv.key, kv.value);
    }
}

static void print_minutes(const char *what, int m, const char *zero)
{
    if (m == 0 && zero)
        printf("%-14s%s\n", what, zero);
    else if (m < 0)
        printf("%-14snever\n", what);
    else
        printf("%-14s%d min\n", what, m);
}

static void print_info(const dt_sandbox *sb)
{
    const char *reason = dt_sandbox_error_reason(sb);
    const char *snapshot = dt_sandbox_snapshot(sb);

    printf("%-14s%s\n", "ID", dt_sandbox_id(sb));
    printf("%-14s%s\n", "Name", dt_sandbox_name(sb));
    printf("%-14s%s\n", "State", dt_sandbox_state(sb));
    if (reason && *reason)
        printf("%-14s%s\n", "Error", reason);
    printf("%-14s%s\n", "Snapshot", snapshot ? snapshot : "-");
    printf("%-14s%s\n", "Target", dt_sandbox_target(sb));
    printf("%-14s%s\n", "User", dt_sandbox_user(sb));
    printf("%-14s%g\n", "CPU", dt_sandbox_cpu(sb));
    if (dt_sandbox_gpu(sb) > 0)
        printf("%-14s%g\n", "GPU", dt_sandbox_gpu(sb));
    printf("%-14s%g GiB\n", "Memory", dt_sandbox_memory(sb));
    printf("%-14s%g GiB\n", "Disk", dt_sandbox_disk(sb));
    printf("%-14s%s\n", "Public", dt_sandbox_public(sb) ? "yes" : "no");
    print_minutes("Auto-stop", dt_sandbox_auto_stop_interval(sb), "disabled");
    print_minutes("Auto-archive", dt_sandbox_auto_archive_interval(sb),
                  "maximum");
    print_minutes("Auto-delete", dt_sandbox_auto_delete_interval(sb),
                  "at stop");
    printf("%-14s", "Labels");
    print_labels(sb, ", ");
    printf("\n");
}

/* The record (JSON) or the info block (table). */
static int show_sandbox(const cli_ctx *cx, const dt_sandbox *sb)
{
    cJSON *j;

    if (!cx->json) {
        print_info(sb);
        return 0;
    }
    if (!(j = cli_sandbox_json(sb)))
        return cli_failf("the sandbox record is not valid JSON");
    return cli_print_json(j);
}

/* ------------------------------------------------------------------ */
/* create                                                             */
/* ------------------------------------------------------------------ */

static const cli_opt create_opts[] = {
    {"name", 0, 1, O_NAME},
    {"label", 'l', 1, O_LABEL},
    {"env", 'e', 1, O_ENV},
    {"cpu", 0, 1, O_CPU},
    {"memory", 0, 1, O_MEMORY},
    {"disk", 0, 1, O_DISK},
    {"auto-stop", 0, 1, O_AUTO_STOP},
    {"auto-archive", 0, 1, O_AUTO_ARCHIVE},
    {"auto-delete", 0, 1, O_AUTO_DELETE},
    {"snapshot", 0, 1, O_SNAPSHOT},
    {"network-block-all", 0, 0, O_NET_BLOCK_ALL},
    {"language", 0, 1, O_LANGUAGE},
    {"user", 0, 1, O_USER},
    {"public", 0, 0, O_PUBLIC},
    {"gpu", 0, 1, O_GPU},
    {"network-allow-list", 0, 1, O_NET_ALLOW},
    {"ephemeral", 0, 0, O_EPHEMERAL},
    {"image", 0, 1, O_IMAGE},
    {NULL, 0, 0, 0},
};

/* One create flag into p (labels and env collect into the lists). */
static int create_flag(const cli_ctx *cx, const cli_hit *h,
                       dt_create_params *p, cli_kvs *labels, cli_kvs *env)
{
    switch (h->id) {
    case O_NAME: p->name = h->val; return 0;
    case O_SNAPSHOT: p->snapshot = h->val; return 0;
    case O_LANGUAGE: p->language = h->val; return 0;
    case O_NET_BLOCK_ALL: p->network_block_all = 1; return 0;
    case O_USER: p->user = h->val; return 0;
    case O_PUBLIC: p->public_ = 1; return 0;
    case O_EPHEMERAL: p->ephemeral = 1; return 0;
    case O_IMAGE: p->image = h->val; return 0;
    case O_NET_ALLOW: p->network_allow_list = h->val; return 0;
    case O_GPU: return cli_int(cx, "--gpu", h->val, 1, INT_MAX, &p->gpu);
    case O_LABEL: return cli_kvs_add(cx, labels, "--label", h->val);
    case O_ENV: return cli_kvs_add(cx, env, "--env", h->val);
    case O_CPU: return cli_int(cx, "--cpu", h->val, 1, INT_MAX, &p->cpu);
    case O_MEMORY:
        return cli_int(cx, "--memory", h->val, 1, INT_MAX, &p->memory);
    case O_DISK: return cli_int(cx, "--disk", h->val, 1, INT_MAX, &p->disk);
    case O_AUTO_STOP:
        return cli_int(cx, "--auto-stop", h->val, 0, INT_MAX,
                       &p->auto_stop_interval);
    case O_AUTO_ARCHIVE:
        return cli_int(cx, "--auto-archive", h->val, 0, INT_MAX,
                       &p->auto_archive_interval);
    case O_AUTO_DELETE:
        return cli_int(cx, "--auto-delete", h->val, -1, INT_MAX,
                       &p->auto_delete_interval);
    default: return 0;
    }
}

static int run_create(cli_ctx *cx, const cli_args *a)
{
    dt_create_params p;
    cli_kvs labels = {NULL, 0}, env = {NULL, 0};
    dt_sandbox *sb = NULL;
    dt_client *c;
    dt_error err;
    int rc = 0;

    dt_create_params_init(&p);
    for (size_t i = 0; i < a->n_hits && rc == 0; i++)
        rc = create_flag(cx, &a->hits[i], &p, &labels, &env);
    if (rc != 0 || (rc = cli_client(cx, &c)) != 0)
        goto cleanup;
    p.labels = labels.v;
    p.n_labels = labels.n;
    p.env_vars = env.v;
    p.n_env_vars = env.n;
    if (dt_create(c, &p, &sb, &err) != DT_OK) {
        rc = cli_fail(&err);
        goto cleanup;
    }
    if (!cx->json)
        printf("Sandbox '%s' created\n\n", dt_sandbox_name(sb));
    rc = show_sandbox(cx, sb);
cleanup:
    dt_sandbox_free(sb);
    cli_kvs_release(&labels);
    cli_kvs_release(&env);
    return rc;
}

/* ------------------------------------------------------------------ */
/* list                                                               */
/* ------------------------------------------------------------------ */

static const cli_opt list_opts[] = {
    {"label", 0, 1, O_LABEL},
    {"page", 'p', 1, O_PAGE},
    {"limit", 'l', 1, O_LIMIT},
    {"cursor", 'c', 1, O_CURSOR},
    {NULL, 0, 0, 0},
};

static int list_flags(const cli_ctx *cx, const cli_args *a, dt_list_opts *o,
                      cli_kvs *labels)
{
    int rc = 0;

    for (size_t i = 0; i < a->n_hits && rc == 0; i++) {
        const cli_hit *h = &a->hits[i];
        if (h->id == O_LABEL)
            rc = cli_kvs_add(cx, labels, "--label", h->val);
        else if (h->id == O_PAGE)
            rc = cli_int(cx, "--page", h->val, 1, INT_MAX, &o->page);
        else if (h->id == O_LIMIT)
            rc = cli_int(cx, "--limit", h->val, 1, 200, &o->limit);
        else if (h->id == O_CURSOR)
            o->cursor = h->val;
    }
    if (rc == 0 && o->page && o->cursor)
        return cli_usage_error(cx, "--page and --cursor cannot be combined");
    /* Daytona's CLI pages with cursors; --page selects the paginated
     * form (total and page numbers) instead. */
    if (!o->page && !o->cursor)
        o->cursor = "";
    return rc;
}

static void print_list_table(dt_sandbox_list *l)
{
    size_t n = dt_sandbox_list_count(l);

    printf("%-38s %-24s %-10s %-4s %-7s %-7s %s\n", "ID", "NAME", "STATE",
           "CPU", "MEMORY", "DISK", "LABELS");
    for (size_t i = 0; i < n; i++) {
        dt_sandbox *sb = dt_sandbox_list_at(l, i);
        char mem[32], disk[32];
        snprintf(mem, sizeof mem, "%gGiB", dt_sandbox_memory(sb));
        snprintf(disk, sizeof disk, "%gGiB", dt_sandbox_disk(sb));
        printf("%-38s %-24s %-10s %-4g %-7s %-7s ", dt_sandbox_id(sb),
               dt_sandbox_name(sb), dt_sandbox_state(sb), dt_sandbox_cpu(sb),
               mem, disk);
        print_labels(sb, ",");
        printf("\n");
    }
    if (dt_sandbox_list_next_cursor(l))
        printf("\nNext cursor: %s\n", dt_sandbox_list_next_cursor(l));
}

/* {"items": [records], "nextCursor": ... | "total": n, "page": p} */
static cJSON *list_json(dt_sandbox_list *l, const dt_list_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(j, "items");
    const char *next = dt_sandbox_list_next_cursor(l);
    int ok = items != NULL;

    for (size_t i = 0; ok && i < dt_sandbox_list_count(l); i++) {
        cJSON *rec = cli_sandbox_json(dt_sandbox_list_at(l, i));
        ok = rec && cJSON_AddItemToArray(items, rec);
    }
    if (ok && o->cursor)
        ok = next ? cJSON_AddStringToObject(j, "nextCursor", next) != NULL
                  : cJSON_AddNullToObject(j, "nextCursor") != NULL;
    if (ok && !o->cursor) {
        ok = cJSON_AddNumberToObject(j, "page", o->page) != NULL &&
             (dt_sandbox_list_total(l) < 0 ||
              cJSON_AddNumberToObject(j, "total",
                                      (double)dt_sandbox_list_total(l)));
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int run_list(cli_ctx *cx, const cli_args *a)
{
    dt_list_opts o;
    cli_kvs labels = {NULL, 0};
    dt_sandbox_list *l = NULL;
    dt_client *c;
    dt_error err;
    int rc;

    memset(&o, 0, sizeof o);
    if ((rc = list_flags(cx, a, &o, &labels)) != 0 ||
        (rc = cli_client(cx, &c)) != 0)
        goto cleanup;
    o.labels = labels.v;
    o.n_labels = labels.n;
    if (dt_list(c, &o, &l, &err) != DT_OK) {
        rc = cli_fail(&err);
        goto cleanup;
    }
    if (cx->json)
        rc = cli_print_json(list_json(l, &o));
    else
        print_list_table(l);
cleanup:
    dt_sandbox_list_free(l);
    cli_kvs_release(&labels);
    return rc;
}

/* ------------------------------------------------------------------ */
/* info, start, stop, archive, delete                                 */
/* ------------------------------------------------------------------ */

static int run_info(cli_ctx *cx, const cli_args *a)
{
    dt_sandbox *sb = NULL;
    int rc = cli_open_sandbox(cx, a->pos[0], &sb);

    if (rc == 0)
        rc = show_sandbox(cx, sb);
    dt_sandbox_free(sb);
    return rc;
}

typedef dt_code (*transition_fn)(dt_sandbox *, long, dt_error *);

/* The transition commands share one run function, keyed by name. */
static const struct {
    const char *name;
    transition_fn fn;
    const char *done;
} transitions[] = {
    {"start", dt_sandbox_start, "started"},
    {"stop", dt_sandbox_stop, "stopped"},
    {"archive", dt_sandbox_archive, "archived"},
};

static int run_transition(cli_ctx *cx, const cli_args *a)
{
    dt_sandbox *sb = NULL;
    dt_error err;
    size_t t = 0;
    int rc;

    while (strcmp(transitions[t].name, cx->cmd->name) != 0)
        t++;
    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (transitions[t].fn(sb, 0, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = show_sandbox(cx, sb);
    else
        printf("Sandbox '%s' %s\n", dt_sandbox_name(sb), transitions[t].done);
    dt_sandbox_free(sb);
    return rc;
}

static cJSON *deleted_json(const char *id, const char *name)
{
    cJSON *j = cJSON_CreateObject();

    if (!cJSON_AddStringToObject(j, "id", id) ||
        !cJSON_AddStringToObject(j, "name", name) ||
        !cJSON_AddBoolToObject(j, "deleted", 1)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Deletes sb (taken) and reports it: printed, or added to *report (JSON).
 * Returns 0 or the exit status. */
static int delete_one(dt_sandbox *sb, cJSON *report)
{
    char *id = NULL, *name = NULL;
    dt_error err;
    int rc = 0;

    /* Taken before the delete: Daytona renames a deleted sandbox
     * (DESTROYED_<name>_<ms>) and the handle sees the new name. */
    id = strdup(dt_sandbox_id(sb));
    name = strdup(dt_sandbox_name(sb));
    if (!id || !name)
        rc = cli_failf("out of memory");
    else if (dt_sandbox_delete(sb, 0, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (report && !cJSON_AddItemToArray(report, deleted_json(id, name)))
        rc = cli_failf("out of memory");
    else if (!report)
        printf("Sandbox '%s' deleted\n", name);
    free(id);
    free(name);
    dt_sandbox_free(sb);
    return rc;
}

/* --all: every sandbox the key sees (with --label: those matching), read
 * page by page first, so sandboxes still `destroying` are not met again. */
static int delete_all(cli_ctx *cx, const cli_args *a)
{
    cli_kvs labels = {NULL, 0};
    dt_sandbox **all = NULL;
    size_t n = 0, cap = 0;
    dt_sandbox_list *l = NULL;
    char *cursor = strdup("");
    dt_client *c;
    dt_error err;
    int rc = 0;

    for (size_t i = 0; i < a->n_hits && rc == 0; i++)
        if (a->hits[i].id == O_LABEL)
            rc = cli_kvs_add(cx, &labels, "--label", a->hits[i].val);
    if (rc != 0 || (rc = cli_client(cx, &c)) != 0)
        goto cleanup;
    while (cursor) {
        dt_list_opts o = {labels.v, labels.n, 0, 100, cursor, NULL};
        if (dt_list(c, &o, &l, &err) != DT_OK) {
            rc = cli_fail(&err);
            goto cleanup;
        }
        for (size_t i = 0; i < dt_sandbox_list_count(l); i++) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                dt_sandbox **g = realloc(all, nc * sizeof *g);
                if (!g) {
                    rc = cli_failf("out of memory");
                    goto cleanup;
                }
                all = g;
                cap = nc;
            }
            all[n++] = dt_sandbox_list_take(l, i);
        }
        const char *next = dt_sandbox_list_next_cursor(l);
        free(cursor);
        cursor = next && *next ? strdup(next) : NULL;
        dt_sandbox_list_free(l);
        l = NULL;
    }
    cJSON *report = cx->json ? cJSON_CreateArray() : NULL;
    for (size_t i = 0; i < n; i++) {
        int r = delete_one(all[i], report);
        all[i] = NULL;
        if (r != 0 && rc == 0)
            rc = r;          /* go on with the others; report the first */
    }
    if (cx->json) {
        int r = cli_print_json(report);
        if (rc == 0)
            rc = r;
    } else if (n == 0) {
        printf("No sandboxes to delete\n");
    }
cleanup:
    for (size_t i = 0; i < n; i++)
        dt_sandbox_free(all[i]);
    free(all);
    free(cursor);
    dt_sandbox_list_free(l);
    cli_kvs_release(&labels);
    return rc;
}

static const cli_opt delete_opts[] = {
    {"all", 'a', 0, O_ALL},
    {"label", 0, 1, O_LABEL},
    {NULL, 0, 0, 0},
};

static int run_delete(cli_ctx *cx, const cli_args *a)
{
    dt_sandbox *sb = NULL;
    int all = 0, label = 0, rc;

    for (size_t i = 0; i < a->n_hits; i++) {
        all |= a->hits[i].id == O_ALL;
        label |= a->hits[i].id == O_LABEL;
    }
    if (all && a->n_pos)
        return cli_usage_error(cx, "--all takes no sandbox ID");
    if (!all && !a->n_pos)
        return cli_usage_error(cx, "a sandbox ID (or --all) is required");
    if (label && !all)
        return cli_usage_error(cx, "--label goes with --all");
    if (all)
        return delete_all(cx, a);
    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (!cx->json)
        return delete_one(sb, NULL);
    cJSON *one = cJSON_CreateArray();
    rc = delete_one(sb, one);
    cJSON *item = rc == 0 ? cJSON_DetachItemFromArray(one, 0) : NULL;
    cJSON_Delete(one);
    return rc == 0 ? cli_print_json(item) : rc;
}

/* ------------------------------------------------------------------ */
/* Table                                                              */
/* ------------------------------------------------------------------ */

static const char *const create_aliases[] = {"add", "new", NULL};
static const char *const list_aliases[] = {"ls", NULL};
static const char *const info_aliases[] = {"view", "inspect", NULL};
static const char *const delete_aliases[] = {"remove", "rm", NULL};

#define ID_ARG "  ID                       sandbox id or name\n"

const cli_cmd cli_sandbox_cmds[] = {
    {"create", create_aliases, "[flags]", "Create a sandbox and wait until "
     "it is started",
     "Flags:\n"
     "      --name NAME          sandbox name (default: its id)\n"
     "  -l, --label KEY=VALUE    label (repeatable)\n"
     "  -e, --env KEY=VALUE      environment variable (repeatable)\n"
     "      --cpu N              CPU cores\n"
     "      --memory N           memory in GiB\n"
     "      --disk N             disk in GiB\n"
     "      --auto-stop MIN      auto-stop interval in minutes (0 = never)\n"
     "      --auto-archive MIN   auto-archive interval in minutes "
     "(0 = maximum)\n"
     "      --auto-delete MIN    auto-delete interval in minutes (-1 = "
     "never,\n"
     "                           0 = at stop)\n"
     "      --snapshot NAME      snapshot name or id\n"
     "      --image IMAGE        base image (e.g. python:3.12) instead of "
     "a snapshot\n"
     "      --network-block-all  block all network access\n"
     "      --network-allow-list CIDRS  comma-separated networks to allow "
     "(at most 5)\n"
     "      --language LANG      python (default), typescript or "
     "javascript\n"
     "      --user USER          OS user inside the sandbox\n"
     "      --public             preview URLs need no token\n"
     "      --gpu N              GPUs\n"
     "      --ephemeral          delete the sandbox when it stops\n",
     create_opts, 0, 0, run_create, NULL},
    {"list", list_aliases, "[flags]", "List sandboxes",
     "Flags:\n"
     "      --label KEY=VALUE    only sandboxes with this label "
     "(repeatable)\n"
     "  -l, --limit N            sandboxes per page (1-200)\n"
     "  -p, --page N             page number (paginated form: with total)\n"
     "  -c, --cursor CURSOR      cursor from a previous page\n",
     list_opts, 0, 0, run_list, NULL},
    {"info", info_aliases, "ID [flags]", "Show a sandbox", ID_ARG, NULL, 1, 1,
     run_info, NULL},
    {"start", NULL, "ID [flags]", "Start a sandbox and wait until started",
     ID_ARG, NULL, 1, 1, run_transition, NULL},
    {"stop", NULL, "ID [flags]", "Stop a sandbox and wait until stopped",
     ID_ARG, NULL, 1, 1, run_transition, NULL},
    {"archive", NULL, "ID [flags]", "Archive a stopped sandbox", ID_ARG, NULL,
     1, 1, run_transition, NULL},
    {"delete", delete_aliases, "ID | --all [flags]", "Delete a sandbox and wait "
     "until it is gone",
     ID_ARG "\nFlags:\n"
     "  -a, --all                delete every sandbox (one JSON array with "
     "--format json)\n"
     "      --label KEY=VALUE    with --all: only sandboxes with this label "
     "(repeatable)\n",
     delete_opts, 0, 1, run_delete, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
