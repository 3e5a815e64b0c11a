/*
 * files.c - the file system API (daytona.h section "Files"): the toolbox's
 * /files endpoints with the request shapes of the TypeScript SDK 0.218
 * (FileSystem.js and its generated toolbox client).
 *
 *  - Metadata calls are small JSON exchanges: list, info, find, search,
 *    replace; mkdir, delete, move and permissions answer with empty bodies.
 *  - Uploads (one buffer, one local file, or many) all go to POST
 *    /files/bulk-upload as the SDK's uploadFile/uploadFiles do, with a
 *    multipart body generated on the fly (files_multipart.c), so a local
 *    file is streamed and never loaded whole.
 *  - Single downloads use GET /files/download (idempotent, so the
 *    transport may retry it, and its errors are plain HTTP statuses);
 *    download_file streams into a temporary file renamed into place on
 *    success.  Bulk downloads use POST /files/bulk-download and decode the
 *    multipart answer as it streams.
 *
 * Error messages: Daytona's daemon (v0.190) answers most file errors with
 * a bare status and an empty body (reference toolbox.md 2.2); the emulator
 * sends its envelope.  When the body said nothing, the message is made
 * here from the status and the path, so "file not found: /x" reads the
 * same against both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files_multipart.h"
#include "internal.h"

/* The SDK's default for transfers is 30 minutes; a client configured with
 * a longer request timeout keeps it. */
#define DT__TRANSFER_TIMEOUT_MS (30L * 60 * 1000)

typedef struct {
    const char *key;
    const char *value;       /* NULL = leave the parameter out */
} qparam;

static dt_code sb_check(const dt_sandbox *sb, dt_error *err)
{
    if (!sb || sb->magic != DT__SANDBOX_MAGIC || !sb->client)
        return dt__fail(err, DT_EINVAL, 0, "invalid sandbox handle");
    return DT_OK;
}

static long transfer_timeout(const dt_sandbox *sb)
{
    long t = sb->client->request_timeout_ms;
    return (t < 0 || t > DT__TRANSFER_TIMEOUT_MS) ? t : DT__TRANSFER_TIMEOUT_MS;
}

/* The toolbox URL of sub ("/files/info") with the given query. */
static dt_code fs_url(const dt_sandbox *sb, const char *sub, const qparam *q,
                      size_t nq, char **out, dt_error *err)
{
    dt__url u;
    dt_code rc = DT_OK;
    dt__toolbox_url(sb, &u, sub);
    for (size_t i = 0; i < nq; i++)
        if (q[i].value)
            dt__url_query(&u, q[i].key, q[i].value);
    char *url = dt__url_take(&u, &rc);
    if (!url)
        return dt__fail(err, rc != DT_OK ? rc : DT_ENOMEM, 0,
                        "cannot build the URL for %s", sub);
    *out = url;
    return DT_OK;
}

/* Gives an empty-bodied error a message naming the path (see the top). */
static dt_code fs_error(dt_code rc, dt_error *err, const char *path)
{
    static const char generic[] = "request failed with status";
    if (!err || rc == DT_OK || err->status < 400 ||
        strncmp(err->message, generic, sizeof generic - 1) != 0)
        return rc;
    const char *what = err->status == 404 ? "file not found"
                     : err->status == 403 ? "access denied"
                     : err->status == 409 ? "already exists"
                     : err->status == 400 ? "invalid file path or request"
                                          : NULL;
    if (what && path)
        dt__fail(err, rc, err->status, "%s: %s", what, path);
    return rc;
}

/* A JSON exchange with a /files endpoint; *out may be NULL afterwards
 * (empty body).  `path` names the file in messages. */
static dt_code fs_json(dt_sandbox *sb, const char *method, const char *sub,
                       const qparam *q, size_t nq, const cJSON *body,
                       cJSON **out, const char *path, dt_error *err)
{
    char *url = NULL;
    dt_code rc = sb_check(sb, err);
    if (rc == DT_OK)
        rc = fs_url(sb, sub, q, nq, &url, err);
    if (rc == DT_OK)
        rc = fs_error(dt__json(sb->client, method, url, body, out, err), err,
                      path);
    free(url);
    return rc;
}

static dt_code need(int ok, const char *what, dt_error *err)
{
    return ok ? DT_OK : dt__fail(err, DT_EINVAL, 0, "%s is required", what);
}

/* ---- FileInfo ---- */

void dt_file_info_release(dt_file_info *fi)
{
    if (!fi)
        return;
    free(fi->name);
    free(fi->path);
    free(fi->mode);
    free(fi->permissions);
    free(fi->owner);
    free(fi->group);
    free(fi->mod_time);
    memset(fi, 0, sizeof *fi);
}

void dt_file_info_list_free(dt_file_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        dt_file_info_release(&list[i]);
    free(list);
}

/* A string member, or a number as text (owner/group are numeric strings
 * on Daytona, but a number is accepted), or dflt; NULL only when out of
 * memory (*bad set) or when dflt is NULL and the member is absent. */
static char *jtext(const cJSON *o, const char *key, const char *dflt, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char num[32];
    const char *s = dflt;
    if (cJSON_IsString(v))
        s = v->valuestring;
    else if (cJSON_IsNumber(v) && snprintf(num, sizeof num, "%.0f",
                                           v->valuedouble) > 0)
        s = num;
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

static dt_code info_from_json(const cJSON *o, dt_file_info *fi, dt_error *err)
{
    int bad = 0;
    memset(fi, 0, sizeof *fi);
    if (!cJSON_IsObject(o))
        return dt__fail(err, DT_EPROTO, 0, "file info is not a JSON object");
    fi->name = jtext(o, "name", "", &bad);
    fi->path = jtext(o, "path", NULL, &bad);
    fi->is_dir = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "isDir"));
    fi->size = (long long)dt__jnum(o, "size", 0);
    fi->mode = jtext(o, "mode", "", &bad);
    fi->permissions = jtext(o, "permissions", "", &bad);
    fi->owner = jtext(o, "owner", "", &bad);
    fi->group = jtext(o, "group", "", &bad);
    /* RFC 3339 when the daemon sends it; Go's time.String() otherwise. */
    fi->mod_time = jtext(o, "modifiedAt", NULL, &bad);
    if (!fi->mod_time && !bad)
        fi->mod_time = jtext(o, "modTime", "", &bad);
    if (bad) {
        dt_file_info_release(fi);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    return DT_OK;
}

dt_code dt_fs_list(dt_sandbox *sb, const char *path, dt_file_info **out,
                   size_t *n, dt_error *err)
{
    qparam q[] = {{"path", path}};
    cJSON *j = NULL;
    dt_file_info *list = NULL;
    size_t got = 0;
    dt_code rc = need(out && n, "out", err);
    if (rc == DT_OK)
        rc = fs_json(sb, "GET", "/files", q, 1, NULL, &j, path ? path : ".",
                     err);
    if (rc != DT_OK)
        goto cleanup;
    if (!cJSON_IsArray(j)) {
        rc = dt__fail(err, DT_EPROTO, 200, "list %s: not a JSON array", path);
        goto cleanup;
    }
    int count = cJSON_GetArraySize(j);
    if (!(list = calloc(count ? (size_t)count : 1, sizeof *list))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        if ((rc = info_from_json(it, &list[got], err)) != DT_OK)
            goto cleanup;
        got++;
    }
    *out = list;
    *n = got;
    list = NULL;
cleanup:
    dt_file_info_list_free(list, got);
    cJSON_Delete(j);
    return rc;
}

dt_code dt_fs_info(dt_sandbox *sb, const char *path, dt_file_info *out,
                   dt_error *err)
{
    qparam q[] = {{"path", path}};
    cJSON *j = NULL;
    dt_file_info fi;
    dt_code rc = need(path != NULL, "path", err);
    if (rc == DT_OK)
        rc = need(out != NULL, "out", err);
    if (rc == DT_OK)
        rc = fs_json(sb, "GET", "/files/info", q, 1, NULL, &j, path, err);
    if (rc == DT_OK && (rc = info_from_json(j, &fi, err)) == DT_OK)
        *out = fi;
    cJSON_Delete(j);
    return rc;
}

/* ---- folder, delete, move, permissions ---- */

dt_code dt_fs_mkdir(dt_sandbox *sb, const char *path, const char *mode,
                    dt_error *err)
{
    qparam q[] = {{"path", path}, {"mode", mode ? mode : "755"}};
    dt_code rc = need(path != NULL, "path", err);
    return rc ? rc : fs_json(sb, "POST", "/files/folder", q, 2, NULL, NULL,
                             path, err);
}

dt_code dt_fs_delete(dt_sandbox *sb, const char *path, int recursive,
                     dt_error *err)
{
    qparam q[] = {{"path", path}, {"recursive", recursive ? "true" : "false"}};
    dt_code rc = need(path != NULL, "path", err);
    return rc ? rc : fs_json(sb, "DELETE", "/files", q, 2, NULL, NULL, path,
                             err);
}

dt_code dt_fs_move(dt_sandbox *sb, const char *src, const char *dst,
                   dt_error *err)
{
    qparam q[] = {{"source", src}, {"destination", dst}};
    dt_code rc = need(src != NULL, "source", err);
    if (rc == DT_OK)
        rc = need(dst != NULL, "destination", err);
    if (rc != DT_OK)
        return rc;
    rc = fs_json(sb, "POST", "/files/move", q, 2, NULL, NULL, src, err);
    /* 409 is about the destination, not the source. */
    if (rc == DT_ECONFLICT && err && err->status == 409 &&
        strncmp(err->message, "already exists: ", 16) == 0)
        dt__fail(err, rc, 409, "already exists: %s", dst);
    return rc;
}

dt_code dt_fs_set_permissions(dt_sandbox *sb, const char *path,
                              const char *mode, const char *owner,
                              const char *group, dt_error *err)
{
    /* The order of the SDK's generated client. */
    qparam q[] = {{"path", path}, {"owner", owner}, {"group", group},
                  {"mode", mode}};
    dt_code rc = need(path != NULL, "path", err);
    return rc ? rc : fs_json(sb, "POST", "/files/permissions", q, 4, NULL,
                             NULL, path, err);
}

/* ---- find, search, replace ---- */

void dt_match_list_free(dt_match *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].file);
        free(list[i].content);
    }
    free(list);
}

void dt_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void dt_replace_result_list_free(dt_replace_result *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].file);
        free(list[i].error);
    }
    free(list);
}

/* calloc for an array of a JSON array's size (at least one element, so
 * an empty answer still gives a non-NULL pointer to free). */
static void *array_for(const cJSON *a, size_t elem, dt_error *err)
{
    int n = cJSON_GetArraySize(a);
    void *p = calloc(n > 0 ? (size_t)n : 1, elem);
    if (!p)
        dt__fail(err, DT_ENOMEM, 0, "out of memory");
    return p;
}

dt_code dt_fs_find(dt_sandbox *sb, const char *path, const char *pattern,
                   dt_match **out, size_t *n, dt_error *err)
{
    qparam q[] = {{"path", path}, {"pattern", pattern}};
    cJSON *j = NULL;
    dt_match *list = NULL;
    size_t got = 0;
    int bad = 0;
    dt_code rc = need(path != NULL, "path", err);
    if (rc == DT_OK)
        rc = need(pattern != NULL, "pattern", err);
    if (rc == DT_OK)
        rc = need(out && n, "out", err);
    if (rc == DT_OK)
        rc = fs_json(sb, "GET", "/files/find", q, 2, NULL, &j, path, err);
    if (rc != DT_OK)
        goto cleanup;
    if (!cJSON_IsArray(j)) {
        rc = dt__fail(err, DT_EPROTO, 200, "find: the answer is not an array");
        goto cleanup;
    }
    if (!(list = array_for(j, sizeof *list, err))) {
        rc = DT_ENOMEM;
        goto cleanup;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        list[got].file = jtext(it, "file", "", &bad);
        list[got].line = (int)dt__jnum(it, "line", 0);
        list[got].content = jtext(it, "content", "", &bad);
        got++;
        if (bad) {
            rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
            goto cleanup;
        }
    }
    *out = list;
    *n = got;
    list = NULL;
cleanup:
    dt_match_list_free(list, got);
    cJSON_Delete(j);
    return rc;
}

dt_code dt_fs_search(dt_sandbox *sb, const char *path, const char *pattern,
                     char ***out, size_t *n, dt_error *err)
{
    qparam q[] = {{"path", path}, {"pattern", pattern}};
    cJSON *j = NULL;
    char **v = NULL;
    size_t got = 0;
    dt_code rc = need(path != NULL, "path", err);
    if (rc == DT_OK)
        rc = need(pattern != NULL, "pattern", err);
    if (rc == DT_OK)
        rc = need(out && n, "out", err);
    if (rc == DT_OK)
        rc = fs_json(sb, "GET", "/files/search", q, 2, NULL, &j, path, err);
    if (rc != DT_OK)
        goto cleanup;
    /* {"files": [...]}; Daytona may send null for none. */
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "files");
    if (!cJSON_IsObject(j) || (!cJSON_IsArray(files) && !cJSON_IsNull(files))) {
        rc = dt__fail(err, DT_EPROTO, 200, "search: the answer has no files");
        goto cleanup;
    }
    if (!(v = array_for(files, sizeof *v, err))) {
        rc = DT_ENOMEM;
        goto cleanup;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, files) {
        if (!cJSON_IsString(it))
            continue;
        if (!(v[got] = strdup(it->valuestring))) {
            rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
            goto cleanup;
        }
        got++;
    }
    *out = v;
    *n = got;
    v = NULL;
cleanup:
    dt_strv_free(v, got);
    cJSON_Delete(j);
    return rc;
}

static cJSON *replace_body(const char *const *files, size_t n_files,
                           const char *pattern, const char *new_value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "files");
    int bad = !a;
    for (size_t i = 0; !bad && i < n_files; i++) {
        cJSON *s = cJSON_CreateString(files[i]);
        bad = !s || !cJSON_AddItemToArray(a, s);
        if (!s || bad)
            cJSON_Delete(s);
    }
    if (bad || !cJSON_AddStringToObject(o, "pattern", pattern) ||
        !cJSON_AddStringToObject(o, "newValue", new_value)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static dt_code replace_results(const cJSON *j, dt_replace_result **out,
                               size_t *n, dt_error *err)
{
    dt_replace_result *list = NULL;
    size_t got = 0;
    int bad = 0;
    if (!cJSON_IsArray(j))
        return dt__fail(err, DT_EPROTO, 200, "replace: the answer is not an "
                        "array");
    if (!(list = array_for(j, sizeof *list, err)))
        return DT_ENOMEM;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        list[got].file = jtext(it, "file", "", &bad);
        list[got].success =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "success"));
        list[got].error = jtext(it, "error", NULL, &bad);
        got++;
        if (bad) {
            dt_replace_result_list_free(list, got);
            return dt__fail(err, DT_ENOMEM, 0, "out of memory");
        }
    }
    *out = list;
    *n = got;
    return DT_OK;
}

dt_code dt_fs_replace(dt_sandbox *sb, const char *const *files, size_t n_files,
                      const char *pattern, const char *new_value,
                      dt_replace_result **out, size_t *n, dt_error *err)
{
    cJSON *body = NULL, *j = NULL;
    dt_code rc = (!files && n_files)
                     ? dt__fail(err, DT_EINVAL, 0, "files is required")
                     : DT_OK;
    for (size_t i = 0; rc == DT_OK && i < n_files; i++)
        rc = need(files[i] != NULL, "every file", err);
    if (rc == DT_OK)
        rc = need(pattern != NULL, "pattern", err);
    if (rc == DT_OK)
        rc = need(new_value != NULL, "new_value", err);
    if (rc == DT_OK)
        rc = need(out && n, "out", err);
    if (rc == DT_OK && !(body = replace_body(files, n_files, pattern,
                                             new_value)))
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    if (rc == DT_OK)
        rc = fs_json(sb, "POST", "/files/replace", NULL, 0, body, &j, NULL,
                     err);
    if (rc == DT_OK)
        rc = replace_results(j, out, n, err);
    cJSON_Delete(body);
    cJSON_Delete(j);
    return rc;
}

/* ---- uploads ---- */

/* The filename form-data puts in the part: the destination's base name
 * (the daemon ignores it and uses files[i].path). */
static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    return *b ? b : "file";
}

static dt_code build_upload(const dt_upload_item *items, size_t n,
                            dt__mpw *w, dt_error *err)
{
    dt_code rc = DT_OK;
    for (size_t i = 0; rc == DT_OK && i < n; i++) {
        char name[48];
        const dt_upload_item *it = &items[i];
        if (!it->remote_path || !*it->remote_path)
            return dt__fail(err, DT_EINVAL, 0, "item %zu has no remote path", i);
        if (!it->local_path && !it->data && it->len)
            return dt__fail(err, DT_EINVAL, 0, "item %zu has no data", i);
        snprintf(name, sizeof name, "files[%zu].path", i);
        rc = dt__mpw_add_field(w, name, it->remote_path, err);
        snprintf(name, sizeof name, "files[%zu].file", i);
        /* form-data types a file stream by its local path, a buffer by
         * the name it is given (the destination). */
        if (rc == DT_OK && it->local_path)
            rc = dt__mpw_add_file(w, name, base_of(it->remote_path),
                                  dt__mpw_mime_for(it->local_path),
                                  it->local_path, err);
        else if (rc == DT_OK)
            rc = dt__mpw_add_data(w, name, base_of(it->remote_path),
                                  dt__mpw_mime_for(it->remote_path),
                                  it->data ? it->data : "", it->len, err);
    }
    return rc == DT_OK ? dt__mpw_close(w, err) : rc;
}

/* A failed bulk upload answers {"errors":["p: reason",...],"files":[...]}
 * with no message; the errors are the message. */
static void upload_errors(const dt__response *rs, dt_error *err)
{
    static const char generic[] = "request failed with status";
    if (!err || strncmp(err->message, generic, sizeof generic - 1) != 0)
        return;
    cJSON *j = cJSON_ParseWithLength(rs->body.data, rs->body.len);
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(j, "errors");
    char msg[DT_ERROR_MESSAGE_MAX] = "";
    size_t used = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, errs) {
        if (!cJSON_IsString(it) || used >= sizeof msg - 1)
            continue;
        int k = snprintf(msg + used, sizeof msg - used, "%s%s",
                         used ? "; " : "", it->valuestring);
        used = k < 0 ? used : used + (size_t)k;
    }
    if (msg[0])
        dt__fail(err, err->code, err->status, "upload failed: %s", msg);
    cJSON_Delete(j);
}

dt_code dt_fs_upload_many(dt_sandbox *sb, const dt_upload_item *items,
                          size_t n, dt_error *err)
{
    dt__mpw *w = NULL;
    char *url = NULL;
    dt__response rs;
    dt__response_init(&rs);
    dt_code rc = sb_check(sb, err);
    if (rc == DT_OK && n == 0)
        goto cleanup;   /* nothing to send */
    if (rc == DT_OK)
        rc = need(items != NULL, "items", err);
    if (rc == DT_OK)
        rc = dt__mpw_new(NULL, &w, err);
    if (rc == DT_OK)
        rc = build_upload(items, n, w, err);
    if (rc == DT_OK)
        rc = fs_url(sb, "/files/bulk-upload", NULL, 0, &url, err);
    if (rc != DT_OK)
        goto cleanup;
    dt__request rq = {
        .method = "POST",
        .url = url,
        .content_type = dt__mpw_content_type(w),
        .read_fn = dt__mpw_read,
        .read_ctx = w,
        .read_len = dt__mpw_length(w),
        .timeout_ms = transfer_timeout(sb),
    };
    rc = dt__perform(sb->client, &rq, &rs, err);
    if (rc != DT_OK && dt__mpw_read_error(w, NULL) != DT_OK)
        rc = dt__mpw_read_error(w, err);   /* a local file failed us */
    else if (rc != DT_OK && rs.status >= 400)
        upload_errors(&rs, err);
    if (rc != DT_OK && n == 1)
        rc = fs_error(rc, err, items[0].remote_path);
cleanup:
    dt__response_release(&rs);
    free(url);
    dt__mpw_free(w);
    return rc;
}

dt_code dt_fs_upload(dt_sandbox *sb, const char *remote_path, const void *data,
                     size_t len, dt_error *err)
{
    dt_upload_item it = {.remote_path = remote_path, .data = data, .len = len};
    dt_code rc = need(remote_path != NULL, "remote_path", err);
    return rc ? rc : dt_fs_upload_many(sb, &it, 1, err);
}

dt_code dt_fs_upload_file(dt_sandbox *sb, const char *local_path,
                          const char *remote_path, dt_error *err)
{
    dt_upload_item it = {.remote_path = remote_path, .local_path = local_path};
    dt_code rc = need(remote_path != NULL, "remote_path", err);
    if (rc == DT_OK)
        rc = need(local_path != NULL, "local_path", err);
    return rc ? rc : dt_fs_upload_many(sb, &it, 1, err);
}

/* ---- single downloads ---- */

dt_code dt_fs_download(dt_sandbox *sb, const char *remote_path, void **data,
                       size_t *len, dt_error *err)
{
    qparam q[] = {{"path", remote_path}};
    char *url = NULL;
    dt__response rs;
    dt__response_init(&rs);
    dt_code rc = sb_check(sb, err);
    if (rc == DT_OK)
        rc = need(remote_path != NULL, "remote_path", err);
    if (rc == DT_OK)
        rc = need(data && len, "out", err);
    if (rc == DT_OK)
        rc = fs_url(sb, "/files/download", q, 1, &url, err);
    if (rc != DT_OK)
        goto cleanup;
    dt__request rq = {.method = "GET", .url = url,
                      .timeout_ms = transfer_timeout(sb)};
    rc = fs_error(dt__perform(sb->client, &rq, &rs, err), err, remote_path);
    if (rc != DT_OK)
        goto cleanup;
    size_t n = 0;
    char *d = buf_detach(&rs.body, &n);   /* NUL-terminated */
    if (!d) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    *data = d;
    *len = n;
cleanup:
    dt__response_release(&rs);
    free(url);
    return rc;
}

typedef struct {
    dt__ltmp *dst;
    dt_error fail;
} file_sink;

static int to_file(void *ctx, const char *data, size_t len)
{
    file_sink *s = ctx;
    return dt__ltmp_write(s->dst, data, len, &s->fail) == DT_OK ? 0 : -1;
}

dt_code dt_fs_download_file(dt_sandbox *sb, const char *remote_path,
                            const char *local_path, dt_error *err)
{
    qparam q[] = {{"path", remote_path}};
    char *url = NULL;
    dt__ltmp dst = {.fd = -1};
    file_sink sink = {.dst = &dst};
    dt__response rs;
    dt__response_init(&rs);
    dt_code rc = sb_check(sb, err);
    if (rc == DT_OK)
        rc = need(remote_path != NULL, "remote_path", err);
    if (rc == DT_OK)
        rc = need(local_path != NULL, "local_path", err);
    if (rc == DT_OK)
        rc = fs_url(sb, "/files/download", q, 1, &url, err);
    if (rc == DT_OK)
        rc = dt__ltmp_open(&dst, local_path, err);
    if (rc != DT_OK)
        goto cleanup;
    dt__request rq = {.method = "GET", .url = url, .sink = to_file,
                      .sink_ctx = &sink, .timeout_ms = transfer_timeout(sb)};
    rc = dt__perform(sb->client, &rq, &rs, err);
    if (rc != DT_OK && sink.fail.code != DT_OK)
        rc = dt__fail(err, sink.fail.code, 0, "%s", sink.fail.message);
    else if (rc != DT_OK)
        rc = fs_error(rc, err, remote_path);
    if (rc == DT_OK)
        rc = dt__ltmp_commit(&dst, err);
cleanup:
    dt__ltmp_abort(&dst);   /* after a commit: only frees */
    dt__response_release(&rs);
    free(url);
    return rc;
}

/* ---- bulk download ---- */

void dt_download_items_release(dt_download_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].data);
        free(items[i].error);
        items[i].data = NULL;
        items[i].error = NULL;
        items[i].len = 0;
    }
}

static char *paths_body(const dt_download_item *items, size_t n, dt_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "paths");
    char *text = NULL;
    int bad = !a;
    for (size_t i = 0; !bad && i < n; i++) {
        cJSON *s = cJSON_CreateString(items[i].remote_path);
        bad = !s || !cJSON_AddItemToArray(a, s);
        if (!s || bad)
            cJSON_Delete(s);
    }
    if (!bad)
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        dt__fail(err, DT_ENOMEM, 0, "out of memory");
    return text;
}

dt_code dt_fs_download_many(dt_sandbox *sb, dt_download_item *items, size_t n,
                            dt_error *err)
{
    static const char *const accept[] = {"Accept: multipart/form-data", NULL};
    char *url = NULL, *body = NULL;
    dt__bulk_dl *d = NULL;
    dt__response rs;
    dt__response_init(&rs);
    dt_code rc = sb_check(sb, err);
    if (rc != DT_OK || n == 0)
        goto cleanup;   /* nothing asked, nothing to do (as the SDK) */
    rc = need(items != NULL, "items", err);
    for (size_t i = 0; rc == DT_OK && i < n; i++)
        rc = need(items[i].remote_path != NULL, "every remote_path", err);
    if (rc == DT_OK && !(body = paths_body(items, n, err)))
        rc = DT_ENOMEM;
    if (rc == DT_OK)
        rc = fs_url(sb, "/files/bulk-download", NULL, 0, &url, err);
    if (rc == DT_OK)
        rc = dt__bulk_dl_new(items, n, sb->client->max_response,
                             rs.content_type, &d, err);
    if (rc != DT_OK)
        goto cleanup;
    dt__request rq = {
        .method = "POST", .url = url,
        .content_type = "application/json", .body = body,
        .body_len = strlen(body), .headers = accept,
        .sink = dt__bulk_dl_feed, .sink_ctx = d,
        .timeout_ms = transfer_timeout(sb),
        .retry_unsafe = 1,   /* reads only: safe to repeat */
    };
    rc = dt__perform(sb->client, &rq, &rs, err);
    if (rc != DT_OK && dt__bulk_dl_error(d, NULL) != DT_OK)
        rc = dt__bulk_dl_error(d, err);   /* the decoder stopped it */
    else if (rc == DT_OK)
        rc = dt__bulk_dl_finish(d, err);
cleanup:
    dt__bulk_dl_free(d);
    dt__response_release(&rs);
    free(body);
    free(url);
    return rc;
}
