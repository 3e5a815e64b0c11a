/*
 * volume.c - Daytona volumes as the SDK's VolumeService uses them:
 * POST /api/volumes {name}, GET /api/volumes/by-name/{name} (with
 * create-if-missing), DELETE /api/volumes/{id}.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void dt_volume_release(dt_volume *v)
{
    if (!v)
        return;
    free(v->id);
    free(v->name);
    free(v->state);
    v->id = v->name = v->state = NULL;
}

/* A VolumeDto into *out (written only on success). */
static dt_code volume_from_json(const cJSON *j, dt_volume *out, dt_error *err)
{
    const char *id = dt__jstr(j, "id"), *name = dt__jstr(j, "name");
    const char *state = dt__jstr(j, "state");
    if (!id || !name)
        return dt__fail(err, DT_EPROTO, 0, "the answer is not a volume record");
    dt_code rc = DT_OK;
    dt_volume v = {NULL, NULL, NULL};
    v.id = dt__strdup(id, &rc);
    v.name = dt__strdup(name, &rc);
    v.state = dt__strdup(state ? state : "", &rc);
    if (rc != DT_OK) {
        dt_volume_release(&v);
        return dt__fail(err, rc, 0, "out of memory");
    }
    *out = v;
    return DT_OK;
}

/* "<api>/volumes[/<seg1>[/<seg2>]]", segments percent-encoded. */
static char *volumes_url(const dt_client *c, const char *seg1,
                         const char *seg2, dt_code *rc)
{
    dt__url u;
    dt__url_init(&u, c->api_url);
    dt__url_raw(&u, "/volumes");
    if (seg1)
        dt__url_seg(&u, seg1);
    if (seg2)
        dt__url_seg(&u, seg2);
    return dt__url_take(&u, rc);
}

static dt_code check_args(const dt_client *c, const char *what,
                          const char *value, int out_ok, dt_error *err)
{
    if (!c || c->magic != DT__CLIENT_MAGIC || !out_ok)
        return dt__fail(err, DT_EINVAL, 0, "invalid client or out pointer");
    if (!value || !value[0])
        return dt__fail(err, DT_EINVAL, 0, "a volume %s is required", what);
    return DT_OK;
}

/* One JSON call whose answer is a volume. */
static dt_code volume_call(dt_client *c, const char *method, char *url,
                           const cJSON *body, dt_volume *out, dt_error *err)
{
    cJSON *j = NULL;
    dt_code rc = dt__json(c, method, url, body, &j, err);
    if (rc == DT_OK)
        rc = volume_from_json(j, out, err);
    cJSON_Delete(j);
    free(url);
    return rc;
}

dt_code dt_volume_create(dt_client *c, const char *name, dt_volume *out,
                         dt_error *err)
{
    dt_code rc = check_args(c, "name", name, out != NULL, err);
    if (rc != DT_OK)
        return rc;
    cJSON *body = cJSON_CreateObject();
    char *url = volumes_url(c, NULL, NULL, &rc);
    if (!body || !url || !cJSON_AddStringToObject(body, "name", name)) {
        cJSON_Delete(body);
        free(url);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    rc = volume_call(c, "POST", url, body, out, err);
    cJSON_Delete(body);
    return rc;
}

static dt_code get_by_name(dt_client *c, const char *name, dt_volume *out,
                           dt_error *err)
{
    dt_code rc = DT_OK;
    char *url = volumes_url(c, "by-name", name, &rc);
    if (!url)
        return dt__fail(err, rc, 0, "out of memory");
    return volume_call(c, "GET", url, NULL, out, err);
}

dt_code dt_volume_get(dt_client *c, const char *name, int create,
                      dt_volume *out, dt_error *err)
{
    dt_code rc = check_args(c, "name", name, out != NULL, err);
    if (rc != DT_OK)
        return rc;
    rc = get_by_name(c, name, out, err);
    if (rc != DT_ENOTFOUND || !create)
        return rc;
    rc = dt_volume_create(c, name, out, err);
    /* Someone else created it between our GET and POST: theirs is fine. */
    if (rc == DT_ECONFLICT)
        rc = get_by_name(c, name, out, err);
    return rc;
}

dt_code dt_volume_delete(dt_client *c, const char *id, dt_error *err)
{
    dt_code rc = check_args(c, "id", id, 1, err);
    if (rc != DT_OK)
        return rc;
    char *url = volumes_url(c, id, NULL, &rc);
    if (!url)
        return dt__fail(err, rc, 0, "out of memory");
    rc = dt__json(c, "DELETE", url, NULL, NULL, err);
    free(url);
    return rc;
}
