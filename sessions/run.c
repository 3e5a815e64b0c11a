/*
 * run.c - running code in a user's session: the seed's restore path (get
 * the sandbox, start it if it was stopped or archived, wait until started)
 * then either one code-run (sess_run) or a toolbox session whose output is
 * followed live (sess_run_stream).
 *
 * A sandbox that no longer exists closes the session (reason "sandbox
 * gone") and the caller gets the seed's own words, "Could not restore
 * sandbox session. Please refresh.", so an app can show them as they are.
 * Other failures (Daytona unreachable, a start that failed) leave the
 * session alone: the sandbox may well be fine on the next try.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "codec.h"
#include "manager.h"
#include "rnd.h"
#include "timeutil.h"

#define POLL_MS 100
/* A command line holding the code as base64; the cap keeps a runaway
 * input from becoming a runaway request. */
#define MAX_COMMAND (16u * 1024 * 1024)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------- restore ---------- */

/* Closes s (if it is still the user's active session) and fails with the
 * seed's message.  The close is best effort: the answer is the same. */
static sess_code gone(sess_manager *m, const sess_session *s,
                      const dt_error *de, sess_error *err)
{
    sess__store_close(m->store, s->user_id, s->id, SESS_REASON_SANDBOX_GONE,
                      time_now_ms(), NULL, NULL);
    sess__fail(err, SESS_EGONE, "%s", SESS_MSG_RESTORE_FAILED);
    if (err && de)
        err->dt = *de;
    return SESS_EGONE;
}

/* Our own dt_error, for conditions we detect rather than Daytona. */
static dt_code set_dt(dt_error *de, dt_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static dt_code set_dt(dt_error *de, dt_code code, const char *fmt, ...)
{
    va_list ap;
    de->code = code;
    de->status = 0;
    va_start(ap, fmt);
    vsnprintf(de->message, sizeof de->message, fmt, ap);
    va_end(ap);
    return code;
}

static int state_is(const char *state, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(state, *set) == 0)
            return 1;
    return 0;
}

/* Brings sb to `started`, whatever it was: waits out transitions that end
 * in started, lets a stop or archive in flight finish first (Daytona
 * refuses a start meanwhile), and starts a stopped, archived or errored
 * one.  DT_ENOTFOUND when the sandbox turns out to be gone. */
static dt_code ensure_started(sess_manager *m, dt_sandbox *sb, dt_error *de)
{
    static const char *const coming_up[] = {
        "starting", "restoring", "creating", "pending_build",
        "building_snapshot", "pulling_snapshot", "resizing", NULL};
    static const char *const going_down[] = {"stopping", "archiving", NULL};
    long limit = m->sandbox_timeout_ms > 0 ? m->sandbox_timeout_ms : 60000;
    int64_t deadline = time_mono_ms() + limit;
    for (;;) {
        const char *st = dt_sandbox_state(sb);
        if (strcmp(st, "started") == 0)
            return DT_OK;
        if (sess__state_gone(st))
            return set_dt(de, DT_ENOTFOUND, "sandbox is %s", st);
        if (state_is(st, coming_up))
            return dt_sandbox_wait_started(sb, m->sandbox_timeout_ms, de);
        if (!state_is(st, going_down))
            return dt_sandbox_start(sb, m->sandbox_timeout_ms, de);
        if (time_mono_ms() > deadline)
            return set_dt(de, DT_ETIMEOUT, "sandbox still %s after %ld ms",
                          st, limit);
        sleep_ms(POLL_MS);
        dt_code d = dt_sandbox_refresh(sb, de);
        if (d != DT_OK)
            return d;
    }
}

/* The user's active session (*s) and its sandbox, started (*out). */
static sess_code restore(sess_manager *m, const char *user_id, sess_session *s,
                         dt_sandbox **out, sess_error *err)
{
    dt_sandbox *sb = NULL;
    dt_error de;
    sess_code c = sess__store_active(m->store, user_id, s, err);
    if (c != SESS_OK)
        return c;
    dt_code d = dt_get(m->client, s->sandbox_id, &sb, &de);
    if (d == DT_OK)
        d = ensure_started(m, sb, &de);
    if (d == DT_OK) {
        *out = sb;
        return SESS_OK;
    }
    dt_sandbox_free(sb);
    c = d == DT_ENOTFOUND ? gone(m, s, &de, err)
                          : sess__dt_fail(err, SESS_EDAYTONA, &de,
                                          "restoring the sandbox");
    sess_session_release(s);
    return c;
}

/* A failure of a call into the restored sandbox: gone if Daytona no longer
 * knows it (deleted between the restore and the call), else plain. */
static sess_code call_failed(sess_manager *m, const sess_session *s,
                             dt_code d, const dt_error *de, sess_error *err,
                             const char *what)
{
    if (d == DT_ENOTFOUND)
        return gone(m, s, de, err);
    if (d == DT_ECANCELED)
        return sess__fail(err, SESS_ECANCELED, "the run was stopped");
    return sess__dt_fail(err, SESS_EDAYTONA, de, what);
}

static sess_code canceled(sess_error *err)
{
    return sess__fail(err, SESS_ECANCELED, "the run was canceled");
}

static sess_code check_run_args(sess_manager *m, const char *user_id,
                                const char *code, int timeout_s,
                                sess_error *err)
{
    if (!m || !code)
        return sess__fail(err, SESS_EINVAL, "a manager and code are required");
    if (timeout_s < 0)
        return sess__fail(err, SESS_EINVAL, "timeout must be >= 0");
    return sess__check_user(user_id, err);
}

/* Fills *out; takes ownership of output. */
static sess_code finish_run(sess_manager *m, const sess_session *s,
                            int exit_code, char *output, size_t len,
                            sess_run_result *out, sess_error *err)
{
    /* The code has run: a failure to record the time must not lose its
     * output, so the bookkeeping error is dropped (last_run_at is
     * informational). */
    sess__store_touch_run(m->store, s->user_id, s->id, time_now_ms(), NULL);
    char *sid = strdup(s->id);
    if (!sid) {
        free(output);
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    }
    out->session_id = sid;
    out->exit_code = exit_code;
    out->output = output;
    out->output_len = len;
    return SESS_OK;
}

sess_code sess_run(sess_manager *m, const char *user_id, const char *code,
                   int timeout_s, sess_run_result *out, sess_error *err)
{
    sess_session s = {0};
    dt_sandbox *sb = NULL;
    dt_exec_result r = {0};
    dt_exec_opts o = {0};
    dt_error de;
    sess_code c = check_run_args(m, user_id, code, timeout_s, err);
    if (c == SESS_OK && !out)
        c = sess__fail(err, SESS_EINVAL, "no result");
    if (c == SESS_OK)
        c = restore(m, user_id, &s, &sb, err);
    if (c != SESS_OK)
        return c;
    o.timeout_s = timeout_s;
    dt_code d = dt_code_run(sb, code, &o, &r, &de);
    if (d != DT_OK) {
        c = call_failed(m, &s, d, &de, err, "running the code");
        goto cleanup;
    }
    c = finish_run(m, &s, r.exit_code, r.result, r.result_len, out, err);
    r.result = NULL;   /* now out's (or freed) */
cleanup:
    dt_exec_result_release(&r);
    dt_sandbox_free(sb);
    sess_session_release(&s);
    return c;
}

/* ---------- streaming ---------- */

typedef struct {
    sess_output_cb cb;
    void *ctx;
    sess_cancel *cancel;    /* may be NULL */
} bridge;

/* A fired token also stops the run at its next output: no need to wait
 * for the delete to end the stream. */
static int on_stdout(void *ctx, const char *data, size_t len)
{
    bridge *b = ctx;
    return sess_cancel_fired(b->cancel) || b->cb(b->ctx, SESS_STDOUT, data, len);
}

static int on_stderr(void *ctx, const char *data, size_t len)
{
    bridge *b = ctx;
    return sess_cancel_fired(b->cancel) || b->cb(b->ctx, SESS_STDERR, data, len);
}

/* The ts-node to run when none is configured: the sandbox's own on its
 * PATH (daytona-emu puts its TypeScript runtime there, and its sandboxes
 * have no network for npx to download one), else npx's (Daytona's images
 * provide ts-node through npx).  It leaves the command in "$@". */
#define TS_RUNNER_AUTO \
    "if r=$(command -v ts-node); then set -- \"$r\"; else set -- npx ts-node; fi && "

/* The shell command that runs code in `language`.  The code travels as
 * base64 inside single quotes, so no character of it is ever interpreted
 * by the shell; the subshell keeps `exit` and variables away from the
 * toolbox session's own shell.  timeout(1) bounds the program. */
static sess_code stream_command(sess_manager *m, const char *language,
                                const char *code, int timeout_s, buf *cmd,
                                sess_error *err)
{
    char tmo[48] = "";
    size_t len = strlen(code);
    char *b64 = malloc(BASE64_ENCODED_SIZE(len));
    if (!b64)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    base64_encode(code, len, b64);
    if (timeout_s > 0)
        snprintf(tmo, sizeof tmo, "timeout -k 5 %d ", timeout_s);
    int ts = strcmp(language, "typescript") == 0;
    int bad = buf_adds(cmd, ts ? "(d=$(mktemp -d) && printf '%s' '"
                               : "(printf '%s' '") ||
              buf_adds(cmd, b64) || buf_adds(cmd, "' | base64 -d");
    if (ts)
        bad = bad || buf_adds(cmd, " > \"$d/code.ts\" && ") ||
              buf_adds(cmd, m->ts_runner ? "" : TS_RUNNER_AUTO) ||
              buf_adds(cmd, "npm_config_loglevel=error ") ||
              buf_adds(cmd, tmo) ||
              buf_adds(cmd, m->ts_runner ? m->ts_runner : "\"$@\"") ||
              buf_adds(cmd, " -T --ignore-diagnostics 5107 -O "
                            "'{\"module\":\"CommonJS\"}' \"$d/code.ts\"; "
                            "c=$?; rm -rf \"$d\"; exit $c)");
    else
        bad = bad || buf_adds(cmd, " | ") || buf_adds(cmd, tmo) ||
              buf_adds(cmd, strcmp(language, "python") == 0
                                ? "python3 -u -)" : "node -)");
    free(b64);
    return bad ? sess__fail(err, SESS_EINVAL, "code too large to stream") : SESS_OK;
}

/* The exit code of a command whose logs have ended: the toolbox records it
 * as the process is reaped, which may trail the end of its output. */
static dt_code wait_exit(sess_manager *m, dt_sandbox *sb, const char *sid,
                         const char *cmd_id, int *exit_code, dt_error *de)
{
    long limit = m->sandbox_timeout_ms > 0 ? m->sandbox_timeout_ms : 60000;
    int64_t deadline = time_mono_ms() + limit;
    for (;;) {
        dt_command cmd = {0};
        dt_code d = dt_session_get_command(sb, sid, cmd_id, &cmd, de);
        int done = d == DT_OK && cmd.has_exit_code;
        if (done)
            *exit_code = cmd.exit_code;
        dt_command_release(&cmd);
        if (d != DT_OK || done)
            return d;
        if (time_mono_ms() > deadline)
            return set_dt(de, DT_ETIMEOUT, "no exit code after %ld ms", limit);
        sleep_ms(POLL_MS);
    }
}

/* In toolbox session sid (already created): starts the command, follows
 * its output, and collects the exit code.  A fired token deletes the
 * session under our feet: then any step may fail (or the stream end early)
 * and the caller reports the cancel instead. */
static dt_code exec_follow(sess_manager *m, dt_sandbox *sb, const char *sid,
                           const char *command, bridge *br, int *exit_code,
                           dt_error *de)
{
    dt_session_exec_opts o = {0};
    dt_session_exec_result r = {0};
    o.run_async = 1;
    if (sess_cancel_fired(br->cancel))
        return set_dt(de, DT_ECANCELED, "canceled");
    dt_code d = dt_session_exec(sb, sid, command, &o, &r, de);
    if (d == DT_OK)
        d = dt_session_logs_stream(sb, sid, r.cmd_id, on_stdout, on_stderr,
                                   br, de);
    if (d == DT_OK)
        d = wait_exit(m, sb, sid, r.cmd_id, exit_code, de);
    dt_session_exec_result_release(&r);
    return d;
}

/* Runs the streamed program in its own toolbox session, deleted afterwards
 * (also when the callback stops the run: deleting the session is what ends
 * the program). */
static sess_code stream_in(sess_manager *m, dt_sandbox *sb,
                           const sess_session *s, const char *code,
                           int timeout_s, bridge *br, int *exit_code,
                           sess_error *err)
{
    char uuid[UUID_STR_LEN], sid[64];
    buf cmd;
    dt_error de;
    buf_init(&cmd, MAX_COMMAND);
    sess_code c = stream_command(m, s->language, code, timeout_s, &cmd, err);
    if (c != SESS_OK)
        goto cleanup;
    if (rnd_uuid(uuid) != 0) {
        c = sess__fail(err, SESS_ESYSTEM, "no random bytes for an id");
        goto cleanup;
    }
    snprintf(sid, sizeof sid, "sess-run-%s", uuid);
    dt_code d = dt_session_create(sb, sid, &de);
    if (d == DT_OK) {
        int armed = br->cancel ? sess__cancel_arm(br->cancel, m->client,
                                                  dt_sandbox_id(sb), sid) : 0;
        if (armed == 0)
            d = exec_follow(m, sb, sid, buf_str(&cmd), br, exit_code, &de);
        else
            d = set_dt(&de, armed == -1 ? DT_ECANCELED : DT_ENOMEM, "%s",
                       armed == -1 ? "canceled" : "out of memory");
        /* A run that got its exit code stands even if the token fired
         * meanwhile; anything else after a fire is the cancel's doing. */
        if (br->cancel && sess__cancel_disarm(br->cancel) && d != DT_OK)
            d = DT_ECANCELED;
        dt_session_delete(sb, sid, NULL);
    }
    if (d == DT_ECANCELED && sess_cancel_fired(br->cancel))
        c = canceled(err);
    else if (d != DT_OK)
        c = call_failed(m, s, d, &de, err, "streaming the run");
cleanup:
    buf_release(&cmd);
    return c;
}

sess_code sess_run_stream(sess_manager *m, const char *user_id,
                          const char *code, int timeout_s, sess_output_cb cb,
                          void *ctx, sess_run_result *out, sess_error *err)
{
    sess_stream_opts o = {timeout_s, NULL};
    return sess_run_stream_opts(m, user_id, code, &o, cb, ctx, out, err);
}

sess_code sess_run_stream_opts(sess_manager *m, const char *user_id,
                               const char *code, const sess_stream_opts *opts,
                               sess_output_cb cb, void *ctx,
                               sess_run_result *out, sess_error *err)
{
    static const sess_stream_opts defaults = {0, NULL};
    sess_session s = {0};
    dt_sandbox *sb = NULL;
    if (!opts)
        opts = &defaults;
    bridge br = {cb, ctx, opts->cancel};
    int exit_code = -1;
    sess_code c = check_run_args(m, user_id, code, opts->timeout_s, err);
    if (c == SESS_OK && (!cb || !out))
        c = sess__fail(err, SESS_EINVAL, "a callback and a result are required");
    if (c == SESS_OK && sess_cancel_fired(br.cancel))
        c = canceled(err);
    if (c == SESS_OK)
        c = restore(m, user_id, &s, &sb, err);
    if (c != SESS_OK)
        return c;
    /* Restoring may have taken a sandbox start: look again. */
    if (sess_cancel_fired(br.cancel))
        c = canceled(err);
    else
        c = stream_in(m, sb, &s, code, opts->timeout_s, &br, &exit_code, err);
    if (c == SESS_OK)
        c = finish_run(m, &s, exit_code, NULL, 0, out, err);
    dt_sandbox_free(sb);
    sess_session_release(&s);
    return c;
}

void sess_run_result_release(sess_run_result *r)
{
    if (!r)
        return;
    free(r->session_id);
    free(r->output);
    memset(r, 0, sizeof *r);
}
