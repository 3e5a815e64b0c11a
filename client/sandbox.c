/*
 * sandbox.c - the control-plane half of libdaytona: sandbox handles and
 * their accessors, create/get/list/find, the lifecycle calls that wait for
 * an end state (start, stop, archive, recover, delete), labels, the three
 * intervals, work/home directories and preview links.
 *
 * Request shapes follow the official TypeScript SDK 0.218 (Daytona.js,
 * Sandbox.js): the same paths, query names and JSON bodies.  Waiting is by
 * polling GET /api/sandbox/{id} with a short growing pause (100 ms, x1.5,
 * capped at 1 s) -- the SDK's "deprecated polling" cadence, which needs no
 * event channel.  As in the SDK, `error` and `build_failed` end a wait with
 * a failure, and waits for stop/delete count a 404 as `destroyed`.
 *
 * A handle keeps the last record Daytona returned (sb->json); accessors
 * read from it, so their strings live until the next refresh.  Handles are
 * not synchronised (one thread at a time per handle, see daytona.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "timeutil.h"

#define LANGUAGE_LABEL "code-toolbox-language"
#define POLL_FIRST_MS 100
#define POLL_MAX_MS 1000

struct dt_sandbox_list {
    dt_sandbox **items;
    size_t n;
    long total;
    char *next_cursor;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                      */
/* ------------------------------------------------------------------ */

static int sb_ok(const dt_sandbox *sb)
{
    return sb && sb->magic == DT__SANDBOX_MAGIC;
}

static dt_code bad_handle(dt_error *err)
{
    return dt__fail(err, DT_EINVAL, 0, "invalid sandbox handle");
}

static int client_ok(const dt_client *c)
{
    return c && c->magic == DT__CLIENT_MAGIC;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A wait's deadline on the monotonic clock: 0 = the default, <0 = none. */
static int64_t deadline_for(long timeout_ms)
{
    if (timeout_ms == 0)
        timeout_ms = DT__DEFAULT_WAIT_MS;
    return timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
}

/* The request timeout for a call that the server may hold open while it
 * works (create, start, recover): what is left of the caller's budget when
 * that is shorter than the client's own request timeout. */
static long request_budget(const dt_client *c, int64_t deadline)
{
    if (deadline < 0)
        return 0;
    int64_t left = deadline - time_mono_ms();
    if (left < 1)
        left = 1;
    return left < c->request_timeout_ms ? (long)left : 0;
}

/* "<api>/sandbox/<id><suffix>" with the id percent-encoded. */
static char *sandbox_url(const dt_client *c, const char *id, const char *suffix,
                         dt_code *rc)
{
    dt__url u;
    dt__url_init(&u, c->api_url);
    dt__url_raw(&u, "/sandbox");
    if (id)
        dt__url_seg(&u, id);
    if (suffix)
        dt__url_raw(&u, suffix);
    return dt__url_take(&u, rc);
}

static dt_code url_fail(dt_error *err, dt_code rc)
{
    return dt__fail(err, rc, 0, rc == DT_ENOMEM ? "out of memory"
                                                : "invalid URL component");
}

/* Adds or replaces key in obj (a repeated key would send ambiguous JSON).
 * Takes ownership of item, also on failure. */
static int set_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return -1;
    int ok = cJSON_GetObjectItemCaseSensitive(obj, key)
                 ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)
                 : cJSON_AddItemToObject(obj, key, item);
    if (!ok)
        cJSON_Delete(item);
    return ok ? 0 : -1;
}

/* {"k":"v",...} where a repeated key keeps its last value. */
static cJSON *kv_object(const dt_kv *kv, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < n; i++) {
        if (!kv[i].key ||
            set_item(o, kv[i].key,
                     cJSON_CreateString(kv[i].value ? kv[i].value : ""))) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    return o;
}

static dt_code check_kv(const dt_kv *kv, size_t n, const char *what,
                        dt_error *err)
{
    if (n && !kv)
        return dt__fail(err, DT_EINVAL, 0, "%s is NULL but its count is %zu",
                        what, n);
    for (size_t i = 0; i < n; i++)
        if (!kv[i].key || !kv[i].key[0])
            return dt__fail(err, DT_EINVAL, 0, "%s[%zu] has no key", what, i);
    return DT_OK;
}

/* ------------------------------------------------------------------ */
/* the handle and its record                                          */
/* ------------------------------------------------------------------ */

/* toolboxProxyUrl without trailing slashes + "/" + id (as the SDK). */
static char *make_toolbox_base(const char *proxy, const char *id, dt_code *rc)
{
    buf b;
    buf_init(&b, 64 * 1024);
    size_t n = strlen(proxy);
    while (n > 0 && proxy[n - 1] == '/')
        n--;
    char *s = NULL;
    if (buf_add(&b, proxy, n) == BUF_OK && buf_adds(&b, "/") == BUF_OK &&
        dt__pct_encode(&b, id) == 0)
        s = buf_detach(&b, NULL);
    if (!s)
        *rc = DT_ENOMEM;
    buf_release(&b);
    return s;
}

/* Daytona may leave toolboxProxyUrl empty (list items of some regions);
 * the SDK then asks GET /sandbox/{id}/toolbox-proxy-url, and so do we. */
static dt_code fetch_proxy_url(dt_client *c, const char *id, char **out,
                               dt_error *err)
{
    dt_code rc = DT_OK;
    cJSON *j = NULL;
    char *url = sandbox_url(c, id, "/toolbox-proxy-url", &rc);
    if (!url)
        return url_fail(err, rc);
    rc = dt__json(c, "GET", url, NULL, &j, err);
    const char *v = dt__jstr(j, "url");
    if (rc == DT_OK && (!v || !v[0]))
        rc = dt__fail(err, DT_EPROTO, 0, "GET %s: no url in the answer", url);
    if (rc == DT_OK && !(*out = dt__strdup(v, &rc)))
        rc = dt__fail(err, rc, 0, "out of memory");
    cJSON_Delete(j);
    free(url);
    return rc;
}

/*
 * Makes json the handle's record: checks it is a sandbox record, works out
 * the toolbox base (keeping the old one when the new record has no proxy
 * URL) and drops the cached text.  Takes ownership of json in all cases.
 */
static dt_code set_record(dt_sandbox *sb, cJSON *json, dt_error *err)
{
    dt_code rc = DT_OK;
    const char *id = dt__jstr(json, "id");
    if (!cJSON_IsObject(json) || !id || !id[0]) {
        cJSON_Delete(json);
        return dt__fail(err, DT_EPROTO, 0, "the answer is not a sandbox record "
                                           "(no id)");
    }
    const char *proxy = dt__jstr(json, "toolboxProxyUrl");
    char *fetched = NULL, *base = NULL;
    if ((!proxy || !proxy[0]) && !sb->toolbox_base) {
        if ((rc = fetch_proxy_url(sb->client, id, &fetched, err)) != DT_OK)
            goto fail;
        proxy = fetched;
    }
    if (proxy && proxy[0] && !(base = make_toolbox_base(proxy, id, &rc))) {
        rc = dt__fail(err, rc, 0, "out of memory");
        goto fail;
    }
    if (base) {
        free(sb->toolbox_base);
        sb->toolbox_base = base;
    }
    free(fetched);
    cJSON_Delete(sb->json);
    sb->json = json;
    free(sb->json_text);
    sb->json_text = NULL;
    return DT_OK;
fail:
    free(fetched);
    cJSON_Delete(json);
    return rc;
}

dt_code dt__sandbox_from_json(dt_client *c, cJSON *json, dt_sandbox **out,
                              dt_error *err)
{
    if (!client_ok(c) || !out) {
        cJSON_Delete(json);
        return dt__fail(err, DT_EINVAL, 0, "invalid client or out pointer");
    }
    dt_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) {
        cJSON_Delete(json);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    sb->magic = DT__SANDBOX_MAGIC;
    sb->client = c;
    dt_code rc = set_record(sb, json, err);
    if (rc != DT_OK) {
        dt_sandbox_free(sb);
        return rc;
    }
    *out = sb;
    return DT_OK;
}

void dt__toolbox_url(const dt_sandbox *sb, dt__url *u, const char *path)
{
    dt__url_init(u, sb_ok(sb) ? sb->toolbox_base : NULL);
    if (path)
        dt__url_raw(u, path);
}

void dt_sandbox_free(dt_sandbox *sb)
{
    if (!sb)
        return;
    if (sb->magic != DT__SANDBOX_MAGIC)
        abort();   /* a freed or foreign pointer: fail loudly */
    sb->magic = 0;
    cJSON_Delete(sb->json);
    free(sb->json_text);
    free(sb->toolbox_base);
    free(sb);
}

/* Sets one member of the record (used when Daytona's answer carried no
 * record, and for the `destroyed` a 404 means during waits). */
static dt_code patch_record(dt_sandbox *sb, const char *key, cJSON *v,
                            dt_error *err)
{
    if (set_item(sb->json, key, v) != 0)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    free(sb->json_text);
    sb->json_text = NULL;
    return DT_OK;
}

/* ------------------------------------------------------------------ */
/* accessors                                                          */
/* ------------------------------------------------------------------ */

static const char *str_or(const dt_sandbox *sb, const char *key,
                          const char *dflt)
{
    const char *v = sb_ok(sb) ? dt__jstr(sb->json, key) : NULL;
    return v ? v : dflt;
}

static double num_of(const dt_sandbox *sb, const char *key, double dflt)
{
    return sb_ok(sb) ? dt__jnum(sb->json, key, dflt) : dflt;
}

const char *dt_sandbox_id(const dt_sandbox *sb) { return str_or(sb, "id", ""); }
const char *dt_sandbox_name(const dt_sandbox *sb) { return str_or(sb, "name", ""); }
const char *dt_sandbox_state(const dt_sandbox *sb) { return str_or(sb, "state", ""); }
const char *dt_sandbox_error_reason(const dt_sandbox *sb)
{
    return str_or(sb, "errorReason", NULL);
}
const char *dt_sandbox_target(const dt_sandbox *sb) { return str_or(sb, "target", ""); }
const char *dt_sandbox_snapshot(const dt_sandbox *sb)
{
    return str_or(sb, "snapshot", NULL);
}
const char *dt_sandbox_user(const dt_sandbox *sb) { return str_or(sb, "user", ""); }
double dt_sandbox_cpu(const dt_sandbox *sb) { return num_of(sb, "cpu", 0); }
double dt_sandbox_gpu(const dt_sandbox *sb) { return num_of(sb, "gpu", 0); }
double dt_sandbox_memory(const dt_sandbox *sb) { return num_of(sb, "memory", 0); }
double dt_sandbox_disk(const dt_sandbox *sb) { return num_of(sb, "disk", 0); }

int dt_sandbox_public(const dt_sandbox *sb)
{
    return sb_ok(sb) &&
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sb->json, "public"));
}

int dt_sandbox_auto_stop_interval(const dt_sandbox *sb)
{
    return (int)num_of(sb, "autoStopInterval", -1);
}

int dt_sandbox_auto_archive_interval(const dt_sandbox *sb)
{
    return (int)num_of(sb, "autoArchiveInterval", -1);
}

int dt_sandbox_auto_delete_interval(const dt_sandbox *sb)
{
    return (int)num_of(sb, "autoDeleteInterval", -1);
}

static const cJSON *object_of(const dt_sandbox *sb, const char *key)
{
    const cJSON *o = sb_ok(sb) ? cJSON_GetObjectItemCaseSensitive(sb->json, key)
                               : NULL;
    return cJSON_IsObject(o) ? o : NULL;
}

const char *dt_sandbox_label(const dt_sandbox *sb, const char *key)
{
    return key ? dt__jstr(object_of(sb, "labels"), key) : NULL;
}

size_t dt_sandbox_label_count(const dt_sandbox *sb)
{
    const cJSON *l = object_of(sb, "labels");
    return l ? (size_t)cJSON_GetArraySize(l) : 0;
}

dt_kv dt_sandbox_label_at(const dt_sandbox *sb, size_t i)
{
    dt_kv kv = {NULL, NULL};
    const cJSON *l = object_of(sb, "labels"), *it;
    size_t k = 0;
    cJSON_ArrayForEach(it, l) {
        if (k++ != i)
            continue;
        kv.key = it->string;
        kv.value = cJSON_IsString(it) ? it->valuestring : "";
        break;
    }
    return kv;
}

const char *dt_sandbox_env(const dt_sandbox *sb, const char *key)
{
    return key ? dt__jstr(object_of(sb, "env"), key) : NULL;
}

const char *dt_sandbox_json(const dt_sandbox *sb)
{
    if (!sb_ok(sb))
        return NULL;
    /* The text is a cache of the record, made on first use; the handle is
     * single-threaded by contract, so filling it from a const accessor is
     * safe. */
    dt_sandbox *m = (dt_sandbox *)sb;
    if (!m->json_text)
        m->json_text = cJSON_PrintUnformatted(m->json);
    return m->json_text;
}

/* ------------------------------------------------------------------ */
/* waiting for a state                                                */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *const *targets;   /* NULL-terminated */
    const char *verb;             /* "start", "stop", ... for messages */
    int safe;                     /* 404 = destroyed; flaky polls ignored */
} wait_spec;

static const char *const g_started[] = {"started", NULL};
static const char *const g_stopped[] = {"stopped", "destroyed", NULL};
static const char *const g_archived[] = {"archived", NULL};
static const char *const g_destroyed[] = {"destroyed", NULL};

static const wait_spec W_START = {g_started, "start", 0};
static const wait_spec W_STOP = {g_stopped, "stop", 1};
static const wait_spec W_ARCHIVE = {g_archived, "archive", 0};
static const wait_spec W_DELETE = {g_destroyed, "delete", 1};

static int state_in(const char *state, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (strcmp(state, set[i]) == 0)
            return 1;
    return 0;
}

static int is_error_state(const char *state)
{
    return strcmp(state, "error") == 0 || strcmp(state, "build_failed") == 0;
}

/* Failures during a safe wait's poll that say "try again", as the SDK's
 * refreshDataSafe swallows them (the transport already retried). */
static int transient(dt_code rc)
{
    return rc == DT_ESERVER || rc == DT_ERATELIMIT || rc == DT_EIO ||
           rc == DT_ETIMEOUT;
}

/* One GET of the record by id (url prepared by the caller). */
static dt_code poll_once(dt_sandbox *sb, const char *url, int safe,
                         dt_error *err)
{
    cJSON *j = NULL;
    dt_error tmp;
    dt_code rc = dt__json(sb->client, "GET", url, NULL, &j, safe ? &tmp : err);
    if (rc == DT_OK)
        return j ? set_record(sb, j, err)
                 : dt__fail(err, DT_EPROTO, 0, "GET %s: empty answer", url);
    if (!safe)
        return rc;
    if (rc == DT_ENOTFOUND)
        return patch_record(sb, "state", cJSON_CreateString("destroyed"), err);
    if (transient(rc))
        return DT_OK;
    if (err)
        *err = tmp;
    return rc;
}

static dt_code wait_timeout(const dt_sandbox *sb, const wait_spec *w,
                            long timeout_ms, dt_error *err)
{
    return dt__fail(err, DT_ETIMEOUT, 0,
                    "Sandbox %s did not %s within %ld ms (state: %s)",
                    dt_sandbox_id(sb), w->verb,
                    timeout_ms ? timeout_ms : DT__DEFAULT_WAIT_MS,
                    dt_sandbox_state(sb)[0] ? dt_sandbox_state(sb) : "unknown");
}

/*
 * Polls until the state is one of w->targets.  A cached target state ends
 * the wait at once; a cached error state does not (it may be stale, as the
 * SDK reasons), so the first poll runs immediately.  Past the deadline one
 * last poll decides.  timeout_ms is only for the message.
 */
static dt_code wait_for(dt_sandbox *sb, const wait_spec *w, int64_t deadline,
                        long timeout_ms, dt_error *err)
{
    if (state_in(dt_sandbox_state(sb), w->targets))
        return DT_OK;
    dt_code rc = DT_OK;
    char *url = sandbox_url(sb->client, dt_sandbox_id(sb), NULL, &rc);
    if (!url)
        return url_fail(err, rc);
    long pause = POLL_FIRST_MS;
    for (;;) {
        if ((rc = poll_once(sb, url, w->safe, err)) != DT_OK)
            break;
        const char *state = dt_sandbox_state(sb);
        if (state_in(state, w->targets))
            break;
        if (is_error_state(state)) {
            const char *why = dt_sandbox_error_reason(sb);
            rc = dt__fail(err, DT_ESTATE, 0,
                          "Sandbox %s failed to %s with state: %s, error "
                          "reason: %s", dt_sandbox_id(sb), w->verb, state,
                          why ? why : "none");
            break;
        }
        int64_t left = deadline < 0 ? POLL_MAX_MS : deadline - time_mono_ms();
        if (left <= 0) {
            rc = wait_timeout(sb, w, timeout_ms, err);
            break;
        }
        sleep_ms(pause < left ? pause : (long)left);
        pause = pause * 3 / 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 3 / 2;
    }
    free(url);
    return rc;
}

/* ------------------------------------------------------------------ */
/* create                                                             */
/* ------------------------------------------------------------------ */

void dt_create_params_init(dt_create_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->auto_stop_interval = -1;
    p->auto_archive_interval = -1;
    p->auto_delete_interval = -1;
    p->ephemeral = -1;
    p->cpu = p->gpu = p->memory = p->disk = -1;
    p->public_ = -1;
    p->network_block_all = -1;
}

static dt_code check_interval(const char *name, int v, dt_error *err)
{
    if (v < -1)
        return dt__fail(err, DT_EINVAL, 0,
                        "%s must be >= 0 (or -1 for the default), got %d",
                        name, v);
    return DT_OK;
}

static dt_code check_params(const dt_create_params *p, dt_error *err)
{
    static const char *const langs[] = {"python", "typescript", "javascript"};
    int lang_ok = !p->language;
    for (size_t i = 0; i < 3 && !lang_ok; i++)
        lang_ok = strcmp(p->language, langs[i]) == 0;
    if (!lang_ok)
        return dt__fail(err, DT_EINVAL, 0,
                        "Invalid " LANGUAGE_LABEL ": %s. Supported languages: "
                        "python, typescript, javascript", p->language);
    dt_code rc;
    if ((rc = check_interval("auto_stop_interval", p->auto_stop_interval, err)) ||
        (rc = check_interval("auto_archive_interval", p->auto_archive_interval,
                             err)) ||
        (rc = check_interval("auto_delete_interval", p->auto_delete_interval,
                             err)) ||
        (rc = check_interval("cpu", p->cpu, err)) ||
        (rc = check_interval("gpu", p->gpu, err)) ||
        (rc = check_interval("memory", p->memory, err)) ||
        (rc = check_interval("disk", p->disk, err)) ||
        (rc = check_kv(p->env_vars, p->n_env_vars, "env_vars", err)) ||
        (rc = check_kv(p->labels, p->n_labels, "labels", err)))
        return rc;
    if (p->n_volumes && !p->volumes)
        return dt__fail(err, DT_EINVAL, 0, "volumes is NULL but n_volumes is %zu",
                        p->n_volumes);
    for (size_t i = 0; i < p->n_volumes; i++)
        if (!p->volumes[i].volume_id || !p->volumes[i].mount_path)
            return dt__fail(err, DT_EINVAL, 0,
                            "volumes[%zu] needs volume_id and mount_path", i);
    if (p->snapshot && p->image)
        return dt__fail(err, DT_EINVAL, 0,
                        "snapshot and image cannot be used together");
    return DT_OK;
}

static int add_num_if(cJSON *o, const char *key, int v)
{
    return v < 0 || cJSON_AddNumberToObject(o, key, v) != NULL;
}

static int add_str_if(cJSON *o, const char *key, const char *v)
{
    return !v || cJSON_AddStringToObject(o, key, v) != NULL;
}

static int add_volumes(cJSON *o, const dt_create_params *p)
{
    if (!p->n_volumes)
        return 1;
    cJSON *arr = cJSON_AddArrayToObject(o, "volumes");
    for (size_t i = 0; arr && i < p->n_volumes; i++) {
        const dt_volume_mount *m = &p->volumes[i];
        cJSON *v = cJSON_CreateObject();
        if (!v || !cJSON_AddItemToArray(arr, v) ||
            !cJSON_AddStringToObject(v, "volumeId", m->volume_id) ||
            !cJSON_AddStringToObject(v, "mountPath", m->mount_path) ||
            !add_str_if(v, "subpath", m->subpath))
            return 0;
    }
    return arr != NULL;
}

/* An image becomes buildInfo with the Dockerfile the SDK's Image.base()
 * writes. */
static int add_image(cJSON *o, const char *image)
{
    if (!image)
        return 1;
    size_t n = strlen(image) + 7;
    char *df = malloc(n);
    if (!df)
        return 0;
    snprintf(df, n, "FROM %s\n", image);
    cJSON *bi = cJSON_AddObjectToObject(o, "buildInfo");
    int ok = bi && cJSON_AddStringToObject(bi, "dockerfileContent", df);
    free(df);
    return ok;
}

/* The CreateSandbox body as Daytona.create builds it: env always (maybe
 * {}), the language as a label (python by default), ephemeral turned into
 * autoDeleteInterval 0, the client's target; unset fields left out. */
static cJSON *create_body(const dt_client *c, const dt_create_params *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *labels = kv_object(p->labels, p->n_labels);
    int auto_delete = p->ephemeral == 1 ? 0 : p->auto_delete_interval;
    const char *lang = p->language ? p->language : "python";
    int ok = o && labels && set_item(labels, LANGUAGE_LABEL,
                                     cJSON_CreateString(lang)) == 0 &&
             set_item(o, "labels", labels) == 0;
    labels = NULL;   /* owned by o now, or freed by set_item */
    ok = ok && set_item(o, "env", kv_object(p->env_vars, p->n_env_vars)) == 0 &&
             add_str_if(o, "name", p->name) &&
             add_str_if(o, "snapshot", p->snapshot) &&
             add_image(o, p->image) &&
             add_str_if(o, "user", p->user) &&
             (p->public_ != 1 || cJSON_AddTrueToObject(o, "public")) &&
             add_str_if(o, "target", c->target) &&
             add_num_if(o, "cpu", p->cpu) && add_num_if(o, "gpu", p->gpu) &&
             add_num_if(o, "memory", p->memory) &&
             add_num_if(o, "disk", p->disk) &&
             add_num_if(o, "autoStopInterval", p->auto_stop_interval) &&
             add_num_if(o, "autoArchiveInterval", p->auto_archive_interval) &&
             (auto_delete == -1 ||
              cJSON_AddNumberToObject(o, "autoDeleteInterval", auto_delete)) &&
             add_volumes(o, p) &&
             (p->network_block_all != 1 ||
              cJSON_AddTrueToObject(o, "networkBlockAll")) &&
             add_str_if(o, "networkAllowList", p->network_allow_list);
    cJSON_Delete(labels);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

dt_code dt_create(dt_client *c, const dt_create_params *p, dt_sandbox **out,
                  dt_error *err)
{
    dt_create_params dflt;
    if (!client_ok(c) || !out)
        return dt__fail(err, DT_EINVAL, 0, "invalid client or out pointer");
    if (!p) {
        dt_create_params_init(&dflt);
        p = &dflt;
    }
    dt_code rc = check_params(p, err);
    if (rc != DT_OK)
        return rc;
    int64_t deadline = deadline_for(p->timeout_ms);
    cJSON *body = create_body(c, p), *j = NULL;
    char *url = sandbox_url(c, NULL, NULL, &rc);
    dt_sandbox *sb = NULL;
    if (!body || !url) {
        rc = url ? dt__fail(err, DT_ENOMEM, 0, "out of memory") : url_fail(err, rc);
        goto cleanup;
    }
    rc = dt__json_t(c, "POST", url, body, request_budget(c, deadline), &j, err);
    if (rc == DT_ETIMEOUT && deadline >= 0)
        rc = dt__fail(err, DT_ETIMEOUT, 0,
                      "The sandbox was not created and started within %ld ms "
                      "(the request timed out; the sandbox may still come up)",
                      p->timeout_ms ? p->timeout_ms : DT__DEFAULT_WAIT_MS);
    if (rc == DT_OK && !j)
        rc = dt__fail(err, DT_EPROTO, 0, "POST %s: empty answer", url);
    if (rc != DT_OK || (rc = dt__sandbox_from_json(c, j, &sb, err)) != DT_OK)
        goto cleanup;
    /* As the SDK: only a sandbox that is not yet started is waited for. */
    if (p->timeout_ms >= 0 &&
        (rc = wait_for(sb, &W_START, deadline, p->timeout_ms, err)) != DT_OK) {
        if (rc == DT_ETIMEOUT)
            rc = dt__fail(err, DT_ETIMEOUT, 0,
                     "Sandbox %s was created but did not start within %ld ms "
                     "(state: %s); it may still come up", dt_sandbox_id(sb),
                     p->timeout_ms ? p->timeout_ms : DT__DEFAULT_WAIT_MS,
                     dt_sandbox_state(sb));
        goto cleanup;
    }
    *out = sb;
    sb = NULL;
cleanup:
    dt_sandbox_free(sb);
    cJSON_Delete(body);
    free(url);
    return rc;
}

/* ------------------------------------------------------------------ */
/* get, list, find                                                    */
/* ------------------------------------------------------------------ */

dt_code dt_get(dt_client *c, const char *id_or_name, dt_sandbox **out,
               dt_error *err)
{
    if (!client_ok(c) || !out)
        return dt__fail(err, DT_EINVAL, 0, "invalid client or out pointer");
    if (!id_or_name || !id_or_name[0])
        return dt__fail(err, DT_EINVAL, 0, "a sandbox id or name is required");
    dt_code rc = DT_OK;
    cJSON *j = NULL;
    char *url = sandbox_url(c, id_or_name, NULL, &rc);
    if (!url)
        return url_fail(err, rc);
    rc = dt__json(c, "GET", url, NULL, &j, err);
    if (rc == DT_OK && !j)
        rc = dt__fail(err, DT_EPROTO, 0, "GET %s: empty answer", url);
    if (rc == DT_OK)
        rc = dt__sandbox_from_json(c, j, out, err);
    free(url);
    return rc;
}

/* states "a, b,c" become states=a&states=b&states=c (repeated keys, as the
 * generated client sends arrays). */
static void add_states(dt__url *u, const char *states)
{
    const char *p = states;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ",");
        size_t tl = len;
        while (tl > 0 && p[tl - 1] == ' ')
            tl--;
        if (tl > 0) {
            char one[64];
            if (tl >= sizeof one) {
                u->rc = DT_EINVAL;
                return;
            }
            memcpy(one, p, tl);
            one[tl] = '\0';
            dt__url_query(u, "states", one);
        }
        p += len;
    }
}

static char *list_url(const dt_client *c, const dt_list_opts *o, dt_code *rc)
{
    char *labels = NULL;
    dt__url u;
    dt__url_init(&u, c->api_url);
    dt__url_raw(&u, o->cursor ? "/sandbox" : "/sandbox/paginated");
    if (o->cursor && o->cursor[0])
        dt__url_query(&u, "cursor", o->cursor);
    if (!o->cursor)
        dt__url_query_int(&u, "page", o->page ? o->page : 1);
    if (o->limit)
        dt__url_query_int(&u, "limit", o->limit);
    if (o->n_labels) {
        cJSON *l = kv_object(o->labels, o->n_labels);
        labels = l ? cJSON_PrintUnformatted(l) : NULL;
        cJSON_Delete(l);
        if (labels)
            dt__url_query(&u, "labels", labels);
        else
            u.rc = DT_ENOMEM;
    }
    add_states(&u, o->states);
    cJSON_free(labels);
    return dt__url_take(&u, rc);
}

void dt_sandbox_list_free(dt_sandbox_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        dt_sandbox_free(l->items[i]);
    free(l->items);
    free(l->next_cursor);
    free(l);
}

/* Moves the answer's items into handles. */
static dt_code fill_list(dt_client *c, cJSON *answer, dt_sandbox_list *l,
                         dt_error *err)
{
    cJSON *items = cJSON_GetObjectItemCaseSensitive(answer, "items");
    if (!cJSON_IsArray(items))
        return dt__fail(err, DT_EPROTO, 0, "the list answer has no items");
    int n = cJSON_GetArraySize(items);
    if (n > 0 && !(l->items = calloc((size_t)n, sizeof *l->items)))
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    while (cJSON_GetArraySize(items) > 0) {
        cJSON *it = cJSON_DetachItemFromArray(items, 0);
        dt_code rc = dt__sandbox_from_json(c, it, &l->items[l->n], err);
        if (rc != DT_OK)
            return rc;
        l->n++;
    }
    l->total = (long)dt__jnum(answer, "total", -1);
    const char *next = dt__jstr(answer, "nextCursor");
    dt_code rc = DT_OK;
    if (next && next[0] && !(l->next_cursor = dt__strdup(next, &rc)))
        return dt__fail(err, rc, 0, "out of memory");
    return DT_OK;
}

dt_code dt_list(dt_client *c, const dt_list_opts *opts, dt_sandbox_list **out,
                dt_error *err)
{
    static const dt_list_opts none;
    if (!client_ok(c) || !out)
        return dt__fail(err, DT_EINVAL, 0, "invalid client or out pointer");
    if (!opts)
        opts = &none;
    if (opts->page < 0 || opts->limit < 0)
        return dt__fail(err, DT_EINVAL, 0,
                        "page and limit must be >= 0 (got %d and %d)",
                        opts->page, opts->limit);
    dt_code rc = check_kv(opts->labels, opts->n_labels, "labels", err);
    if (rc != DT_OK)
        return rc;
    cJSON *j = NULL;
    dt_sandbox_list *l = NULL;
    char *url = list_url(c, opts, &rc);
    if (!url)
        return url_fail(err, rc);
    if ((rc = dt__json(c, "GET", url, NULL, &j, err)) != DT_OK)
        goto cleanup;
    if (!(l = calloc(1, sizeof *l))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    if ((rc = fill_list(c, j, l, err)) != DT_OK)
        goto cleanup;
    *out = l;
    l = NULL;
cleanup:
    dt_sandbox_list_free(l);
    cJSON_Delete(j);
    free(url);
    return rc;
}

size_t dt_sandbox_list_count(const dt_sandbox_list *l)
{
    return l ? l->n : 0;
}

long dt_sandbox_list_total(const dt_sandbox_list *l)
{
    return l ? l->total : -1;
}

const char *dt_sandbox_list_next_cursor(const dt_sandbox_list *l)
{
    return l ? l->next_cursor : NULL;
}

dt_sandbox *dt_sandbox_list_at(dt_sandbox_list *l, size_t i)
{
    return (l && i < l->n) ? l->items[i] : NULL;
}

dt_sandbox *dt_sandbox_list_take(dt_sandbox_list *l, size_t i)
{
    if (!l || i >= l->n)
        return NULL;
    dt_sandbox *sb = l->items[i];
    l->items[i] = NULL;
    return sb;
}

dt_code dt_find_one(dt_client *c, const char *id_or_name, const dt_kv *labels,
                    size_t n_labels, dt_sandbox **out, dt_error *err)
{
    if (id_or_name)
        return dt_get(c, id_or_name, out, err);
    if (!client_ok(c) || !out)
        return dt__fail(err, DT_EINVAL, 0, "invalid client or out pointer");
    dt_list_opts o = {.labels = labels, .n_labels = n_labels, .limit = 1,
                      .cursor = ""};
    dt_sandbox_list *l = NULL;
    dt_code rc = dt_list(c, &o, &l, err);
    if (rc != DT_OK)
        return rc;
    dt_sandbox *sb = dt_sandbox_list_take(l, 0);
    dt_sandbox_list_free(l);
    if (!sb) {
        cJSON *lj = kv_object(labels, n_labels);
        char *text = lj ? cJSON_PrintUnformatted(lj) : NULL;
        rc = dt__fail(err, DT_ENOTFOUND, 0, "No sandbox found with labels %s",
                      text ? text : "{}");
        cJSON_free(text);
        cJSON_Delete(lj);
        return rc;
    }
    *out = sb;
    return DT_OK;
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                          */
/* ------------------------------------------------------------------ */

/* METHOD <sandbox><suffix>; an answer that is a sandbox record becomes
 * the handle's record (*got = 1 then; got may be NULL). */
static dt_code sandbox_call(dt_sandbox *sb, const char *method,
                            const char *suffix, const cJSON *body,
                            long timeout_ms, int *got, dt_error *err)
{
    if (got)
        *got = 0;
    dt_code rc = DT_OK;
    cJSON *j = NULL;
    char *url = sandbox_url(sb->client, dt_sandbox_id(sb), suffix, &rc);
    if (!url)
        return url_fail(err, rc);
    rc = dt__json_t(sb->client, method, url, body, timeout_ms, &j, err);
    free(url);
    if (rc != DT_OK)
        return rc;
    /* PUT /labels is documented as answering {labels} only (the server
     * answers a full record), and a void answer is empty: accept all. */
    if (!j || !dt__jstr(j, "id")) {
        cJSON_Delete(j);
        return DT_OK;
    }
    if (got)
        *got = 1;
    return set_record(sb, j, err);
}

/* The common shape of start/stop/archive/recover/delete: the request, then
 * the wait for the end state within the same budget. */
static dt_code transition(dt_sandbox *sb, const char *method,
                          const char *suffix, const wait_spec *w,
                          long timeout_ms, dt_error *err)
{
    if (!sb_ok(sb))
        return bad_handle(err);
    int64_t deadline = deadline_for(timeout_ms);
    dt_code rc = sandbox_call(sb, method, suffix, NULL,
                              request_budget(sb->client, deadline), NULL, err);
    if (rc != DT_OK)
        return rc;
    return wait_for(sb, w, deadline, timeout_ms, err);
}

dt_code dt_sandbox_refresh(dt_sandbox *sb, dt_error *err)
{
    if (!sb_ok(sb))
        return bad_handle(err);
    dt_code rc = DT_OK;
    char *url = sandbox_url(sb->client, dt_sandbox_id(sb), NULL, &rc);
    if (!url)
        return url_fail(err, rc);
    rc = poll_once(sb, url, 0, err);
    free(url);
    return rc;
}

dt_code dt_sandbox_start(dt_sandbox *sb, long timeout_ms, dt_error *err)
{
    return transition(sb, "POST", "/start", &W_START, timeout_ms, err);
}

/* force=false always, as the SDK sends it. */
dt_code dt_sandbox_stop(dt_sandbox *sb, long timeout_ms, dt_error *err)
{
    return transition(sb, "POST", "/stop?force=false", &W_STOP, timeout_ms, err);
}

dt_code dt_sandbox_archive(dt_sandbox *sb, long timeout_ms, dt_error *err)
{
    return transition(sb, "POST", "/archive", &W_ARCHIVE, timeout_ms, err);
}

/* POST /recover, then wait until started (Sandbox.recover). */
dt_code dt_sandbox_recover(dt_sandbox *sb, long timeout_ms, dt_error *err)
{
    return transition(sb, "POST", "/recover", &W_START, timeout_ms, err);
}

dt_code dt_sandbox_delete(dt_sandbox *sb, long timeout_ms, dt_error *err)
{
    return transition(sb, "DELETE", NULL, &W_DELETE, timeout_ms, err);
}

dt_code dt_sandbox_wait_started(dt_sandbox *sb, long timeout_ms, dt_error *err)
{
    if (!sb_ok(sb))
        return bad_handle(err);
    return wait_for(sb, &W_START, deadline_for(timeout_ms), timeout_ms, err);
}

dt_code dt_sandbox_wait_stopped(dt_sandbox *sb, long timeout_ms, dt_error *err)
{
    if (!sb_ok(sb))
        return bad_handle(err);
    return wait_for(sb, &W_STOP, deadline_for(timeout_ms), timeout_ms, err);
}

/* ------------------------------------------------------------------ */
/* labels and intervals                                               */
/* ------------------------------------------------------------------ */

dt_code dt_sandbox_set_labels(dt_sandbox *sb, const dt_kv *labels, size_t n,
                              dt_error *err)
{
    if (!sb_ok(sb))
        return bad_handle(err);
    dt_code rc = check_kv(labels, n, "labels", err);
    if (rc != DT_OK)
        return rc;
    cJSON *body = cJSON_CreateObject();
    cJSON *l = kv_object(labels, n);
    if (!body || !l || !cJSON_AddItemToObject(body, "labels", l)) {
        cJSON_Delete(l);
        cJSON_Delete(body);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    int got = 0;
    rc = sandbox_call(sb, "PUT", "/labels", body, 0, &got, err);
    /* Without a record in the answer, keep what was sent (as the SDK). */
    if (rc == DT_OK && !got)
        rc = patch_record(sb, "labels", cJSON_Duplicate(l, 1), err);
    cJSON_Delete(body);
    return rc;
}

/* POST <sandbox>/<what>/<minutes>; the answer (201) is the record. */
static dt_code set_interval(dt_sandbox *sb, const char *what, const char *field,
                            int minutes, int min, dt_error *err)
{
    if (!sb_ok(sb))
        return bad_handle(err);
    if (minutes < min)
        return dt__fail(err, DT_EINVAL, 0, "%s must be >= %d, got %d", field,
                        min, minutes);
    char suffix[48];
    snprintf(suffix, sizeof suffix, "/%s/%d", what, minutes);
    int got = 0;
    dt_code rc = sandbox_call(sb, "POST", suffix, NULL, 0, &got, err);
    /* With no record in the answer, note the value as the SDK does. */
    if (rc == DT_OK && !got)
        rc = patch_record(sb, field, cJSON_CreateNumber(minutes), err);
    return rc;
}

dt_code dt_sandbox_set_auto_stop(dt_sandbox *sb, int minutes, dt_error *err)
{
    return set_interval(sb, "autostop", "autoStopInterval", minutes, 0, err);
}

dt_code dt_sandbox_set_auto_archive(dt_sandbox *sb, int minutes, dt_error *err)
{
    return set_interval(sb, "autoarchive", "autoArchiveInterval", minutes, 0,
                        err);
}

dt_code dt_sandbox_set_auto_delete(dt_sandbox *sb, int minutes, dt_error *err)
{
    return set_interval(sb, "autodelete", "autoDeleteInterval", minutes, -1,
                        err);
}

/* ------------------------------------------------------------------ */
/* toolbox directories and previews                                   */
/* ------------------------------------------------------------------ */

/* GET <toolbox>/<path> answering {"dir": "..."}. */
static dt_code toolbox_dir(dt_sandbox *sb, const char *path, char **out,
                           dt_error *err)
{
    if (!sb_ok(sb) || !out)
        return dt__fail(err, DT_EINVAL, 0, "invalid sandbox handle or out");
    dt__url u;
    dt_code rc = DT_OK;
    cJSON *j = NULL;
    dt__toolbox_url(sb, &u, path);
    char *url = dt__url_take(&u, &rc);
    if (!url)
        return url_fail(err, rc);
    rc = dt__json(sb->client, "GET", url, NULL, &j, err);
    const char *dir = dt__jstr(j, "dir");
    if (rc == DT_OK && !dir)
        rc = dt__fail(err, DT_EPROTO, 0, "GET %s: no dir in the answer", url);
    char *copy = NULL;
    if (rc == DT_OK && !(copy = dt__strdup(dir, &rc)))
        rc = dt__fail(err, rc, 0, "out of memory");
    if (rc == DT_OK)
        *out = copy;
    cJSON_Delete(j);
    free(url);
    return rc;
}

dt_code dt_sandbox_work_dir(dt_sandbox *sb, char **out, dt_error *err)
{
    return toolbox_dir(sb, "/work-dir", out, err);
}

dt_code dt_sandbox_home_dir(dt_sandbox *sb, char **out, dt_error *err)
{
    return toolbox_dir(sb, "/user-home-dir", out, err);
}

void dt_preview_release(dt_preview *p)
{
    if (!p)
        return;
    free(p->url);
    free(p->token);
    p->url = p->token = NULL;
}

/* GET <sandbox>/ports/<port>/<what>; url required, token copied when
 * want_token (signed URLs need none). */
static dt_code preview_call(dt_sandbox *sb, int port, const char *what,
                            int expires_s, int want_token, dt_preview *out,
                            dt_error *err)
{
    if (!sb_ok(sb) || !out)
        return dt__fail(err, DT_EINVAL, 0, "invalid sandbox handle or out");
    if (port < 1 || port > 65535)
        return dt__fail(err, DT_EINVAL, 0, "port must be 1..65535, got %d", port);
    if (expires_s < 0)
        return dt__fail(err, DT_EINVAL, 0, "expires_s must be >= 0, got %d",
                        expires_s);
    char suffix[64];
    snprintf(suffix, sizeof suffix, "/ports/%d/%s", port, what);
    dt__url u;
    dt_code rc = DT_OK;
    cJSON *j = NULL;
    dt__url_init(&u, sb->client->api_url);
    dt__url_raw(&u, "/sandbox");
    dt__url_seg(&u, dt_sandbox_id(sb));
    dt__url_raw(&u, suffix);
    if (expires_s > 0)
        dt__url_query_int(&u, "expiresInSeconds", expires_s);
    char *url = dt__url_take(&u, &rc);
    if (!url)
        return url_fail(err, rc);
    rc = dt__json(sb->client, "GET", url, NULL, &j, err);
    const char *purl = dt__jstr(j, "url"), *tok = dt__jstr(j, "token");
    if (rc == DT_OK && !purl)
        rc = dt__fail(err, DT_EPROTO, 0, "GET %s: no url in the answer", url);
    dt_preview p = {NULL, NULL};
    if (rc == DT_OK &&
        (!(p.url = dt__strdup(purl, &rc)) ||
         !(p.token = dt__strdup(want_token && tok ? tok : "", &rc))))
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    if (rc == DT_OK)
        *out = p;
    else
        dt_preview_release(&p);
    cJSON_Delete(j);
    free(url);
    return rc;
}

dt_code dt_sandbox_preview_link(dt_sandbox *sb, int port, dt_preview *out,
                                dt_error *err)
{
    return preview_call(sb, port, "preview-url", 0, 1, out, err);
}

dt_code dt_sandbox_signed_preview_url(dt_sandbox *sb, int port, int expires_s,
                                      dt_preview *out, dt_error *err)
{
    return preview_call(sb, port, "signed-preview-url", expires_s, 0, out, err);
}
