/*
 * demo_renderer.c - the demo renderer with libdaytona (shared/seeds/003):
 * generated HTML is served from a sandbox and fetched back through the
 * sandbox's preview URL, and the sandbox is removed whatever happens.
 *
 *  1. Create a sandbox (language typescript, NODE_ENV=production, as the
 *     seed does).
 *  2. Write the generated HTML into it with dt_fs_upload -- no shell
 *     heredoc, so no quoting problems whatever the HTML contains.
 *  3. Serve it: a session runs `python3 -m http.server PORT` asynchronously
 *     (the seed's `npx http-server` needs the network; python's server is
 *     in every sandbox image).
 *  4. Fetch it through the preview URL with libcurl and the preview token:
 *     first poll until the server answers, then GET demo.html and compare
 *     it byte for byte (and its Content-Type) with what was written.
 *  5. Clean up in all cases: every failure jumps to one cleanup label that
 *     deletes the sandbox, and the deletion is checked (a get by id must
 *     then say "not found").
 *
 * The demo's status is reported as the seed's app records it: "ready" or
 * "failed: <reason>".  Usage: demo_renderer [--port N] [--break]
 * (--port: the preview port, default 8080; --break fetches a page that does
 * not exist, to show that a failed demo still cleans up).  Exit status 0
 * when the demo is ready and the sandbox is gone, 1 otherwise.
 */
/* strdup, nanosleep, clock_gettime, getpid: POSIX.1-2008 on top of C11. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <daytona/daytona.h>

#define TIMEOUT_MS 60000L
#define MAX_PAGE (1024 * 1024)

/* What the AI step of the seed would have generated. */
static const char demo_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n<head><meta charset=\"utf-8\">\n"
    "<title>Entropy, explained like I'm five</title>\n"
    "<style>body { font-family: sans-serif; } .jar { color: #c33; }</style>\n"
    "</head>\n<body>\n"
    "<h1>Why does a room get messy? \xf0\x9f\xa7\xb9</h1>\n"
    "<p class=\"jar\">There are many more messy rooms than tidy ones &mdash; "
    "so \"random\" almost always means 'messy'.</p>\n"
    "<script>document.title += ' \\u2713';</script>\n"
    "</body>\n</html>\n";

typedef struct {
    char data[MAX_PAGE + 1];
    size_t len;
    char content_type[128];
} page;

static size_t page_write(char *p, size_t size, size_t n, void *ud)
{
    page *pg = ud;
    size_t len = size * n;
    if (len > MAX_PAGE - pg->len)
        return 0;       /* over the cap: abort the transfer */
    memcpy(pg->data + pg->len, p, len);
    pg->len += len;
    pg->data[pg->len] = '\0';
    return len;
}

/* GET url with the preview token header.  Returns the HTTP status, 0 when
 * there was no response. */
static long http_get(const char *url, const char *token, page *pg)
{
    char hdr[512];
    char *ct = NULL;
    long status = 0;
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    snprintf(hdr, sizeof hdr, "x-daytona-preview-token: %s", token);
    struct curl_slist *hl = curl_slist_append(NULL, hdr);
    pg->len = 0;
    pg->data[0] = '\0';
    pg->content_type[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, page_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, pg);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(pg->content_type, sizeof pg->content_type, "%s", ct);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Fills why (the demo's failure reason) from a library error. */
static void why_dt(char *why, size_t cap, const char *what, dt_code rc,
                   const dt_error *err)
{
    snprintf(why, cap, "%s: %s%s%s", what, dt_strerror(rc),
             err->code == rc && err->message[0] ? ": " : "",
             err->code == rc ? err->message : "");
}

/* Starts the web server in a session; fills why on failure. */
static int serve(dt_sandbox *sb, int port, char *why, size_t cap)
{
    char cmd[128];
    dt_session_exec_opts o = {.run_async = 1};
    dt_session_exec_result r;
    dt_error err;
    dt_code rc = dt_session_create(sb, "demo-server", &err);
    if (rc != DT_OK) {
        why_dt(why, cap, "session", rc, &err);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "python3 -m http.server %d --directory demo", port);
    rc = dt_session_exec(sb, "demo-server", cmd, &o, &r, &err);
    if (rc != DT_OK) {
        why_dt(why, cap, "start server", rc, &err);
        return -1;
    }
    printf("server started: %s (command %s)\n", cmd, r.cmd_id);
    dt_session_exec_result_release(&r);
    return 0;
}

/* Polls the preview until the server answers, then fetches the page and
 * compares it.  Fills why on failure. */
static int fetch_and_compare(dt_sandbox *sb, int port, const char *file,
                             page *pg, char *why, size_t cap)
{
    int ret = -1;
    char url[2048];
    long status = 0;
    dt_preview pv = {0};
    dt_error err;
    dt_code rc = dt_sandbox_preview_link(sb, port, &pv, &err);
    if (rc != DT_OK) {
        why_dt(why, cap, "preview link", rc, &err);
        goto cleanup;
    }
    snprintf(url, sizeof url, "%s/", pv.url);
    for (int i = 0; i < 60 && status != 200; i++) {
        if (i)
            sleep_ms(250);
        status = http_get(url, pv.token, pg);
    }
    printf("preview %s: HTTP %ld\n", url, status);
    if (status != 200) {
        snprintf(why, cap, "server not ready (HTTP %ld)", status);
        goto cleanup;
    }
    snprintf(url, sizeof url, "%s/%s", pv.url, file);
    status = http_get(url, pv.token, pg);
    printf("fetched %s: HTTP %ld, %zu bytes, %s\n", url, status, pg->len,
           pg->content_type[0] ? pg->content_type : "no content type");
    if (status != 200)
        snprintf(why, cap, "fetch %s: HTTP %ld", file, status);
    else if (pg->len != strlen(demo_html) || memcmp(pg->data, demo_html, pg->len))
        snprintf(why, cap, "the served page differs from the written one");
    else if (strncmp(pg->content_type, "text/html", 9) != 0)
        snprintf(why, cap, "content type %s", pg->content_type);
    else
        ret = 0;
cleanup:
    dt_preview_release(&pv);
    return ret;
}

/* Deletes the sandbox and proves it is gone.  Returns 0 if so. */
static int remove_sandbox(dt_client *c, dt_sandbox *sb)
{
    dt_sandbox *again = NULL;
    dt_error err;
    /* The server dies with the session; deleting the sandbox would end it
     * too, so a failure here is only reported. */
    if (dt_session_delete(sb, "demo-server", &err) == DT_OK)
        printf("cleanup: session demo-server deleted\n");
    dt_code rc = dt_sandbox_delete(sb, TIMEOUT_MS, &err);
    if (rc != DT_OK) {
        fprintf(stderr, "demo_renderer: cleanup: delete %s: %s (%s)\n",
                dt_sandbox_id(sb), dt_strerror(rc), err.message);
        return -1;
    }
    rc = dt_get(c, dt_sandbox_id(sb), &again, &err);
    if (rc != DT_ENOTFOUND) {
        fprintf(stderr, "demo_renderer: cleanup: sandbox still there (%s)\n",
                dt_strerror(rc));
        dt_sandbox_free(again);
        return -1;
    }
    printf("cleanup: sandbox %s deleted\n", dt_sandbox_id(sb));
    return 0;
}

/* The seed's executeInSandbox.  Returns 0 when the demo is ready. */
static int render(dt_client *c, int port, int broken)
{
    int ready = 0;
    char why[DT_ERROR_MESSAGE_MAX + 128] = "";
    dt_sandbox *sb = NULL;
    page *pg = NULL;
    dt_error err;
    dt_kv env[] = {{"NODE_ENV", "production"}};
    dt_create_params p;
    dt_create_params_init(&p);
    p.language = "typescript";
    p.env_vars = env;
    p.n_env_vars = 1;
    p.timeout_ms = TIMEOUT_MS;

    dt_code rc = dt_create(c, &p, &sb, &err);
    if (rc != DT_OK) {
        why_dt(why, sizeof why, "create", rc, &err);
        goto cleanup;
    }
    printf("sandbox %s %s\n", dt_sandbox_id(sb), dt_sandbox_state(sb));
    rc = dt_fs_upload(sb, "demo/demo.html", demo_html, strlen(demo_html), &err);
    if (rc != DT_OK) {
        why_dt(why, sizeof why, "write HTML", rc, &err);
        goto cleanup;
    }
    printf("wrote demo/demo.html (%zu bytes)\n", strlen(demo_html));
    pg = malloc(sizeof *pg);
    if (!pg) {
        snprintf(why, sizeof why, "out of memory");
        goto cleanup;
    }
    if (serve(sb, port, why, sizeof why) ||
        fetch_and_compare(sb, port, broken ? "missing.html" : "demo.html", pg,
                          why, sizeof why))
        goto cleanup;
    ready = 1;
cleanup:
    if (ready)
        printf("demo status: ready (%zu bytes rendered)\n", pg->len);
    else
        printf("demo status: failed: %s\n", why);
    if (sb && remove_sandbox(c, sb) != 0)
        ready = 0;
    dt_sandbox_free(sb);
    free(pg);
    return ready ? 0 : -1;
}

int main(int argc, char **argv)
{
    int port = 8080, broken = 0, ret = 1;
    dt_client *c = NULL;
    dt_error err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--break") == 0) {
            broken = 1;
        } else {
            fprintf(stderr, "usage: demo_renderer [--port N] [--break]\n");
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || dt_global_init() != DT_OK)
        return 2;
    dt_code rc = dt_client_new(NULL, &c, &err);
    if (rc != DT_OK) {
        fprintf(stderr, "demo_renderer: %s: %s\n", dt_strerror(rc), err.message);
        goto cleanup;
    }
    if (render(c, port, broken) == 0) {
        printf("demo_renderer: ok\n");
        ret = 0;
    }
cleanup:
    dt_client_free(c);
    dt_global_cleanup();
    return ret;
}
