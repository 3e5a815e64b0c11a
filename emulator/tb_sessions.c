/*
 * tb_sessions.c - toolbox sessions; see tb_sessions.h.
 *
 * Like Daytona's daemon (reference/toolbox.md §5.1): each session is one
 * bash fed `{ … }` blocks on its stdin.  For every command the block makes
 * FIFOs and two "labeler" loops in the sandbox that append each stdout and
 * stderr line to the command's output.log behind a 3-byte marker, sources
 * the command file in the shell itself (so cd/export/functions persist),
 * waits for the labelers, and only then writes exit_code — so an exit code
 * is never visible before all of the output is in the log.  The emulator
 * reads those files through the sandbox's confined file root.
 */
#include "tb_sessions.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"
#include "fspath.h"
#include "rnd.h"
#include "timeutil.h"
#include "utf8.h"
#include "ws.h"

#define OUT_MARK "\x01\x01\x01"
#define ERR_MARK "\x02\x02\x02"
#define MAX_LOG (128 * 1024 * 1024)   /* Daytona has no cap; bounded here */
#define SESSIONS_DIR FSP_HOME "/.daytona/sessions"

typedef struct {
    char id[UUID_STR_LEN];
    char *command;
    int async;
    int suppress_echo;
    int has_exit;
    int exit_code;
} command;

typedef struct session {
    struct session *next;
    int refs;                  /* list membership + users */
    int removed;               /* deleted (or its sandbox stopped) */
    char sandbox_id[SB_ID_LEN];
    char id[256];
    exec_proc proc;
    pthread_mutex_t mu;        /* commands[] and writes to the shell */
    command *cmds;
    int ncmds, cap;
} session;

struct emu_sessions {
    pthread_mutex_t mu;
    session *head;
};

/* ---------- registry ---------- */

emu_sessions *sessions_new(void)
{
    emu_sessions *ss = calloc(1, sizeof *ss);
    if (ss)
        pthread_mutex_init(&ss->mu, NULL);
    return ss;
}

static void session_destroy(session *s)
{
    for (int i = 0; i < s->ncmds; i++)
        free(s->cmds[i].command);
    free(s->cmds);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void session_put(emu_sessions *ss, session *s)
{
    pthread_mutex_lock(&ss->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&ss->mu);
    if (last)
        session_destroy(s);
}

static session *session_get(emu_sessions *ss, const char *sandbox_id,
                            const char *id)
{
    pthread_mutex_lock(&ss->mu);
    session *s = ss->head;
    for (; s; s = s->next)
        if (strcmp(s->sandbox_id, sandbox_id) == 0 && strcmp(s->id, id) == 0)
            break;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&ss->mu);
    return s;
}

/* Unlinks s (if still linked), stops its shell, drops the list's ref. */
static void session_remove(emu_sessions *ss, emu_executor *ex, session *s)
{
    pthread_mutex_lock(&ss->mu);
    int linked = 0;
    for (session **pp = &ss->head; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            linked = 1;
            break;
        }
    }
    pthread_mutex_unlock(&ss->mu);
    if (!linked)
        return;
    pthread_mutex_lock(&s->mu);
    s->removed = 1;
    executor_proc_stop(ex, &s->proc);
    pthread_mutex_unlock(&s->mu);
    session_put(ss, s);
}

void sessions_drop_sandbox(emu_sessions *ss, emu_executor *ex,
                           const char *sandbox_id)
{
    if (!ss)
        return;
    for (;;) {
        pthread_mutex_lock(&ss->mu);
        session *s = ss->head;
        while (s && strcmp(s->sandbox_id, sandbox_id) != 0)
            s = s->next;
        if (s)
            s->refs++;
        pthread_mutex_unlock(&ss->mu);
        if (!s)
            return;
        session_remove(ss, ex, s);
        session_put(ss, s);
    }
}

void sessions_free(emu_sessions *ss, emu_executor *ex)
{
    if (!ss)
        return;
    for (;;) {
        pthread_mutex_lock(&ss->mu);
        session *s = ss->head;
        if (s)
            s->refs++;
        pthread_mutex_unlock(&ss->mu);
        if (!s)
            break;
        session_remove(ss, ex, s);
        session_put(ss, s);
    }
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

/* ---------- helpers ---------- */

static int nf(tb_ctx *t, const char *what)
{
    char msg[128];
    snprintf(msg, sizeof msg, "not found: %s not found", what);
    return tb_error(t->r, 404, "NOT_FOUND", msg);
}

static int bad(tb_ctx *t, const char *msg)
{
    return tb_error(t->r, 400, "BAD_REQUEST", msg);
}

/* Session ids become directory names: no '/', no "." or "..". */
static int id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 200 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int open_root(tb_ctx *t)
{
    char root[PATH_MAX];
    executor_fs_root(t->r->app->executor, &t->sb, root, sizeof root);
    return fsp_root_open(root);
}

/* <sessions>/<sid>[/<cid>[/<file>]] in the sandbox's view. */
static void cmd_path(char *out, size_t n, const char *sid, const char *cid,
                     const char *file)
{
    if (!cid)
        snprintf(out, n, SESSIONS_DIR "/%s", sid);
    else if (!file)
        snprintf(out, n, SESSIONS_DIR "/%s/%s", sid, cid);
    else
        snprintf(out, n, SESSIONS_DIR "/%s/%s/%s", sid, cid, file);
}

/* Reads a (bounded) file of the sandbox; 0 or -errno. */
static int read_file(int rootfd, const char *path, buf *out)
{
    int fd = fsp_open(rootfd, path, O_RDONLY, 0, 0);
    if (fd < 0)
        return fd;
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        if (buf_add(out, chunk, (size_t)n) != BUF_OK) {
            rc = -EFBIG;
            break;
        }
    }
    close(fd);
    return rc;
}

static int write_file(int rootfd, const char *path, const char *data,
                      size_t len, int flags, long uid)
{
    int fd = fsp_open(rootfd, path, O_WRONLY | O_CREAT | flags, 0644, 1);
    if (fd < 0)
        return fd;
    int rc = 0;
    if (uid >= 0 && (flags & O_TRUNC) && fchown(fd, (uid_t)uid, (gid_t)uid) != 0)
        rc = -errno;
    while (rc == 0 && len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    close(fd);
    return rc;
}

void sessions_demux(const char *log, size_t len, buf *out, buf *err)
{
    buf *cur = NULL;
    size_t i = 0, start = 0;
    while (i + 3 <= len) {
        int o = memcmp(log + i, OUT_MARK, 3) == 0;
        int e = !o && memcmp(log + i, ERR_MARK, 3) == 0;
        if (!o && !e) {
            i++;
            continue;
        }
        if (cur)
            buf_add(cur, log + start, i - start);
        cur = o ? out : err;
        i += 3;
        start = i;
    }
    if (cur)
        buf_add(cur, log + start, len - start);
}

/* Reads the command's exit code if written (lazily, as the daemon does). */
static void refresh_exit(int rootfd, const session *s, command *c)
{
    if (c->has_exit)
        return;
    char p[PATH_MAX];
    cmd_path(p, sizeof p, s->id, c->id, "exit_code");
    buf b;
    buf_init(&b, 64);
    if (read_file(rootfd, p, &b) == 0 && b.len > 0) {
        c->exit_code = atoi(buf_str(&b));
        c->has_exit = 1;
    }
    buf_release(&b);
}

static command *find_cmd(session *s, const char *cid)
{
    for (int i = 0; i < s->ncmds; i++)
        if (strcmp(s->cmds[i].id, cid) == 0)
            return &s->cmds[i];
    return NULL;
}

static cJSON *command_json(const command *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "id", c->id) ||
        !cJSON_AddStringToObject(o, "command", c->command) ||
        (c->has_exit && !cJSON_AddNumberToObject(o, "exitCode", c->exit_code))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *session_json(int rootfd, session *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cmds = o ? cJSON_AddArrayToObject(o, "commands") : NULL;
    if (!cmds || !cJSON_AddStringToObject(o, "sessionId", s->id)) {
        cJSON_Delete(o);
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->ncmds; i++) {
        refresh_exit(rootfd, s, &s->cmds[i]);
        cJSON *c = command_json(&s->cmds[i]);
        if (c)
            cJSON_AddItemToArray(cmds, c);
    }
    pthread_mutex_unlock(&s->mu);
    return o;
}

/* ---------- create, list, get, delete ---------- */

static int create(tb_ctx *t, emu_sessions *ss)
{
    cJSON *j = t->r->body_len ? cJSON_ParseWithLength(t->r->body, t->r->body_len) : NULL;
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "sessionId");
    session *s = NULL;
    int st;
    if (!cJSON_IsString(sid) || !sid->valuestring[0]) {
        st = bad(t, "bad request: sessionId is required");
        goto cleanup;
    }
    if (strcmp(sid->valuestring, "entrypoint") == 0) {
        st = bad(t, "bad request: session ID entrypoint is reserved");
        goto cleanup;
    }
    if (!id_ok(sid->valuestring)) {
        st = bad(t, "bad request: invalid session ID");
        goto cleanup;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        st = tb_oom(t->r);
        goto cleanup;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->refs = 2;   /* the list's and this request's: a racing DELETE must not free it */
    snprintf(s->sandbox_id, sizeof s->sandbox_id, "%s", t->sb.id);
    snprintf(s->id, sizeof s->id, "%s", sid->valuestring);
    s->proc.stdin_fd = s->proc.status_fd = -1;
    /* Check and insert under the lock so two creates cannot both win. */
    pthread_mutex_lock(&ss->mu);
    session *dup = ss->head;
    while (dup && !(strcmp(dup->sandbox_id, s->sandbox_id) == 0 &&
                    strcmp(dup->id, s->id) == 0))
        dup = dup->next;
    if (!dup) {
        s->next = ss->head;
        ss->head = s;
    }
    pthread_mutex_unlock(&ss->mu);
    if (dup) {
        session_destroy(s);
        s = NULL;
        st = tb_error(t->r, 409, "CONFLICT", "conflict: session already exists");
        goto cleanup;
    }
    char dir[PATH_MAX];
    cmd_path(dir, sizeof dir, s->id, NULL, NULL);
    int rootfd = open_root(t);
    long uid = -1;
    executor_owner(t->r->app->executor, &t->sb, &uid);
    int rc = rootfd < 0 ? rootfd : fsp_mkdir_p(rootfd, dir, 0755, uid);
    if (rootfd >= 0)
        close(rootfd);
    /* Started under s->mu: a DELETE that raced in either already marked
     * the session removed (no shell is started) or waits and stops it. */
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        rc = s->removed ? -1
           : executor_start_shell(t->r->app->executor, &t->sb, NULL, &s->proc, NULL);
        pthread_mutex_unlock(&s->mu);
    }
    if (rc != 0) {
        session_remove(ss, t->r->app->executor, s);
        st = tb_error(t->r, 500, "INTERNAL_SERVER_ERROR",
                      "failed to start the session shell");
        goto cleanup;
    }
    st = emu_reply_empty(t->r, 201);
cleanup:
    if (s)
        session_put(ss, s);
    cJSON_Delete(j);
    return st;
}

static int list(tb_ctx *t, emu_sessions *ss)
{
    int rootfd = open_root(t);
    cJSON *a = cJSON_CreateArray();
    session *found[1024];
    int n = 0;
    pthread_mutex_lock(&ss->mu);
    for (session *s = ss->head; s && n < 1024; s = s->next) {
        if (strcmp(s->sandbox_id, t->sb.id) == 0) {
            s->refs++;
            found[n++] = s;
        }
    }
    pthread_mutex_unlock(&ss->mu);
    for (int i = 0; i < n; i++) {
        cJSON *o = a ? session_json(rootfd, found[i]) : NULL;
        if (o)
            cJSON_AddItemToArray(a, o);
        session_put(ss, found[i]);
    }
    if (rootfd >= 0)
        close(rootfd);
    return a ? emu_reply_json(t->r, 200, a) : tb_oom(t->r);
}

static int get(tb_ctx *t, session *s)
{
    int rootfd = open_root(t);
    cJSON *o = session_json(rootfd, s);
    if (rootfd >= 0)
        close(rootfd);
    return o ? emu_reply_json(t->r, 200, o) : tb_oom(t->r);
}

static int delete_session(tb_ctx *t, emu_sessions *ss, session *s)
{
    session_remove(ss, t->r->app->executor, s);
    int rootfd = open_root(t);
    if (rootfd >= 0) {
        char dir[PATH_MAX];
        cmd_path(dir, sizeof dir, s->id, NULL, NULL);
        fsp_remove(rootfd, dir, 1);
        close(rootfd);
    }
    return emu_reply_empty(t->r, 204);
}

/* ---------- exec ---------- */

/* The block the session shell runs for one command (see the file comment).
 * The directory is an absolute path in the sandbox's view, quoted. */
static void build_block(buf *b, const char *dir, int async)
{
    buf_adds(b, "{ __dt_d=");
    tb_shell_quote(b, dir);
    buf_adds(b, "\n"
        "mkfifo \"$__dt_d/stdout.pipe\" \"$__dt_d/stderr.pipe\"\n"
        "(while IFS= read -r __dt_l || [ -n \"$__dt_l\" ]; do printf '\\001\\001\\001%s\\n' "
        "\"$__dt_l\"; done < \"$__dt_d/stdout.pipe\" >> \"$__dt_d/output.log\") &\n"
        "__dt_p1=$!\n"
        "(while IFS= read -r __dt_l || [ -n \"$__dt_l\" ]; do printf '\\002\\002\\002%s\\n' "
        "\"$__dt_l\"; done < \"$__dt_d/stderr.pipe\" >> \"$__dt_d/output.log\") &\n"
        "__dt_p2=$!\n");
    if (async)
        /* Held open read-write by the shell: the command waits for input
         * that POST …/input writes, and never sees EOF while it runs. */
        buf_adds(b, "mkfifo \"$__dt_d/input.pipe\"; exec 9<>\"$__dt_d/input.pipe\"\n"
                    "{ . \"$__dt_d/cmd.sh\"; } < \"$__dt_d/input.pipe\" "
                    "> \"$__dt_d/stdout.pipe\" 2> \"$__dt_d/stderr.pipe\"\n"
                    "__dt_rc=$?; exec 9>&-\n");
    else
        buf_adds(b, "{ . \"$__dt_d/cmd.sh\"; } < /dev/null "
                    "> \"$__dt_d/stdout.pipe\" 2> \"$__dt_d/stderr.pipe\"\n"
                    "__dt_rc=$?\n");
    buf_adds(b, "wait $__dt_p1 $__dt_p2\n"
                "echo $__dt_rc >> \"$__dt_d/exit_code\"\n"
                "rm -f \"$__dt_d/stdout.pipe\" \"$__dt_d/stderr.pipe\" \"$__dt_d/input.pipe\"\n"
                "}\n");
}

static int write_all_fd(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int reply_log(tb_ctx *t, int rootfd, const session *s, const char *cid,
                     int with_cmd, int exit_code)
{
    char p[PATH_MAX];
    cmd_path(p, sizeof p, s->id, cid, "output.log");
    buf log, out, err, so, se, lo;
    buf_init(&log, MAX_LOG);
    buf_init(&out, MAX_LOG);
    buf_init(&err, MAX_LOG);
    buf_init(&lo, (size_t)MAX_LOG * 3);
    buf_init(&so, (size_t)MAX_LOG * 3);
    buf_init(&se, (size_t)MAX_LOG * 3);
    int rc = read_file(rootfd, p, &log), st;
    if (rc == -EFBIG) {
        st = tb_error(t->r, 500, NULL, "log file too large (over 128 MiB)");
        goto cleanup;
    }
    if (rc != 0) {
        st = nf(t, "log file");
        goto cleanup;
    }
    sessions_demux(buf_str(&log), log.len, &out, &err);
    utf8_sanitize(buf_str(&log), log.len, &lo);
    utf8_sanitize(buf_str(&out), out.len, &so);
    utf8_sanitize(buf_str(&err), err.len, &se);
    cJSON *o = cJSON_CreateObject();
    if (!o || (with_cmd && !cJSON_AddStringToObject(o, "cmdId", cid)) ||
        !cJSON_AddStringToObject(o, "output", buf_str(&lo)) ||
        !cJSON_AddStringToObject(o, "stdout", buf_str(&so)) ||
        !cJSON_AddStringToObject(o, "stderr", buf_str(&se)) ||
        (with_cmd && !cJSON_AddNumberToObject(o, "exitCode", exit_code))) {
        cJSON_Delete(o);
        st = tb_oom(t->r);
        goto cleanup;
    }
    st = emu_reply_json(t->r, 200, o);
cleanup:
    buf_release(&log);
    buf_release(&out);
    buf_release(&err);
    buf_release(&lo);
    buf_release(&so);
    buf_release(&se);
    return st;
}

static int exec_cmd(tb_ctx *t, session *s)
{
    cJSON *j = t->r->body_len ? cJSON_ParseWithLength(t->r->body, t->r->body_len) : NULL;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(j, "runAsync");
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "async");
    const cJSON *sup = cJSON_GetObjectItemCaseSensitive(j, "suppressInputEcho");
    int st, rootfd = -1;
    buf block;
    buf_init(&block, 64 * 1024);
    if (!cJSON_IsString(cmd) || !cmd->valuestring[0]) {
        st = bad(t, "bad request: command is required");
        goto cleanup;
    }
    int async = cJSON_IsTrue(ra) || cJSON_IsTrue(as);
    command c;
    memset(&c, 0, sizeof c);
    if (rnd_uuid(c.id) != 0 || !(c.command = strdup(cmd->valuestring))) {
        st = tb_oom(t->r);
        goto cleanup;
    }
    c.async = async;
    c.suppress_echo = cJSON_IsTrue(sup);
    rootfd = open_root(t);
    long uid = -1;
    executor_owner(t->r->app->executor, &t->sb, &uid);
    char dir[PATH_MAX], p[PATH_MAX], view[PATH_MAX];
    cmd_path(dir, sizeof dir, s->id, c.id, NULL);
    int rc = rootfd < 0 ? rootfd : fsp_mkdir_p(rootfd, dir, 0755, uid);
    cmd_path(p, sizeof p, s->id, c.id, "cmd.sh");
    if (!rc)
        rc = write_file(rootfd, p, c.command, strlen(c.command), O_TRUNC, uid);
    cmd_path(p, sizeof p, s->id, c.id, "output.log");
    if (!rc)
        rc = write_file(rootfd, p, "", 0, O_TRUNC, uid);
    if (rc) {
        free(c.command);
        st = tb_error(t->r, 500, "INTERNAL_SERVER_ERROR", "failed to prepare the command");
        goto cleanup;
    }
    /* The shell sees its own view of the sandbox: at the process level
     * the directory is the host path of the sandbox's home. */
    char home[PATH_MAX];
    executor_home_dir(t->r->app->executor, &t->sb, home, sizeof home);
    snprintf(view, sizeof view, "%s%s", home, dir + strlen(FSP_HOME));
    build_block(&block, view, async);
    pthread_mutex_lock(&s->mu);
    int ok = !s->removed && executor_proc_alive(&s->proc);
    if (ok && s->ncmds == s->cap) {
        int nc = s->cap ? s->cap * 2 : 8;
        command *n = realloc(s->cmds, (size_t)nc * sizeof *n);
        if (n) {
            s->cmds = n;
            s->cap = nc;
        } else {
            ok = 0;
        }
    }
    if (ok)
        ok = write_all_fd(s->proc.stdin_fd, buf_str(&block), block.len) == 0;
    if (ok)
        s->cmds[s->ncmds++] = c;
    else
        free(c.command);
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        st = tb_error(t->r, 410, "SESSION_ENDED", "gone: session process has exited");
        goto cleanup;
    }
    if (async) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "cmdId", c.id) ||
            !cJSON_AddNullToObject(o, "output") || !cJSON_AddNullToObject(o, "stdout") ||
            !cJSON_AddNullToObject(o, "stderr") || !cJSON_AddNullToObject(o, "exitCode")) {
            cJSON_Delete(o);
            st = tb_oom(t->r);
            goto cleanup;
        }
        st = emu_reply_json(t->r, 202, o);
        goto cleanup;
    }
    /* Sync: wait for the exit code (no server-side timeout, as Daytona). */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        command *cc = find_cmd(s, c.id);
        if (cc)
            refresh_exit(rootfd, s, cc);
        int done = cc && cc->has_exit, code = cc ? cc->exit_code : 0;
        int removed = s->removed, alive = executor_proc_alive(&s->proc);
        pthread_mutex_unlock(&s->mu);
        if (done) {
            st = reply_log(t, rootfd, s, c.id, 1, code);
            break;
        }
        if (removed) {
            st = tb_error(t->r, 500, NULL, "failed to execute command: bad request: "
                                           "session cancelled");
            break;
        }
        if (!alive) {
            st = tb_error(t->r, 410, "SESSION_ENDED", "gone: session process has exited");
            break;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
cleanup:
    if (rootfd >= 0)
        close(rootfd);
    buf_release(&block);
    cJSON_Delete(j);
    return st;
}

static int get_command(tb_ctx *t, session *s, const char *cid)
{
    int rootfd = open_root(t);
    pthread_mutex_lock(&s->mu);
    command *c = find_cmd(s, cid);
    cJSON *o = NULL;
    if (c) {
        refresh_exit(rootfd, s, c);
        o = command_json(c);
    }
    pthread_mutex_unlock(&s->mu);
    if (rootfd >= 0)
        close(rootfd);
    if (!c)
        return nf(t, "command");
    return o ? emu_reply_json(t->r, 200, o) : tb_oom(t->r);
}

static int input(tb_ctx *t, session *s, const char *cid)
{
    cJSON *j = t->r->body_len ? cJSON_ParseWithLength(t->r->body, t->r->body_len) : NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    int st, rootfd = open_root(t);
    buf in;
    buf_init(&in, 1024 * 1024 + 2);
    if (!cJSON_IsString(data)) {
        st = bad(t, "bad request: data is required");
        goto cleanup;
    }
    pthread_mutex_lock(&s->mu);
    command *c = find_cmd(s, cid);
    if (c)
        refresh_exit(rootfd, s, c);
    int exists = c != NULL, done = c && c->has_exit, code = c ? c->exit_code : 0;
    int echo = c && !c->suppress_echo, alive = executor_proc_alive(&s->proc);
    pthread_mutex_unlock(&s->mu);
    if (!exists) {
        st = nf(t, "command");
        goto cleanup;
    }
    if (!alive) {
        st = tb_error(t->r, 410, "SESSION_ENDED", "gone: session process has exited");
        goto cleanup;
    }
    if (done) {
        char msg[128];
        snprintf(msg, sizeof msg, "gone: command has already completed with exit code %d", code);
        st = tb_error(t->r, 410, "COMMAND_ALREADY_COMPLETED", msg);
        goto cleanup;
    }
    if (buf_adds(&in, data->valuestring) != BUF_OK ||
        ((in.len == 0 || in.data[in.len - 1] != '\n') && buf_adds(&in, "\n") != BUF_OK)) {
        st = bad(t, "bad request: input data larger than 1 MiB");
        goto cleanup;
    }
    char p[PATH_MAX];
    cmd_path(p, sizeof p, s->id, cid, "input.pipe");
    /* The shell makes the FIFO (and opens its reading end) a moment after
     * an async exec was acknowledged; input sent right away waits for it. */
    int fd = -ENOENT;
    for (int tries = 0; tries < 100; tries++) {
        fd = fsp_open(rootfd, p, O_WRONLY | O_NONBLOCK, 0, 1);
        if (fd >= 0 || (fd != -ENOENT && fd != -ENXIO))
            break;
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    if (fd < 0) {
        st = tb_error(t->r, 500, NULL, "failed to open input pipe");
        goto cleanup;
    }
    if (echo) {
        /* Echoed into stdout, as the daemon does unless suppressed.  The
         * echo goes into the log before the input reaches the command: the
         * daemon writes it just after, and a command that answers at once
         * (read; echo) could otherwise log its answer before the echo. */
        buf e;
        char lp[PATH_MAX];
        buf_init(&e, in.len + 4);
        buf_adds(&e, OUT_MARK);
        buf_add(&e, in.data, in.len);
        cmd_path(lp, sizeof lp, s->id, cid, "output.log");
        write_file(rootfd, lp, buf_str(&e), e.len, O_APPEND, -1);
        buf_release(&e);
    }
    if (write_all_fd(fd, buf_str(&in), in.len) != 0) {
        close(fd);
        st = tb_error(t->r, 500, NULL, "failed to open input pipe");
        goto cleanup;
    }
    close(fd);
    st = emu_reply_empty(t->r, 204);
cleanup:
    if (rootfd >= 0)
        close(rootfd);
    buf_release(&in);
    cJSON_Delete(j);
    return st;
}

/* ---------- logs, plain and followed ---------- */

typedef struct {
    emu_sessions *ss;
    session *s;              /* referenced */
    int logfd;
    int rootfd;
    char cid[UUID_STR_LEN];
} follow;

static void follow_free(void *p)
{
    follow *f = p;
    if (f->logfd >= 0)
        close(f->logfd);
    if (f->rootfd >= 0)
        close(f->rootfd);
    session_put(f->ss, f->s);
    free(f);
}

/* Streams output.log's raw bytes (markers included) as binary frames until
 * the command has an exit code and the log is drained, then close 1000.
 * A deleted session also ends it with 1000. */
static void follow_serve(void *cls, int fd, const char *extra, size_t extra_len)
{
    follow *f = cls;
    ws_conn *ws = ws_conn_new(fd, 0, extra, extra_len, 64 * 1024);
    buf msg;
    buf_init(&msg, 64 * 1024);
    char chunk[1024];
    int finished = 0;
    while (ws) {
        ssize_t n = read(f->logfd, chunk, sizeof chunk);
        if (n > 0) {
            if (ws_send(ws, WS_OP_BINARY, chunk, (size_t)n) != WS_OK)
                break;
            continue;
        }
        if (finished) {
            ws_send_close(ws, WS_CLOSE_NORMAL, "");
            break;
        }
        pthread_mutex_lock(&f->s->mu);
        command *c = find_cmd(f->s, f->cid);
        if (c)
            refresh_exit(f->rootfd, f->s, c);
        /* The exit code is written after the labelers flushed: one more
         * read drains everything before the close. */
        finished = !c || c->has_exit || f->s->removed ||
                   !executor_proc_alive(&f->s->proc);
        pthread_mutex_unlock(&f->s->mu);
        if (finished)
            continue;
        int op = 0, code = 0;
        ws_code rc = ws_recv(ws, &msg, &op, &code, 20);   /* pings, close */
        if (rc != WS_OK && rc != WS_NEED_MORE)
            break;
    }
    buf_release(&msg);
    ws_conn_free(ws, 0);
    follow_free(f);
}

static int logs(tb_ctx *t, emu_sessions *ss, session *s, const char *cid)
{
    pthread_mutex_lock(&s->mu);
    int exists = find_cmd(s, cid) != NULL;
    pthread_mutex_unlock(&s->mu);
    if (!exists)
        return nf(t, "command");
    int rootfd = open_root(t);
    const char *follow_q = emu_query(t->r, "follow");
    if (!follow_q || strcmp(follow_q, "true") != 0) {
        int st = reply_log(t, rootfd, s, cid, 0, 0);
        if (rootfd >= 0)
            close(rootfd);
        return st;
    }
    char p[PATH_MAX];
    cmd_path(p, sizeof p, s->id, cid, "output.log");
    int logfd = rootfd < 0 ? -1 : fsp_open(rootfd, p, O_RDONLY, 0, 1);
    if (logfd < 0) {
        if (rootfd >= 0)
            close(rootfd);
        return nf(t, "log file");
    }
    follow *f = calloc(1, sizeof *f);
    if (!f) {
        close(logfd);
        close(rootfd);
        return tb_oom(t->r);
    }
    pthread_mutex_lock(&ss->mu);
    s->refs++;                 /* the follower's own reference */
    pthread_mutex_unlock(&ss->mu);
    f->ss = ss;
    f->s = s;
    f->logfd = logfd;
    f->rootfd = rootfd;
    snprintf(f->cid, sizeof f->cid, "%s", cid);
    return emu_reply_websocket(t->r, NULL, follow_serve, f, follow_free);
}

/* ---------- dispatch ---------- */

int tb_sessions(tb_ctx *t)
{
    emu_sessions *ss = t->r->app->sessions;
    const char *m = t->r->method;
    const char *rest = t->sub + strlen("/process/session");
    if (!ss || !t->r->app->executor)
        return tb_oom(t->r);
    if (*rest == '\0')
        return strcmp(m, "POST") == 0 ? create(t, ss)
             : strcmp(m, "GET") == 0 ? list(t, ss) : -1;
    if (*rest != '/')
        return -1;
    rest++;
    /* <sid>[/exec | /command/<cid>[/logs | /input]] */
    char sid[256], cid[UUID_STR_LEN + 8] = "", tail[32] = "";
    const char *slash = strchr(rest, '/');
    size_t sl = slash ? (size_t)(slash - rest) : strlen(rest);
    if (sl == 0 || sl >= sizeof sid)
        return -1;
    /* The SDK encodes path parameters (encodeURIComponent). */
    emu_pct_decode(rest, sl, sid);
    const char *after = slash ? slash + 1 : "";
    if (strncmp(after, "command/", 8) == 0) {
        const char *cs = after + 8, *ce = strchr(cs, '/');
        size_t cl = ce ? (size_t)(ce - cs) : strlen(cs);
        if (cl == 0 || cl >= sizeof cid)
            return -1;
        memcpy(cid, cs, cl);
        cid[cl] = '\0';
        snprintf(tail, sizeof tail, "%s", ce ? ce + 1 : "");
    } else if (*after) {
        snprintf(tail, sizeof tail, "%.31s", after);
    }
    if (strcmp(sid, "entrypoint") == 0) {
        /* Sandboxes here have no entrypoint command. */
        if (strcmp(m, "GET") == 0 && (!*tail || strcmp(tail, "logs") == 0) && !cid[0])
            return nf(t, "entrypoint session");
        return bad(t, "bad request: session ID entrypoint is reserved");
    }
    session *s = session_get(ss, t->sb.id, sid);
    int st = -1;
    if (!s) {
        /* Exec on a missing session is a 500 on Daytona (trap 11). */
        if (strcmp(m, "POST") == 0 && strcmp(after, "exec") == 0)
            return tb_error(t->r, 500, NULL, "failed to execute command: not "
                                             "found: session not found");
        return nf(t, "session");
    }
    if (!cid[0] && !*after)
        st = strcmp(m, "GET") == 0 ? get(t, s)
           : strcmp(m, "DELETE") == 0 ? delete_session(t, ss, s) : -1;
    else if (!cid[0] && strcmp(after, "exec") == 0 && strcmp(m, "POST") == 0)
        st = exec_cmd(t, s);
    else if (cid[0] && !*tail && strcmp(m, "GET") == 0)
        st = get_command(t, s, cid);
    else if (cid[0] && strcmp(tail, "logs") == 0 && strcmp(m, "GET") == 0)
        st = logs(t, ss, s, cid);
    else if (cid[0] && strcmp(tail, "input") == 0 && strcmp(m, "POST") == 0)
        st = input(t, s, cid);
    session_put(ss, s);
    return st;
}
