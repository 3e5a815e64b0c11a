/*
 * parallel_agents.c - the "multishot" parallel-agents flow with libdaytona
 * (shared/seeds/002): several coding agents work side by side, each in its
 * own sandbox, and the winner's work is carried into another sandbox and
 * previewed.
 *
 *  1. Four sandboxes are created at once: four threads share one dt_client
 *     (the client is thread-safe; each handle stays with one thread).  Each
 *     gets the label agentId and the env var AGENT_ID, plus a run label, and
 *     dt_list by that label must find exactly these four.
 *  2. agent-a "writes a project" (two files, uploaded in one multipart
 *     request with dt_fs_upload_many) and packs it: dt_exec `tar czf`.
 *  3. The tarball is moved to agent-b: dt_fs_download from a, dt_fs_upload
 *     to b, then unpacked there with dt_exec; the program it contains is
 *     run and a file is compared byte for byte with the original.
 *  4. agent-b serves the project: a session (dt_session_create) runs
 *     `python3 -m http.server PORT` asynchronously -- a command started by
 *     dt_exec would end with its request.  Readiness is polled through the
 *     preview URL with libcurl (x-daytona-preview-token header) until it
 *     answers 200; the page must be the uploaded one, and without the token
 *     the private sandbox must refuse the request.
 *  5. A signed preview URL is fetched with no token at all.
 *  6. All four sandboxes are deleted (also on failure), again in parallel.
 *
 * Paths are relative to the sandbox user's home directory, which file
 * operations and commands agree on everywhere.  Usage:
 * parallel_agents [--port N] (the preview port, default 8080).  Prints
 * "parallel_agents: ok" and exits 0 when every check held, else exits 1.
 */
/* strdup, nanosleep, clock_gettime, getpid: POSIX.1-2008 on top of C11. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <daytona/daytona.h>

#define N_AGENTS 4
#define TIMEOUT_MS 60000L
#define MAX_PAGE (1024 * 1024)

static const char *const agent_names[N_AGENTS] = {"agent-a", "agent-b",
                                                  "agent-c", "agent-d"};

static const char main_py[] = "print('hello from agent-a')\n";
static const char index_html[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>agent-a"
    "</title></head>\n<body><h1>Built by agent-a \xe2\x80\x94 previewed in "
    "agent-b</h1></body></html>\n";

/* One agent's slot: filled by its thread. */
typedef struct {
    dt_client *client;
    const char *name;
    const char *run_id;
    dt_sandbox *sb;
    dt_code rc;
    dt_error err;
} agent;

static void report(const char *what, dt_code rc, const dt_error *err)
{
    fprintf(stderr, "parallel_agents: FAIL: %s: %s", what, dt_strerror(rc));
    if (err && err->code == rc && err->message[0])
        fprintf(stderr, " (HTTP %ld: %s)", err->status, err->message);
    fputc('\n', stderr);
}

static void *create_agent(void *arg)
{
    agent *a = arg;
    dt_kv labels[] = {{"agentId", a->name}, {"run", a->run_id}};
    dt_kv env[] = {{"AGENT_ID", a->name}};
    dt_create_params p;
    dt_create_params_init(&p);
    p.language = "python";
    p.labels = labels;
    p.n_labels = 2;
    p.env_vars = env;
    p.n_env_vars = 1;
    p.auto_stop_interval = 60;
    p.timeout_ms = TIMEOUT_MS;
    a->rc = dt_create(a->client, &p, &a->sb, &a->err);
    return NULL;
}

static void *delete_agent(void *arg)
{
    agent *a = arg;
    a->rc = a->sb ? dt_sandbox_delete(a->sb, TIMEOUT_MS, &a->err) : DT_OK;
    return NULL;
}

/* Runs fn on every agent in its own thread and waits for all.  Returns 0
 * when every thread ran (their results are in the slots). */
static int run_parallel(agent *agents, void *(*fn)(void *))
{
    pthread_t th[N_AGENTS];
    int started = 0, ret = 0;
    for (; started < N_AGENTS; started++)
        if (pthread_create(&th[started], NULL, fn, &agents[started]) != 0) {
            ret = -1;
            break;
        }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return ret;
}

/* How many sandboxes carry this run's label, or -1. */
static long count_run(dt_client *c, const char *run_id)
{
    dt_kv by_run[] = {{"run", run_id}};
    dt_list_opts lo = {.labels = by_run, .n_labels = 1};
    dt_sandbox_list *l = NULL;
    dt_error err;
    dt_code rc = dt_list(c, &lo, &l, &err);
    if (rc != DT_OK) {
        report("list by label", rc, &err);
        return -1;
    }
    long n = (long)dt_sandbox_list_count(l);
    dt_sandbox_list_free(l);
    printf("sandboxes labelled run=%s: %ld\n", run_id, n);
    return n;
}

/* Checks the four creations and that a label query finds exactly them. */
static int check_agents(dt_client *c, agent *agents, const char *run_id)
{
    for (int i = 0; i < N_AGENTS; i++) {
        agent *a = &agents[i];
        const char *label = dt_sandbox_label(a->sb, "agentId");
        const char *env = dt_sandbox_env(a->sb, "AGENT_ID");
        printf("%s: sandbox %s %s\n", a->name, dt_sandbox_id(a->sb),
               dt_sandbox_state(a->sb));
        if (strcmp(dt_sandbox_state(a->sb), "started") != 0 || !label ||
            strcmp(label, a->name) != 0 || !env || strcmp(env, a->name) != 0) {
            fprintf(stderr, "parallel_agents: FAIL: %s: wrong state, label or "
                    "env\n", a->name);
            return -1;
        }
        for (int k = 0; k < i; k++)
            if (strcmp(dt_sandbox_id(agents[k].sb), dt_sandbox_id(a->sb)) == 0)
                return fprintf(stderr, "parallel_agents: FAIL: same id\n"), -1;
    }
    long n = count_run(c, run_id);
    if (n != N_AGENTS) {
        fprintf(stderr, "parallel_agents: FAIL: list found %ld\n", n);
        return -1;
    }
    return 0;
}

/* dt_exec that must exit 0 (and, if expect is set, print it). */
static int run_cmd(dt_sandbox *sb, const char *cmd, const char *expect)
{
    dt_exec_opts o = {.timeout_s = 60};
    dt_exec_result r;
    dt_error err;
    dt_code rc = dt_exec(sb, cmd, &o, &r, &err);
    if (rc != DT_OK) {
        report(cmd, rc, &err);
        return -1;
    }
    int ok = r.exit_code == 0 && (!expect || (r.result && strstr(r.result, expect)));
    printf("$ %s -> exit %d%s%s", cmd, r.exit_code, r.result_len ? ": " : "\n",
           r.result_len ? r.result : "");
    if (!ok)
        fprintf(stderr, "parallel_agents: FAIL: `%s` (want exit 0%s%s)\n", cmd,
                expect ? " and " : "", expect ? expect : "");
    dt_exec_result_release(&r);
    return ok ? 0 : -1;
}

/* agent-a packs its project; the tarball goes to agent-b and is unpacked
 * and checked there. */
static int move_project(dt_sandbox *from, dt_sandbox *to)
{
    int ret = -1;
    void *tar = NULL, *copy = NULL;
    size_t tar_len = 0, copy_len = 0;
    dt_error err;
    dt_upload_item files[] = {
        {.remote_path = "project/main.py", .data = main_py, .len = strlen(main_py)},
        {.remote_path = "project/index.html", .data = index_html,
         .len = strlen(index_html)}};
    dt_code rc = dt_fs_upload_many(from, files, 2, &err);
    if (rc != DT_OK) {
        report("upload project", rc, &err);
        goto cleanup;
    }
    if (run_cmd(from, "tar czf project.tar.gz -C project .", NULL))
        goto cleanup;
    rc = dt_fs_download(from, "project.tar.gz", &tar, &tar_len, &err);
    if (rc != DT_OK) {
        report("download tarball", rc, &err);
        goto cleanup;
    }
    printf("tarball: %zu bytes\n", tar_len);
    if (tar_len < 2 || ((unsigned char *)tar)[0] != 0x1f ||
        ((unsigned char *)tar)[1] != 0x8b) {
        fprintf(stderr, "parallel_agents: FAIL: the tarball is not gzip\n");
        goto cleanup;
    }
    rc = dt_fs_upload(to, "incoming/project.tar.gz", tar, tar_len, &err);
    if (rc != DT_OK) {
        report("upload tarball", rc, &err);
        goto cleanup;
    }
    if (run_cmd(to, "mkdir -p project && tar xzf incoming/project.tar.gz -C project",
                NULL) ||
        run_cmd(to, "python3 project/main.py", "hello from agent-a"))
        goto cleanup;
    rc = dt_fs_download(to, "project/index.html", &copy, &copy_len, &err);
    if (rc != DT_OK) {
        report("download unpacked file", rc, &err);
        goto cleanup;
    }
    if (copy_len != strlen(index_html) || memcmp(copy, index_html, copy_len) != 0) {
        fprintf(stderr, "parallel_agents: FAIL: unpacked index.html differs\n");
        goto cleanup;
    }
    printf("project moved from agent-a to agent-b intact\n");
    ret = 0;
cleanup:
    free(tar);
    free(copy);
    return ret;
}

/* A response body collected up to MAX_PAGE; more aborts the transfer. */
typedef struct {
    char data[MAX_PAGE + 1];
    size_t len;
} page;

static size_t page_write(char *p, size_t size, size_t n, void *ud)
{
    page *pg = ud;
    size_t len = size * n;
    if (len > MAX_PAGE - pg->len)
        return 0;
    memcpy(pg->data + pg->len, p, len);
    pg->len += len;
    pg->data[pg->len] = '\0';
    return len;
}

/* GET url (token: the preview token header, or NULL).  Returns the HTTP
 * status, 0 when there was no response. */
static long http_get(const char *url, const char *token, page *pg)
{
    char hdr[512];
    struct curl_slist *hl = NULL;
    long status = 0;
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    pg->len = 0;
    pg->data[0] = '\0';
    if (token) {
        snprintf(hdr, sizeof hdr, "x-daytona-preview-token: %s", token);
        hl = curl_slist_append(NULL, hdr);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, page_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, pg);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The seed's waitForServerReady, through the preview URL: poll until the
 * server answers 200 (502 means nothing listens yet).  Returns 0 if ready. */
static int wait_ready(const char *url, const char *token, page *pg)
{
    long status = 0;
    for (int attempt = 1; attempt <= 60; attempt++) {
        status = http_get(url, token, pg);
        if (status == 200) {
            printf("preview ready after %d attempt(s)\n", attempt);
            return 0;
        }
        sleep_ms(250);
    }
    fprintf(stderr, "parallel_agents: FAIL: preview not ready (last HTTP %ld)\n",
            status);
    return -1;
}

/* Checks the served page: with the token (and it must be index.html),
 * without it (refused), and through a signed URL (no token needed). */
static int check_preview(dt_sandbox *sb, int port, page *pg)
{
    int ret = -1;
    char url[2048];
    dt_preview pv = {0}, signed_pv = {0};
    dt_error err;
    dt_code rc = dt_sandbox_preview_link(sb, port, &pv, &err);
    if (rc != DT_OK) {
        report("preview link", rc, &err);
        goto cleanup;
    }
    printf("preview URL: %s\n", pv.url);
    snprintf(url, sizeof url, "%s/index.html", pv.url);
    if (wait_ready(url, pv.token, pg))
        goto cleanup;
    if (pg->len != strlen(index_html) || memcmp(pg->data, index_html, pg->len)) {
        fprintf(stderr, "parallel_agents: FAIL: preview page differs\n");
        goto cleanup;
    }
    long status = http_get(url, NULL, pg);
    printf("preview without token: HTTP %ld\n", status);
    if (status != 401 && status != 403) {
        fprintf(stderr, "parallel_agents: FAIL: private preview answered %ld\n",
                status);
        goto cleanup;
    }
    rc = dt_sandbox_signed_preview_url(sb, port, 3600, &signed_pv, &err);
    if (rc != DT_OK) {
        report("signed preview URL", rc, &err);
        goto cleanup;
    }
    snprintf(url, sizeof url, "%s/index.html", signed_pv.url);
    status = http_get(url, NULL, pg);
    printf("signed preview URL %s: HTTP %ld\n", signed_pv.url, status);
    if (status != 200 || pg->len != strlen(index_html) ||
        memcmp(pg->data, index_html, pg->len) != 0) {
        fprintf(stderr, "parallel_agents: FAIL: signed preview\n");
        goto cleanup;
    }
    ret = 0;
cleanup:
    dt_preview_release(&pv);
    dt_preview_release(&signed_pv);
    return ret;
}

/* Starts the preview server in a session of sb and checks it. */
static int preview(dt_sandbox *sb, int port)
{
    int ret = -1, have_session = 0;
    char cmd[128];
    page *pg = NULL;
    dt_session_exec_opts o = {.run_async = 1};
    dt_session_exec_result r = {0};
    dt_error err;
    dt_code rc = dt_session_create(sb, "preview-server", &err);
    if (rc != DT_OK) {
        report("session create", rc, &err);
        goto cleanup;
    }
    have_session = 1;
    snprintf(cmd, sizeof cmd, "python3 -m http.server %d --directory project", port);
    rc = dt_session_exec(sb, "preview-server", cmd, &o, &r, &err);
    if (rc != DT_OK) {
        report("start preview server", rc, &err);
        goto cleanup;
    }
    printf("preview server started (command %s)\n", r.cmd_id);
    pg = malloc(sizeof *pg);
    if (!pg || check_preview(sb, port, pg))
        goto cleanup;
    ret = 0;
cleanup:
    /* Deleting the session stops the server. */
    if (have_session && (rc = dt_session_delete(sb, "preview-server", &err)) != DT_OK) {
        report("session delete", rc, &err);
        ret = -1;
    }
    dt_session_exec_result_release(&r);
    free(pg);
    return ret;
}

/* Deletes every created sandbox, in parallel, and checks that the run's
 * label finds nothing any more. */
static int delete_all(dt_client *c, agent *agents, const char *run_id)
{
    int ret = 0, any = 0;
    for (int i = 0; i < N_AGENTS; i++)
        any |= agents[i].sb != NULL;
    if (!any)
        return 0;
    if (run_parallel(agents, delete_agent) != 0)
        ret = -1;
    for (int i = 0; i < N_AGENTS; i++) {
        if (!agents[i].sb)
            continue;
        if (agents[i].rc != DT_OK) {
            report(agents[i].name, agents[i].rc, &agents[i].err);
            ret = -1;
        } else {
            printf("%s: deleted\n", agents[i].name);
        }
        dt_sandbox_free(agents[i].sb);
        agents[i].sb = NULL;
    }
    if (ret == 0 && count_run(c, run_id) != 0) {
        fprintf(stderr, "parallel_agents: FAIL: sandboxes left after delete\n");
        ret = -1;
    }
    return ret;
}

static int parse_port(int argc, char **argv)
{
    if (argc == 1)
        return 8080;
    if (argc == 3 && strcmp(argv[1], "--port") == 0) {
        char *end;
        long p = strtol(argv[2], &end, 10);
        if (*end == '\0' && p > 0 && p < 65536)
            return (int)p;
    }
    fprintf(stderr, "usage: parallel_agents [--port N]\n");
    return -1;
}

int main(int argc, char **argv)
{
    int ret = 1, port = parse_port(argc, argv);
    dt_client *c = NULL;
    dt_error err;
    agent agents[N_AGENTS];
    char run_id[64] = "";

    memset(agents, 0, sizeof agents);
    if (port < 0 || dt_global_init() != DT_OK)
        return 2;
    dt_code rc = dt_client_new(NULL, &c, &err);
    if (rc != DT_OK) {
        report("client", rc, &err);
        goto cleanup;
    }
    /* Labels this run's sandboxes apart from anything else in the org. */
    snprintf(run_id, sizeof run_id, "run-%ld-%ld", (long)time(NULL), (long)getpid());
    for (int i = 0; i < N_AGENTS; i++)
        agents[i] = (agent){.client = c, .name = agent_names[i], .run_id = run_id,
                            .rc = DT_ENOMEM};   /* until its thread runs */
    if (run_parallel(agents, create_agent) != 0)
        fprintf(stderr, "parallel_agents: FAIL: could not start threads\n");
    for (int i = 0; i < N_AGENTS; i++)
        if (agents[i].rc != DT_OK || !agents[i].sb) {
            report(agents[i].name, agents[i].rc, &agents[i].err);
            goto cleanup;
        }
    printf("%d sandboxes created in parallel\n", N_AGENTS);
    if (check_agents(c, agents, run_id) || move_project(agents[0].sb, agents[1].sb) ||
        preview(agents[1].sb, port))
        goto cleanup;
    ret = 0;
cleanup:
    if (delete_all(c, agents, run_id) != 0)
        ret = 1;
    if (ret == 0)
        printf("parallel_agents: ok\n");
    dt_client_free(c);
    dt_global_cleanup();
    return ret;
}
