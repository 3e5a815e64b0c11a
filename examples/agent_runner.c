/*
 * agent_runner.c - run an agent's long command with streamed output, with
 * libdaytona (shared/seeds/004: the backend that runs an agent's Python
 * code in a sandbox and streams its logs to the user as they happen).
 *
 *  1. Create a sandbox for the agent (python, named agent-<id>, labelled
 *     with the agent id, AGENT_ID in its environment, auto-stop 15 min).
 *  2. Upload the agent's code (agent.py) with dt_fs_upload.
 *  3. Run it in a session, asynchronously (`python3 -u agent.py`), and
 *     follow it with dt_session_logs_stream: the stdout and stderr
 *     callbacks receive chunks as the agent prints them; this program
 *     reassembles them into lines and prints each line the moment it is
 *     complete, tagged with its stream and the time since the start.
 *  4. When the stream ends (the command finished), read the exit code with
 *     dt_session_get_command and report it.
 *  5. Delete the session and the sandbox (also on failure).
 *
 * Checks: every step line arrived on stdout in order and the warning on
 * stderr; the output really streamed (the first and last step lines
 * arrived at least a second apart, as the agent sleeps between steps); the
 * streamed stdout equals the stored log (dt_session_logs).
 *
 * Usage: agent_runner [--fail] (--fail makes the agent exit with code 7).
 * Exit status: 0 when the agent succeeded and every check held; 3 when the
 * agent itself failed (its exit code is reported); 1 when a call or check
 * failed.
 */
/* strdup, nanosleep, clock_gettime, getpid: POSIX.1-2008 on top of C11. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <daytona/daytona.h>

#define TIMEOUT_MS 60000L
#define MAX_STREAM (256 * 1024)
#define N_STEPS 5

static const char agent_py[] =
    "import os, sys, time\n"
    "agent = os.environ.get('AGENT_ID', '?')\n"
    "print(f'{agent}: starting', flush=True)\n"
    "for step in range(1, 6):\n"
    "    time.sleep(0.4)\n"
    "    print(f'step {step}/5: working', flush=True)\n"
    "    if step == 3:\n"
    "        print('warning: step 3 was slow', file=sys.stderr, flush=True)\n"
    "if os.environ.get('AGENT_FAIL'):\n"
    "    print('error: the agent gave up', file=sys.stderr, flush=True)\n"
    "    sys.exit(7)\n"
    "print('agent done', flush=True)\n";

/* One output stream: everything received (bounded) and the line being
 * assembled from chunks. */
typedef struct {
    const char *tag;
    char all[MAX_STREAM + 1];
    size_t all_len;
    size_t line_start;      /* offset in all of the unfinished line */
    int overflow;
} stream;

typedef struct {
    stream out, err;
    struct timespec t0;
    double first_step_s, last_step_s;   /* arrival times, -1 = not yet */
} runner;

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A complete line arrived: print it now, and note when step lines come. */
static void on_line(runner *r, stream *s, const char *line, size_t len)
{
    double t = since(&r->t0);
    printf("%6.2fs [%s] %.*s\n", t, s->tag, (int)len, line);
    fflush(stdout);
    if (s == &r->out && len > 5 && memcmp(line, "step ", 5) == 0) {
        if (r->first_step_s < 0)
            r->first_step_s = t;
        r->last_step_s = t;
    }
}

/* Appends a chunk and emits every line it completes.  Chunks may end
 * mid-line (or mid-character); lines are printed only once complete. */
static int feed(runner *r, stream *s, const char *data, size_t len)
{
    if (len > MAX_STREAM - s->all_len) {
        s->overflow = 1;
        return 1;       /* stop streaming: more than this example expects */
    }
    memcpy(s->all + s->all_len, data, len);
    s->all_len += len;
    s->all[s->all_len] = '\0';
    for (;;) {
        char *nl = memchr(s->all + s->line_start, '\n', s->all_len - s->line_start);
        if (!nl)
            return 0;
        on_line(r, s, s->all + s->line_start, (size_t)(nl - s->all) - s->line_start);
        s->line_start = (size_t)(nl - s->all) + 1;
    }
}

static int on_stdout(void *ctx, const char *data, size_t len)
{
    runner *r = ctx;
    return feed(r, &r->out, data, len);
}

static int on_stderr(void *ctx, const char *data, size_t len)
{
    runner *r = ctx;
    return feed(r, &r->err, data, len);
}

/* The last unfinished line of a stream, if any, is printed at the end. */
static void flush_stream(runner *r, stream *s)
{
    if (s->line_start < s->all_len)
        on_line(r, s, s->all + s->line_start, s->all_len - s->line_start);
    s->line_start = s->all_len;
}

static void report(const char *what, dt_code rc, const dt_error *err)
{
    fprintf(stderr, "agent_runner: FAIL: %s: %s", what, dt_strerror(rc));
    if (err && err->code == rc && err->message[0])
        fprintf(stderr, " (HTTP %ld: %s)", err->status, err->message);
    fputc('\n', stderr);
}

/* The command's exit code once the server has it.  Returns 0 and sets
 * *code, or -1. */
static int exit_code(dt_sandbox *sb, const char *cmd_id, int *code)
{
    dt_error err;
    for (int i = 0; i < 100; i++) {
        dt_command cmd;
        dt_code rc = dt_session_get_command(sb, "agent-run", cmd_id, &cmd, &err);
        if (rc != DT_OK) {
            report("get command", rc, &err);
            return -1;
        }
        int done = cmd.has_exit_code;
        *code = cmd.exit_code;
        dt_command_release(&cmd);
        if (done)
            return 0;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "agent_runner: FAIL: no exit code after the stream ended\n");
    return -1;
}

/* Checks what streamed against the agent's script and the stored log. */
static int check_output(dt_sandbox *sb, const char *cmd_id, const runner *r,
                        const char *agent_id)
{
    char want[64];
    const char *at = r->out.all;
    snprintf(want, sizeof want, "%s: starting\n", agent_id);
    if (!(at = strstr(at, want)))
        return fprintf(stderr, "agent_runner: FAIL: no \"%s\" line\n", agent_id), -1;
    for (int step = 1; step <= N_STEPS; step++) {
        snprintf(want, sizeof want, "step %d/%d: working\n", step, N_STEPS);
        if (!(at = strstr(at, want)))
            return fprintf(stderr, "agent_runner: FAIL: missing %s", want), -1;
    }
    if (!strstr(r->err.all, "warning: step 3 was slow\n") || r->out.overflow ||
        r->err.overflow)
        return fprintf(stderr, "agent_runner: FAIL: stderr lacks the warning\n"), -1;
    printf("streamed: %zu bytes stdout, %zu bytes stderr; steps arrived over "
           "%.2fs\n", r->out.all_len, r->err.all_len,
           r->last_step_s - r->first_step_s);
    if (r->last_step_s - r->first_step_s < 1.0)
        return fprintf(stderr, "agent_runner: FAIL: output did not stream\n"), -1;

    dt_logs logs;
    dt_error err;
    dt_code rc = dt_session_logs(sb, "agent-run", cmd_id, &logs, &err);
    if (rc != DT_OK) {
        report("session logs", rc, &err);
        return -1;
    }
    int same = logs.stdout_ && strcmp(logs.stdout_, r->out.all) == 0;
    dt_logs_release(&logs);
    if (!same)
        return fprintf(stderr, "agent_runner: FAIL: stored stdout differs from "
                       "the streamed one\n"), -1;
    printf("stored log matches the streamed output\n");
    return 0;
}

/* Steps 2-4 in a started sandbox.  Returns the agent's exit code (>= 0) or
 * -1 when a call or check failed. */
static int run_agent(dt_sandbox *sb, const char *agent_id, int fail, runner *r)
{
    int code = -1;
    dt_session_exec_opts o = {.run_async = 1};
    dt_session_exec_result res = {0};
    dt_error err;
    dt_code rc = dt_fs_upload(sb, "agent.py", agent_py, strlen(agent_py), &err);
    if (rc != DT_OK)
        return report("upload agent.py", rc, &err), -1;
    rc = dt_session_create(sb, "agent-run", &err);
    if (rc != DT_OK)
        return report("session create", rc, &err), -1;
    rc = dt_session_exec(sb, "agent-run",
                         fail ? "AGENT_FAIL=1 python3 -u agent.py"
                              : "python3 -u agent.py", &o, &res, &err);
    if (rc != DT_OK)
        return report("session exec", rc, &err), -1;
    printf("agent started: command %s\n", res.cmd_id);
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    rc = dt_session_logs_stream(sb, "agent-run", res.cmd_id, on_stdout, on_stderr,
                                r, &err);
    flush_stream(r, &r->out);
    flush_stream(r, &r->err);
    if (rc != DT_OK)
        report("stream logs", rc, &err);
    else if (exit_code(sb, res.cmd_id, &code) == 0) {
        printf("agent exit code: %d\n", code);
        if (check_output(sb, res.cmd_id, r, agent_id) != 0)
            code = -1;
    }
    dt_session_exec_result_release(&res);
    return code;
}

/* Creates the agent's sandbox, runs the agent, cleans up.  Returns the
 * program's exit status. */
static int agent_main(dt_client *c, int fail, runner *r)
{
    int ret = 1, code;
    char agent_id[64], name[80];
    dt_sandbox *sb = NULL;
    dt_error err;
    snprintf(agent_id, sizeof agent_id, "demo-%ld-%ld", (long)getpid(),
             (long)time(NULL));
    snprintf(name, sizeof name, "agent-%s", agent_id);
    dt_kv labels[] = {{"agent_id", agent_id}};
    dt_kv env[] = {{"AGENT_ID", agent_id}};
    dt_create_params p;
    dt_create_params_init(&p);
    p.name = name;
    p.language = "python";
    p.labels = labels;
    p.n_labels = 1;
    p.env_vars = env;
    p.n_env_vars = 1;
    p.auto_stop_interval = 15;
    p.timeout_ms = TIMEOUT_MS;

    dt_code rc = dt_create(c, &p, &sb, &err);
    if (rc != DT_OK) {
        report("create sandbox", rc, &err);
        goto cleanup;
    }
    printf("sandbox %s (%s) %s\n", dt_sandbox_name(sb), dt_sandbox_id(sb),
           dt_sandbox_state(sb));
    code = run_agent(sb, agent_id, fail, r);
    if (code == 0)
        ret = 0;
    else if (code > 0)
        ret = 3, printf("agent failed with exit code %d\n", code);
cleanup:
    if (sb) {
        dt_session_delete(sb, "agent-run", NULL);   /* may not exist */
        rc = dt_sandbox_delete(sb, TIMEOUT_MS, &err);
        if (rc != DT_OK) {
            report("delete sandbox", rc, &err);
            ret = 1;
        } else {
            printf("sandbox %s deleted\n", name);
        }
        dt_sandbox_free(sb);
    }
    return ret;
}

int main(int argc, char **argv)
{
    int fail = 0, ret = 1;
    dt_client *c = NULL;
    runner *r = NULL;
    dt_error err;

    if (argc == 2 && strcmp(argv[1], "--fail") == 0) {
        fail = 1;
    } else if (argc != 1) {
        fprintf(stderr, "usage: agent_runner [--fail]\n");
        return 2;
    }
    if (dt_global_init() != DT_OK)
        return 1;
    dt_code rc = dt_client_new(NULL, &c, &err);
    if (rc != DT_OK) {
        report("client", rc, &err);
        goto cleanup;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        goto cleanup;
    r->out.tag = "stdout";
    r->err.tag = "stderr";
    r->first_step_s = r->last_step_s = -1;
    ret = agent_main(c, fail, r);
    if (ret == 0)
        printf("agent_runner: ok\n");
cleanup:
    free(r);
    dt_client_free(c);
    dt_global_cleanup();
    return ret;
}
