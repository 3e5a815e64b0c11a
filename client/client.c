/*
 * client.c - libdaytona's lifecycle, configuration and errors: global
 * init, the version calls, dt_strerror, reading the configuration the way
 * the official SDKs do (code first, then DAYTONA_* variables, then the
 * default cloud URL), and turning HTTP error responses into dt_error.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "internal.h"

/* ---- global lifecycle ---- */

static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_init_count;

dt_code dt_global_init(void)
{
    dt_code rc = DT_OK;
    pthread_mutex_lock(&g_init_mu);
    /* curl_global_init is not thread-safe and must run once before any
     * thread uses curl; the count lets nested users pair init/cleanup. */
    if (g_init_count == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rc = DT_ENOMEM;
    else
        g_init_count++;
    pthread_mutex_unlock(&g_init_mu);
    return rc;
}

void dt_global_cleanup(void)
{
    pthread_mutex_lock(&g_init_mu);
    if (g_init_count > 0 && --g_init_count == 0)
        curl_global_cleanup();
    pthread_mutex_unlock(&g_init_mu);
}

const char *dt_version(void)
{
    return DT_VERSION_STRING;
}

unsigned dt_version_num(void)
{
    return DT_VERSION_NUM;
}

/* ---- errors ---- */

static const char *const g_errtext[] = {
    [DT_OK] = "no error",
    [DT_EINVAL] = "invalid argument",
    [DT_ENOMEM] = "out of memory",
    [DT_ECONFIG] = "configuration missing or invalid",
    [DT_ECONNECT] = "could not connect",
    [DT_ETIMEOUT] = "timed out",
    [DT_EIO] = "transfer failed",
    [DT_EHTTP] = "HTTP error",
    [DT_EBADREQUEST] = "bad request",
    [DT_EUNAUTHORIZED] = "unauthorized",
    [DT_EFORBIDDEN] = "forbidden",
    [DT_ENOTFOUND] = "not found",
    [DT_ECONFLICT] = "conflict",
    [DT_ERATELIMIT] = "rate limited",
    [DT_ESERVER] = "server error",
    [DT_EPROTO] = "unexpected response",
    [DT_ESTATE] = "sandbox in an unexpected state",
    [DT_ETOOBIG] = "response too large",
    [DT_EFILE] = "local file error",
    [DT_EWS] = "WebSocket error",
    [DT_ECANCELED] = "canceled by callback",
    [DT_EUNSUPPORTED] = "not supported by the server",
};

const char *dt_strerror(dt_code code)
{
    if ((unsigned)code < sizeof g_errtext / sizeof g_errtext[0] &&
        g_errtext[code])
        return g_errtext[code];
    return "unknown error";
}

dt_code dt__fail(dt_error *err, dt_code code, long status, const char *fmt,
                 ...)
{
    if (!err)
        return code;
    err->code = code;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

dt_code dt__code_for_status(long status)
{
    switch (status) {
    case 400: case 422: return DT_EBADREQUEST;
    case 401: return DT_EUNAUTHORIZED;
    case 403: return DT_EFORBIDDEN;
    case 404: case 410: return DT_ENOTFOUND;
    case 408: return DT_ETIMEOUT;
    case 409: return DT_ECONFLICT;
    case 429: return DT_ERATELIMIT;
    default:
        return status >= 500 ? DT_ESERVER : DT_EHTTP;
    }
}

/* Joins a NestJS validation array ["a must be x","b must be y"]. */
static void join_messages(const cJSON *arr, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it))
            continue;
        int n = snprintf(out + used, cap - used, "%s%s", used ? "; " : "",
                         it->valuestring);
        if (n < 0 || (size_t)n >= cap - used)
            break;   /* truncated on purpose: the message is a summary */
        used += (size_t)n;
    }
}

/* Copies at most one line-ish summary of a non-JSON body. */
static void plain_message(const char *body, size_t len, char *out, size_t cap)
{
    while (len > 0 && isspace((unsigned char)body[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*body)) {
        body++;
        len--;
    }
    if (len >= cap)
        len = cap - 1;
    memcpy(out, body, len);
    out[len] = '\0';
}

dt_code dt__fail_response(dt_error *err, long status, const char *body,
                          size_t len)
{
    dt_code code = dt__code_for_status(status);
    if (!err)
        return code;
    char msg[DT_ERROR_MESSAGE_MAX] = "";
    cJSON *j = (body && len) ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
    if (cJSON_IsString(m))
        snprintf(msg, sizeof msg, "%s", m->valuestring);
    else if (cJSON_IsArray(m))
        join_messages(m, msg, sizeof msg);
    else if (j && dt__jstr(j, "error"))
        snprintf(msg, sizeof msg, "%s", dt__jstr(j, "error"));
    else if (!j && body && len)
        plain_message(body, len, msg, sizeof msg);
    cJSON_Delete(j);
    if (!msg[0])
        snprintf(msg, sizeof msg, "request failed with status %ld", status);
    return dt__fail(err, code, status, "%s", msg);
}

/* ---- configuration ---- */

void dt_config_init(dt_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
}

/* The value given in code, else the environment variable, else NULL.
 * Empty strings count as unset, as in the SDKs' `a || b` chains. */
static const char *pick(const char *given, const char *env_name)
{
    if (given && *given)
        return given;
    const char *v = env_name ? getenv(env_name) : NULL;
    return (v && *v) ? v : NULL;
}

static char *header_line(const char *name, const char *value, dt_code *rc)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *s = malloc(n);
    if (!s) {
        *rc = DT_ENOMEM;
        return NULL;
    }
    snprintf(s, n, "%s: %s", name, value);
    return s;
}

/* Header values must not carry CR/LF (header injection) or be huge. */
static int header_value_ok(const char *v)
{
    return strlen(v) < 8192 && !strpbrk(v, "\r\n");
}

static dt_code set_retry(dt_client *c, const dt_retry_policy *p, dt_error *err)
{
    if (p->max_attempts < 0 || p->initial_backoff_ms < 0 ||
        p->max_backoff_ms < 0)
        return dt__fail(err, DT_EINVAL, 0, "retry policy values must be >= 0");
    c->retry.max_attempts = p->max_attempts ? p->max_attempts : 4;
    c->retry.initial_backoff_ms = p->initial_backoff_ms ? p->initial_backoff_ms : 200;
    c->retry.max_backoff_ms = p->max_backoff_ms ? p->max_backoff_ms : 5000;
    c->retry.total_ms = p->total_ms ? p->total_ms : 30000;
    return DT_OK;
}

static dt_code set_credentials(dt_client *c, const dt_config *cfg,
                               dt_error *err)
{
    dt_code rc = DT_OK;
    /* As the SDK: a key given in code wins; the environment's key is only
     * read when no JWT was given in code. */
    const char *key = pick(cfg->api_key, cfg->jwt_token && *cfg->jwt_token
                                             ? NULL : "DAYTONA_API_KEY");
    const char *jwt = key ? NULL : pick(cfg->jwt_token, "DAYTONA_JWT_TOKEN");
    const char *org = pick(cfg->organization_id, "DAYTONA_ORGANIZATION_ID");
    if (!key && !jwt)
        return dt__fail(err, DT_ECONFIG, 0,
                        "Authentication credentials not found. Set "
                        "DAYTONA_API_KEY, or both DAYTONA_JWT_TOKEN and "
                        "DAYTONA_ORGANIZATION_ID.");
    if (jwt && !org)
        return dt__fail(err, DT_ECONFIG, 0,
                        "DAYTONA_ORGANIZATION_ID is required when "
                        "authenticating with DAYTONA_JWT_TOKEN.");
    const char *tok = key ? key : jwt;
    if (!header_value_ok(tok) || (org && !header_value_ok(org)))
        return dt__fail(err, DT_ECONFIG, 0,
                        "credentials contain a line break or are too long");
    size_t n = strlen(tok) + 8;
    char *bearer = malloc(n);
    if (!bearer)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    snprintf(bearer, n, "Bearer %s", tok);
    c->auth_header = header_line("Authorization", bearer, &rc);
    free(bearer);
    if (rc == DT_OK && jwt)
        c->org_header = header_line("X-Daytona-Organization-ID", org, &rc);
    return rc == DT_OK ? DT_OK : dt__fail(err, rc, 0, "out of memory");
}

static dt_code set_url(dt_client *c, const dt_config *cfg, dt_error *err)
{
    const char *url = pick(cfg->api_url, "DAYTONA_API_URL");
    if (!url)
        url = pick(NULL, "DAYTONA_SERVER_URL");   /* deprecated name */
    if (!url)
        url = DT_DEFAULT_API_URL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return dt__fail(err, DT_ECONFIG, 0,
                        "DAYTONA_API_URL must start with http:// or https:// "
                        "(got \"%.200s\")", url);
    if (strpbrk(url, " \r\n\t"))
        return dt__fail(err, DT_ECONFIG, 0,
                        "DAYTONA_API_URL contains whitespace");
    dt_code rc = DT_OK;
    c->api_url = dt__strdup(url, &rc);
    if (!c->api_url)
        return dt__fail(err, rc, 0, "out of memory");
    size_t n = strlen(c->api_url);
    while (n > 0 && c->api_url[n - 1] == '/')
        c->api_url[--n] = '\0';
    return DT_OK;
}

static dt_code set_misc(dt_client *c, const dt_config *cfg, dt_error *err)
{
    dt_code rc = DT_OK;
    const char *target = pick(cfg->target, "DAYTONA_TARGET");
    if (target && !(c->target = dt__strdup(target, &rc)))
        return dt__fail(err, rc, 0, "out of memory");
    if (cfg->request_timeout_ms < 0 || cfg->connect_timeout_ms < 0)
        return dt__fail(err, DT_EINVAL, 0, "timeouts must be >= 0");
    c->request_timeout_ms = cfg->request_timeout_ms
                                ? cfg->request_timeout_ms
                                : DT__DEFAULT_REQUEST_TIMEOUT_MS;
    c->connect_timeout_ms = cfg->connect_timeout_ms
                                ? cfg->connect_timeout_ms
                                : DT__DEFAULT_CONNECT_TIMEOUT_MS;
    c->max_response = cfg->max_response_bytes ? cfg->max_response_bytes
                                              : DT__DEFAULT_MAX_RESPONSE;
    char ua[64];
    snprintf(ua, sizeof ua, "libdaytona/%s", DT_VERSION_STRING);
    const char *u = cfg->user_agent ? cfg->user_agent : ua;
    if (!header_value_ok(u))
        return dt__fail(err, DT_EINVAL, 0, "user agent contains a line break");
    if (!(c->user_agent = dt__strdup(u, &rc)))
        return dt__fail(err, rc, 0, "out of memory");
    return set_retry(c, &cfg->retry, err);
}

dt_code dt_client_new(const dt_config *cfg, dt_client **out, dt_error *err)
{
    dt_config zero;
    if (!out)
        return dt__fail(err, DT_EINVAL, 0, "out must not be NULL");
    if (!cfg) {
        dt_config_init(&zero);
        cfg = &zero;
    }
    dt_client *c = calloc(1, sizeof *c);
    if (!c)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    c->magic = DT__CLIENT_MAGIC;
    pthread_mutex_init(&c->pool_mu, NULL);
    dt_code rc = set_credentials(c, cfg, err);
    if (rc == DT_OK)
        rc = set_url(c, cfg, err);
    if (rc == DT_OK)
        rc = set_misc(c, cfg, err);
    if (rc != DT_OK) {
        dt_client_free(c);
        return rc;
    }
    *out = c;
    return DT_OK;
}

void dt_client_free(dt_client *c)
{
    if (!c)
        return;
    if (c->magic != DT__CLIENT_MAGIC)
        abort();   /* a freed or foreign pointer: fail loudly */
    c->magic = 0;
    dt__pool_drain(c);
    pthread_mutex_destroy(&c->pool_mu);
    free(c->api_url);
    free(c->auth_header);
    free(c->org_header);
    free(c->target);
    free(c->user_agent);
    free(c);
}

const char *dt_client_api_url(const dt_client *c)
{
    return c ? c->api_url : NULL;
}

const char *dt_client_target(const dt_client *c)
{
    return c ? c->target : NULL;
}
