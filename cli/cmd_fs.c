/*
 * cmd_fs.c - `dtctl fs ls|upload|download|rm|mkdir`: files in a sandbox.
 *
 * Paths in the sandbox are the sandbox's view (relative ones start at the
 * user's home).  upload and download stream between the local file and
 * the sandbox, never holding the whole file in memory.
 */
#include <stdio.h>
#include <string.h>

#include "dtctl.h"

enum { O_RECURSIVE = 1, O_MODE };

/* A transfer may take long on a slow link; one hour per request instead
 * of the library's 60 s default. */
#define TRANSFER_TIMEOUT_MS (3600L * 1000L)

/* Opens the sandbox with the request timeout of a transfer. */
static int open_for_transfer(cli_ctx *cx, const char *id, dt_sandbox **sb)
{
    cx->request_timeout_ms = TRANSFER_TIMEOUT_MS;
    return cli_open_sandbox(cx, id, sb);
}

/* {k1: v1, k2: v2, "ok": true} (k2 may be NULL); NULL on allocation
 * failure. */
static cJSON *done_json(const char *k1, const char *v1, const char *k2,
                        const char *v2)
{
    cJSON *j = cJSON_CreateObject();
    int ok = cJSON_AddStringToObject(j, k1, v1) &&
             (!k2 || cJSON_AddStringToObject(j, k2, v2)) &&
             cJSON_AddBoolToObject(j, "ok", 1);

    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* ------------------------------------------------------------------ */
/* ls                                                                 */
/* ------------------------------------------------------------------ */

static cJSON *file_json(const dt_file_info *f)
{
    cJSON *j = cJSON_CreateObject();
    int ok =
        cJSON_AddStringToObject(j, "name", f->name ? f->name : "") &&
        (!f->path || cJSON_AddStringToObject(j, "path", f->path)) &&
        cJSON_AddBoolToObject(j, "isDir", f->is_dir) &&
        cJSON_AddNumberToObject(j, "size", (double)f->size) &&
        cJSON_AddStringToObject(j, "mode", f->mode ? f->mode : "") &&
        cJSON_AddStringToObject(j, "permissions",
                                f->permissions ? f->permissions : "") &&
        cJSON_AddStringToObject(j, "owner", f->owner ? f->owner : "") &&
        cJSON_AddStringToObject(j, "group", f->group ? f->group : "") &&
        cJSON_AddStringToObject(j, "modTime", f->mod_time ? f->mod_time : "");

    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static cJSON *files_json(const dt_file_info *list, size_t n)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr && i < n; i++) {
        cJSON *f = file_json(&list[i]);
        if (!f || !cJSON_AddItemToArray(arr, f)) {
            cJSON_Delete(f);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static void print_files(const dt_file_info *list, size_t n)
{
    printf("%-11s %-8s %-8s %12s  %-25s %s\n", "MODE", "OWNER", "GROUP",
           "SIZE", "MODIFIED", "NAME");
    for (size_t i = 0; i < n; i++) {
        const dt_file_info *f = &list[i];
        printf("%-11s %-8s %-8s %12lld  %-25s %s%s\n", f->mode ? f->mode : "",
               f->owner ? f->owner : "", f->group ? f->group : "", f->size,
               f->mod_time ? f->mod_time : "", f->name ? f->name : "",
               f->is_dir ? "/" : "");
    }
}

static int run_ls(cli_ctx *cx, const cli_args *a)
{
    dt_file_info *list = NULL;
    dt_sandbox *sb = NULL;
    size_t n = 0;
    dt_error err;
    int rc;

    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_fs_list(sb, a->n_pos > 1 ? a->pos[1] : ".", &list, &n, &err) !=
        DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(files_json(list, n));
    else
        print_files(list, n);
    dt_file_info_list_free(list, n);
    dt_sandbox_free(sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* upload, download                                                   */
/* ------------------------------------------------------------------ */

static int run_upload(cli_ctx *cx, const cli_args *a)
{
    const char *local = a->pos[1], *remote = a->pos[2];
    dt_sandbox *sb = NULL;
    dt_error err;
    int rc;

    if ((rc = open_for_transfer(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_fs_upload_file(sb, local, remote, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(done_json("local", local, "remote", remote));
    else
        printf("Uploaded %s to %s\n", local, remote);
    dt_sandbox_free(sb);
    return rc;
}

static int run_download(cli_ctx *cx, const cli_args *a)
{
    const char *remote = a->pos[1], *local = a->pos[2];
    dt_sandbox *sb = NULL;
    dt_error err;
    int rc;

    if ((rc = open_for_transfer(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_fs_download_file(sb, remote, local, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(done_json("remote", remote, "local", local));
    else
        printf("Downloaded %s to %s\n", remote, local);
    dt_sandbox_free(sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* rm, mkdir                                                          */
/* ------------------------------------------------------------------ */

static const cli_opt rm_opts[] = {
    {"recursive", 'r', 0, O_RECURSIVE},
    {NULL, 0, 0, 0},
};

static int run_rm(cli_ctx *cx, const cli_args *a)
{
    dt_sandbox *sb = NULL;
    dt_error err;
    int recursive = 0;
    int rc;

    for (size_t i = 0; i < a->n_hits; i++)
        recursive |= a->hits[i].id == O_RECURSIVE;
    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_fs_delete(sb, a->pos[1], recursive, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(done_json("path", a->pos[1], NULL, NULL));
    else
        printf("Removed %s\n", a->pos[1]);
    dt_sandbox_free(sb);
    return rc;
}

static const cli_opt mkdir_opts[] = {
    {"mode", 'm', 1, O_MODE},
    {NULL, 0, 0, 0},
};

/* Octal digits only: the toolbox takes the mode as text. */
static int mode_ok(const char *m)
{
    size_t n = strlen(m);
    return n >= 1 && n <= 4 && strspn(m, "01234567") == n;
}

static int run_mkdir(cli_ctx *cx, const cli_args *a)
{
    const char *mode = NULL;
    dt_sandbox *sb = NULL;
    dt_error err;
    int rc;

    for (size_t i = 0; i < a->n_hits; i++)
        if (a->hits[i].id == O_MODE)
            mode = a->hits[i].val;
    if (mode && !mode_ok(mode))
        return cli_usage_error(cx, "invalid value '%s' for --mode: expected "
                               "an octal mode like 755", mode);
    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_fs_mkdir(sb, a->pos[1], mode, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(done_json("path", a->pos[1], NULL, NULL));
    else
        printf("Created %s\n", a->pos[1]);
    dt_sandbox_free(sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Table                                                              */
/* ------------------------------------------------------------------ */

static const char *const ls_aliases[] = {"list", NULL};

const cli_cmd cli_fs_cmds[] = {
    {"ls", ls_aliases, "ID [PATH] [flags]",
     "List a directory (default: the user's home)", NULL, NULL, 1, 2, run_ls,
     NULL},
    {"upload", NULL, "ID LOCAL REMOTE [flags]",
     "Upload a local file (streamed; parents are created)", NULL, NULL, 3, 3,
     run_upload, NULL},
    {"download", NULL, "ID REMOTE LOCAL [flags]",
     "Download a file to a local path (streamed)", NULL, NULL, 3, 3,
     run_download, NULL},
    {"rm", NULL, "ID PATH [-r] [flags]", "Remove a file or directory",
     "Flags:\n"
     "  -r, --recursive          remove a directory and its contents\n",
     rm_opts, 2, 2, run_rm, NULL},
    {"mkdir", NULL, "ID PATH [--mode M] [flags]",
     "Create a directory (and its parents)",
     "Flags:\n"
     "  -m, --mode M             octal mode (default 755)\n",
     mkdir_opts, 2, 2, run_mkdir, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
