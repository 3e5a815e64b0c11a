/*
 * json.c - the JSON side of libdaytona's transport: small typed getters
 * over cJSON, key/value arrays to objects, and dt__json, the one call every
 * JSON endpoint goes through (serialise, perform, parse).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *dt__jstr(const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double dt__jnum(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

char *dt__strdup(const char *s, dt_code *rc)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d && rc)
        *rc = DT_ENOMEM;
    return d;
}

cJSON *dt__kv_object(const dt_kv *kv, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key || !cJSON_AddStringToObject(o, kv[i].key,
                                                   kv[i].value ? kv[i].value
                                                               : "")) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

dt_code dt__json(dt_client *c, const char *method, const char *url,
                 const cJSON *body, cJSON **out, dt_error *err)
{
    return dt__json_t(c, method, url, body, 0, out, err);
}

dt_code dt__json_t(dt_client *c, const char *method, const char *url,
                   const cJSON *body, long timeout_ms, cJSON **out,
                   dt_error *err)
{
    return dt__json_ex(c, method, url, body, timeout_ms, out, NULL, NULL, err);
}

dt_code dt__json_ex(dt_client *c, const char *method, const char *url,
                    const cJSON *body, long timeout_ms, cJSON **out,
                    char **raw, long *status, dt_error *err)
{
    char *text = NULL;
    dt__response rs;
    dt__response_init(&rs);
    dt_code rc = DT_OK;
    if (body && !(text = cJSON_PrintUnformatted(body))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    dt__request rq = {
        .method = method,
        .url = url,
        .content_type = text ? "application/json" : NULL,
        .body = text,
        .body_len = text ? strlen(text) : 0,
        .timeout_ms = timeout_ms,
    };
    rc = dt__perform(c, &rq, &rs, err);
    if (rc != DT_OK || !out)
        goto cleanup;
    if (status)
        *status = rs.status;
    *out = NULL;
    if (rs.body.len == 0)
        goto cleanup;
    cJSON *j = cJSON_ParseWithLength(rs.body.data, rs.body.len);
    if (j) {
        *out = j;
    } else if (raw) {
        if (!(*raw = buf_detach(&rs.body, NULL)))
            rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    } else {
        rc = dt__fail(err, DT_EPROTO, rs.status,
                      "%s %s: response is not JSON", method, url);
    }
cleanup:
    dt__response_release(&rs);
    cJSON_free(text);
    return rc;
}
