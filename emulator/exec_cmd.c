/*
 * exec_cmd.c - `daytona-emu exec [EMU FLAGS] -- CMD [ARGS]`.
 *
 * Starts a throwaway emulator (this same binary, as a child server on a
 * free port with a fresh data directory and a random API key), runs CMD
 * with DAYTONA_API_URL / DAYTONA_API_KEY / DAYTONA_EMU_URL pointing at it,
 * stops the emulator and removes its files, and exits with CMD's status.
 * So any test runner in any language gets an emulator with one line.
 *
 * Process layout.  The emulator child gets a process group of its own, so
 * a Ctrl-C on the terminal reaches CMD (which shares our group) but not
 * the emulator: CMD's own clean-up may still need the API, and we stop the
 * emulator ourselves once CMD is gone.  The emulator also gets a
 * parent-death signal, so even a SIGKILL of this process leaves no server
 * behind.
 *
 * Signals.  Everything this process reacts to (SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT, SIGCHLD) is blocked from the start and taken synchronously with
 * sigtimedwait, so there is no handler and no race between a signal and
 * waitpid.  A termination signal sent to us (kill, a CI runner's timeout)
 * is forwarded to CMD; one the terminal sent to the whole foreground group
 * (si_code SI_KERNEL) has reached CMD already and is not sent twice.
 *
 * Exit status: CMD's, or 128+N when CMD died of signal N; 127 when CMD is
 * not found, 126 when it cannot be executed; 125 when exec itself fails
 * (usage, or the emulator did not come up).
 */
#include "exec_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rnd.h"

#define EXEC_FAIL 125
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 10000
#define MAX_EMU_ARGS 128

static void exec_usage(FILE *f)
{
    fputs(
"Usage: daytona-emu exec [EMULATOR OPTIONS] -- CMD [ARGS...]\n"
"Runs CMD against a throwaway emulator and exits with CMD's status.\n"
"\n"
"The emulator listens on a free port of 127.0.0.1 with a fresh temporary\n"
"data directory (removed afterwards) and accepts one random API key.  CMD\n"
"runs with:\n"
"  DAYTONA_API_URL   http://127.0.0.1:PORT/api\n"
"  DAYTONA_API_KEY   the key the emulator accepts\n"
"  DAYTONA_EMU_URL   http://127.0.0.1:PORT (admin API under /_emulator/)\n"
"and without DAYTONA_JWT_TOKEN / DAYTONA_ORGANIZATION_ID, so SDKs use the key.\n"
"\n"
"EMULATOR OPTIONS are the server's (see daytona-emu --help): --data-dir DIR\n"
"or --in-memory replace the temporary directory (DIR is kept), --api-key K\n"
"makes K the key given to CMD, --port N picks the port, --log-level sets\n"
"the emulator's logging (default warn).  --port-file is exec's own.\n"
"\n"
"SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to exec are passed on to CMD;\n"
"the emulator is stopped once CMD has exited.\n"
"\n"
"Exit status: CMD's; 128+N if CMD died of signal N; 126 if CMD cannot be\n"
"executed, 127 if it is not found; 125 if exec itself failed.\n", f);
}

/* ---- the command line ---- */

typedef struct {
    char **flags;            /* emulator flags given by the user */
    int nflags;
    char **cmd;              /* NULL-terminated (argv is) */
    const char *data_dir;    /* --data-dir / --in-memory, else NULL */
    const char *api_key;     /* the first --api-key, else NULL */
    const char *host;        /* --host, else NULL */
} exec_args;

/* The value of a flag in either "--name value" or "--name=value" form.
 * Returns the value and advances *i past it, or NULL if argv[*i] is not
 * this flag. */
static const char *flag_value(char **flags, int n, int *i, const char *name)
{
    size_t l = strlen(name);
    const char *a = flags[*i];
    if (strncmp(a, name, l) != 0)
        return NULL;
    if (a[l] == '=')
        return a + l + 1;
    if (a[l] != '\0' || *i + 1 >= n)
        return NULL;
    return flags[++*i];
}

/* Returns 0 to go on, 1 for --help (exit 0), -1 for a usage error. */
static int parse_exec_args(int argc, char **argv, exec_args *a)
{
    memset(a, 0, sizeof *a);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return 1;
    int dd = -1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dd = i;
            break;
        }
    if (dd < 0) {
        /* "exec npm test" is unambiguous when no flag comes first. */
        if (argc >= 2 && argv[1][0] != '-')
            dd = 0;
        else {
            fprintf(stderr, "daytona-emu exec: put -- before the command "
                            "(daytona-emu exec [OPTIONS] -- CMD [ARGS])\n");
            return -1;
        }
    }
    a->flags = argv + 1;
    a->nflags = dd > 0 ? dd - 1 : 0;
    a->cmd = argv + (dd > 0 ? dd + 1 : 1);
    if (!a->cmd[0]) {
        fprintf(stderr, "daytona-emu exec: no command given\n");
        return -1;
    }
    if (a->nflags > MAX_EMU_ARGS - 16) {
        fprintf(stderr, "daytona-emu exec: too many emulator options\n");
        return -1;
    }
    for (int i = 0; i < a->nflags; i++) {
        const char *v, *f = a->flags[i];
        if (strncmp(f, "--port-file", 11) == 0 || strcmp(f, "--help") == 0 ||
            strcmp(f, "-h") == 0 || strcmp(f, "--version") == 0) {
            fprintf(stderr, "daytona-emu exec: %s cannot be used with exec\n", f);
            return -1;
        }
        if (strcmp(f, "--in-memory") == 0)
            a->data_dir = ":memory:";
        else if ((v = flag_value(a->flags, a->nflags, &i, "--data-dir")))
            a->data_dir = v;
        else if ((v = flag_value(a->flags, a->nflags, &i, "--api-key")))
            a->api_key = a->api_key ? a->api_key : v;
        else if ((v = flag_value(a->flags, a->nflags, &i, "--host")))
            a->host = v;
    }
    return 0;
}

/* ---- the temporary directory ---- */

static int chmod_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    /* A sandbox may have left a directory without search permission. */
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(p, (sb->st_mode & 07777) | S_IRWXU);
    return 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(p) != 0 && errno != ENOENT)
        fprintf(stderr, "daytona-emu exec: cannot remove %s: %s\n", p,
                strerror(errno));
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, chmod_cb, 32, FTW_PHYS | FTW_MOUNT);
    nftw(dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int make_tmpdir(char *out, size_t n)
{
    const char *t = getenv("TMPDIR");
    if (!t || !*t)
        t = "/tmp";
    if (snprintf(out, n, "%s/daytona-emu-exec-XXXXXX", t) >= (int)n)
        return -1;
    if (!mkdtemp(out))
        return -1;
    /* Sandbox users (their own uids when the emulator is root) must be able
     * to traverse down to their files. */
    chmod(out, 0711);
    return 0;
}

/* ---- children ---- */

/* Forks the emulator server.  Returns its pid or -1. */
static pid_t spawn_emulator(char *const *argv, const sigset_t *orig_mask)
{
    char self[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0) {
        fprintf(stderr, "daytona-emu exec: cannot find this program "
                        "(/proc/self/exe): %s\n", strerror(errno));
        return -1;
    }
    self[l] = '\0';
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "daytona-emu exec: fork: %s\n", strerror(errno));
        if (devnull >= 0)
            close(devnull);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* Never outlive exec, even when it is SIGKILLed. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(EXEC_FAIL);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        sigprocmask(SIG_SETMASK, orig_mask, NULL);
        execv(self, argv);
        _exit(EXEC_FAIL);
    }
    if (devnull >= 0)
        close(devnull);
    return pid;
}

/* Forks CMD with the caller's environment (already set up). */
static pid_t spawn_cmd(char **cmd, const sigset_t *orig_mask)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "daytona-emu exec: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, orig_mask, NULL);
        execvp(cmd[0], cmd);
        int e = errno;
        /* This process has one thread (exec never starts any), so stdio
         * is safe here. */
        fprintf(stderr, "daytona-emu exec: cannot run '%s': %s\n", cmd[0],
                strerror(e));
        _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
    }
    return pid;
}

static int status_to_exit(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return EXEC_FAIL;
}

static int is_term_signal(int sig)
{
    return sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT;
}

/* Waits (up to timeout) for the port file; 0 and *port on success.  On a
 * termination signal returns 128+sig without waiting further. */
static int wait_ready(pid_t emu, const char *port_file, const sigset_t *set,
                      unsigned *port)
{
    for (long waited = 0; waited < START_TIMEOUT_MS; waited += 20) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            unsigned p = 0;
            int ok = fscanf(f, "%u", &p) == 1 && p > 0 && p < 65536;
            fclose(f);
            if (ok) {
                *port = p;
                return 0;
            }
        }
        int st;
        if (waitpid(emu, &st, WNOHANG) == emu) {
            fprintf(stderr, "daytona-emu exec: the emulator exited before it "
                            "was ready (%s %d)\n",
                    WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            return -2;
        }
        struct timespec ts = {0, 20 * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0 && is_term_signal(sig))
            return 128 + sig;
    }
    fprintf(stderr, "daytona-emu exec: the emulator was not ready within %d s\n",
            START_TIMEOUT_MS / 1000);
    return -1;
}

/* SIGTERM, then SIGKILL after STOP_TIMEOUT_MS or at a second termination
 * signal; always reaps. */
static void stop_emulator(pid_t emu, const sigset_t *set)
{
    if (emu <= 0)
        return;
    int st;
    kill(emu, SIGTERM);
    for (long waited = 0; waited < STOP_TIMEOUT_MS; waited += 20) {
        pid_t r = waitpid(emu, &st, WNOHANG);
        if (r == emu || (r < 0 && errno == ECHILD))
            return;
        struct timespec ts = {0, 20 * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0 && is_term_signal(sig))
            break;
    }
    fprintf(stderr, "daytona-emu exec: the emulator did not stop; killing it\n");
    kill(emu, SIGKILL);
    while (waitpid(emu, &st, 0) < 0 && errno == EINTR)
        ;
}

/* Runs CMD to its end, forwarding signals.  Returns its wait status. */
static int supervise(pid_t cmd, pid_t *emu, const sigset_t *set)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(set, &si);
        if (sig < 0)
            continue;           /* EINTR */
        if (sig == SIGCHLD) {
            int st;
            pid_t r;
            while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
                if (r == cmd)
                    return st;
                if (r == *emu) {
                    fprintf(stderr, "daytona-emu exec: warning: the emulator "
                                    "exited while the command was running\n");
                    *emu = 0;
                }
            }
            continue;
        }
        /* The terminal signals the whole foreground group: CMD has it. */
        if (si.si_code != SI_KERNEL)
            kill(cmd, sig);
    }
}

/* ---- main ---- */

/* The emulator's command line: our defaults first so the user's flags win
 * (getopt keeps the last), the port file last so ours wins. */
static int build_emu_argv(const exec_args *a, const char *tmp, const char *key,
                          char *data_dir, size_t dn, char *port_file, size_t pn,
                          char **argv)
{
    int n = 0;
    argv[n++] = "daytona-emu";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    if (!a->data_dir) {
        if (snprintf(data_dir, dn, "%s/data", tmp) >= (int)dn)
            return -1;
        argv[n++] = "--data-dir";
        argv[n++] = data_dir;
    }
    if (!a->api_key) {
        argv[n++] = "--api-key";
        argv[n++] = (char *)key;
    }
    for (int i = 0; i < a->nflags; i++)
        argv[n++] = a->flags[i];
    if (snprintf(port_file, pn, "%s/port", tmp) >= (int)pn)
        return -1;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    argv[n] = NULL;
    return 0;
}

static int set_cmd_env(const exec_args *a, unsigned port, const char *key)
{
    char api[300], base[300];
    const char *h = a->host;
    /* A wildcard bind is reached on loopback. */
    if (!h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || !*h)
        h = "127.0.0.1";
    int v6 = strchr(h, ':') != NULL;
    snprintf(base, sizeof base, "http://%s%s%s:%u", v6 ? "[" : "", h,
             v6 ? "]" : "", port);
    snprintf(api, sizeof api, "%s/api", base);
    unsetenv("DAYTONA_JWT_TOKEN");
    unsetenv("DAYTONA_ORGANIZATION_ID");
    return (setenv("DAYTONA_API_URL", api, 1) || setenv("DAYTONA_API_KEY", key, 1) ||
            setenv("DAYTONA_EMU_URL", base, 1)) ? -1 : 0;
}

int emu_exec_main(int argc, char **argv)
{
    exec_args a;
    int pr = parse_exec_args(argc, argv, &a);
    if (pr != 0) {
        exec_usage(pr > 0 ? stdout : stderr);
        return pr > 0 ? 0 : EXEC_FAIL;
    }
    char tmp[PATH_MAX] = "", data_dir[PATH_MAX], port_file[PATH_MAX];
    char keybuf[40] = "emu-";
    char *emu_argv[MAX_EMU_ARGS];
    const char *key = a.api_key;
    pid_t emu = -1, cmd = -1;
    int rc = EXEC_FAIL;
    unsigned port = 0;

    /* Blocked before any child exists, so no signal is lost in between;
     * SIGCHLD must not be ignored or waitpid could not see our children. */
    sigset_t set, orig;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_BLOCK, &set, &orig);

    if (!key) {
        if (rnd_token(keybuf + 4, 32) != 0) {
            fprintf(stderr, "daytona-emu exec: no randomness for the API key\n");
            goto done;
        }
        key = keybuf;
    }
    if (make_tmpdir(tmp, sizeof tmp) != 0) {
        fprintf(stderr, "daytona-emu exec: cannot create a temporary "
                        "directory: %s\n", strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    if (build_emu_argv(&a, tmp, key, data_dir, sizeof data_dir, port_file,
                       sizeof port_file, emu_argv) != 0) {
        fprintf(stderr, "daytona-emu exec: temporary path too long\n");
        goto done;
    }
    emu = spawn_emulator(emu_argv, &orig);
    if (emu < 0)
        goto done;
    int w = wait_ready(emu, port_file, &set, &port);
    if (w != 0) {
        rc = w > 0 ? w : EXEC_FAIL;
        if (w == -2)
            emu = -1;           /* already reaped */
        goto done;
    }
    if (set_cmd_env(&a, port, key) != 0) {
        fprintf(stderr, "daytona-emu exec: cannot set the environment\n");
        goto done;
    }
    cmd = spawn_cmd(a.cmd, &orig);
    if (cmd < 0)
        goto done;
    rc = status_to_exit(supervise(cmd, &emu, &set));
done:
    stop_emulator(emu, &set);
    if (tmp[0])
        remove_tree(tmp);
    /* The mask stays: a signal still pending would otherwise kill us with
     * its default action instead of letting us exit with rc. */
    return rc;
}
