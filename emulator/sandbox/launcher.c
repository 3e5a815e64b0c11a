/*
 * launcher.c - daytona-emu-sandbox: runs one program inside a sandbox.
 *
 * The emulator's supervisor fork+execs this binary for every command; all
 * isolation setup happens here, in a fresh single-threaded process, so the
 * multi-threaded server never does more than dup2/execve after a fork
 * (STYLE.md practice 9a).
 *
 * Levels:
 *  - process (always): new session, the program in its own process group,
 *    rlimits, a distinct uid when started as root, a clean environment
 *    (the caller's envp is passed through untouched), cwd inside the
 *    sandbox.  The launcher is a child subreaper: double-forked and setsid()
 *    descendants are re-parented to it, and once the program exits (or the
 *    wall-clock deadline passes, or SIGTERM arrives) every remaining
 *    descendant is killed and reaped.
 *  - namespaced (--ns, needs root): private mount, PID, IPC, UTS and
 *    optionally network namespaces.  The sandbox sees its own /home/daytona,
 *    /tmp and /workspace, the host's system directories read-only, fresh
 *    /proc and a minimal /dev.  PID 1 of the namespace is our child; when it
 *    exits the kernel kills everything else in the namespace.
 *  - cgroups (--cgroup-procs FILE…): the launcher joins the given cgroups
 *    before anything runs, so memory/pids/CPU limits apply to the whole tree.
 *
 * Result: one line on the status fd (default 3, close-on-exec for the
 * program): "exit N", "signal N", "timeout" or "error STAGE ERRNO".
 * Exit status of the launcher: 0 when a result line was written.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "netutil.h"
#include "launcher_opts.h"

#if defined(__SANITIZE_ADDRESS__)
/* In sanitizer builds the launcher ends inside the sandbox (new PID
 * namespace, another uid), where LeakSanitizer cannot work and would print
 * its failure into the command's output: keep it off for this binary. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

static int status_fd = 3;
static volatile sig_atomic_t got_term;
/* The process the current wait is for.  SIGTERM kills it from the handler:
 * a flag alone loses a SIGTERM that lands between the loop's look at
 * got_term and its blocking waitpid (the wait would then last until the
 * program ended by itself -- the emulator gave up after 5 s). */
static volatile pid_t wait_target;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
    if (wait_target > 0)
        kill(wait_target, SIGKILL);
}

/* Writes the whole line, retrying on EINTR and short writes. */
static void put_status(const char *line)
{
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t n = write(status_fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

static void status_error(const char *stage, int err)
{
    char line[128];
    snprintf(line, sizeof line, "error %s %d\n", stage, err);
    put_status(line);
}

/* ---------- process-level helpers ---------- */

/* Kills every descendant: the program's process group, then each child
 * listed by /proc (which includes re-parented orphans, since we are a
 * subreaper), until none is left.  Returns once all are reaped. */
static void sweep_children(pid_t pgid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    for (int round = 0; round < 10000; round++) {
        if (pgid > 0)
            kill(-pgid, SIGKILL);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char buf[8192];
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n > 0) {
                buf[n] = '\0';
                char *save = NULL;
                for (char *t = strtok_r(buf, " \n", &save); t;
                     t = strtok_r(NULL, " \n", &save)) {
                    pid_t p = (pid_t)atoi(t);
                    if (p > 0) {
                        kill(-p, SIGKILL);   /* it may lead its own group */
                        kill(p, SIGKILL);
                    }
                }
            }
        }
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0)
            ;
        if (r < 0 && errno == ECHILD)
            return;
        struct timespec ts = {0, 2000000};   /* 2 ms: let SIGKILL land */
        nanosleep(&ts, NULL);
    }
}

static int apply_rlimits(const launcher_opts *o)
{
    for (int i = 0; i < o->nrlimits; i++) {
        struct rlimit rl = {o->rlimits[i].value, o->rlimits[i].value};
        /* CPU: the soft limit sends SIGXCPU (a clear "CPU time limit
         * exceeded", exit 152 in the shell); the hard limit one second
         * later is the SIGKILL backstop. */
        if (o->rlimits[i].resource == RLIMIT_CPU && rl.rlim_max != RLIM_INFINITY)
            rl.rlim_max = rl.rlim_cur + 1;
        if (setrlimit(o->rlimits[i].resource, &rl) != 0)
            return -1;
    }
    return 0;
}

static int drop_privileges(const launcher_opts *o)
{
    if (o->uid < 0)
        return 0;
    gid_t g = (gid_t)o->gid;
    if (setgroups(1, &g) != 0 || setresgid(g, g, g) != 0 ||
        setresuid((uid_t)o->uid, (uid_t)o->uid, (uid_t)o->uid) != 0)
        return -1;
    return 0;
}

/* The program itself: runs in the final child.  Never returns. */
static void exec_program(const launcher_opts *o, char **envp)
{
    const char *stage = "setpgid";
    if (o->tty) {
        /* A terminal session: the program leads its own session with the
         * pty on fd 0 as its controlling terminal (job control, ^C). */
        stage = "setsid";
        if (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) != 0)
            goto fail;
    } else if (setpgid(0, 0) != 0) {
        goto fail;
    }
    stage = "rlimit";
    if (apply_rlimits(o) != 0)
        goto fail;
    stage = "setuid";
    if (drop_privileges(o) != 0)
        goto fail;
    stage = "chdir";
    if (o->cwd && chdir(o->cwd) != 0)
        goto fail;
    /* At the process level the sandbox's files live on the host without
     * nosuid: no setuid or file-capability binary may raise privileges. */
    stage = "no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        goto fail;
    /* Default signal dispositions for the program. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    stage = "exec";
    execve(o->argv[0], o->argv, envp);
fail:
    status_error(stage, errno);
    _exit(127);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Forks the program, waits for it while reaping adopted orphans, enforces
 * the deadline and SIGTERM, then sweeps every remaining descendant.
 * Writes the result line.  Used by the process level directly and by PID 1
 * of the namespaced level.
 */
static int run_and_sweep(const launcher_opts *o, char **envp)
{
    pid_t child = fork();
    if (child < 0) {
        status_error("fork", errno);
        return 1;
    }
    if (child == 0)
        exec_program(o, envp);
    wait_target = child;
    if (got_term)          /* arrived before wait_target was set */
        kill(child, SIGKILL);
    int64_t deadline = o->timeout_ms > 0 ? mono_ms() + o->timeout_ms : 0;
    int status = 0, have = 0, timed_out = 0;
    while (!have) {
        int st;
        pid_t r = waitpid(-1, &st, 0);
        if (r == child) {
            status = st;
            have = 1;
        } else if (r < 0 && errno != EINTR && errno != ECHILD) {
            break;
        }
        if (got_term)
            break;
        if (deadline && mono_ms() >= deadline) {
            timed_out = 1;
            break;
        }
    }
    char line[64];
    if (o->linger && o->ns && have && !timed_out && !got_term) {
        /* Daytona keeps what a command leaves running: the result goes out
         * now, and this PID 1 stays to reap the rest until none is left
         * (or the launcher ends the namespace: sandbox stop or delete). */
        if (WIFEXITED(status))
            snprintf(line, sizeof line, "exit %d\n", WEXITSTATUS(status));
        else
            snprintf(line, sizeof line, "signal %d\n", WTERMSIG(status));
        put_status(line);
        /* Only what the command left may hold its output open now: the
         * caller reads until the pipe closes. */
        int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (dn >= 0) {
            dup2(dn, 0);
            dup2(dn, 1);
            dup2(dn, 2);
            close(dn);
        }
        struct itimerval off;
        memset(&off, 0, sizeof off);
        setitimer(ITIMER_REAL, &off, NULL);
        for (;;) {
            int st;
            if (waitpid(-1, &st, 0) > 0)
                continue;
            if (errno == EINTR && !got_term)
                continue;
            break;                  /* ECHILD: nothing left */
        }
        sweep_children(0);
        return 0;
    }
    sweep_children(child);
    if (timed_out)
        snprintf(line, sizeof line, "timeout\n");
    else if (!have)
        snprintf(line, sizeof line, "signal %d\n", SIGKILL);
    else if (WIFEXITED(status))
        snprintf(line, sizeof line, "exit %d\n", WEXITSTATUS(status));
    else
        snprintf(line, sizeof line, "signal %d\n", WTERMSIG(status));
    put_status(line);
    return 0;
}

/* SIGALRM only interrupts waitpid so the deadline is checked. */
static void on_alarm(int sig)
{
    (void)sig;
}

static void arm_deadline_timer(void)
{
    struct itimerval it = {{0, 50000}, {0, 50000}};   /* every 50 ms */
    setitimer(ITIMER_REAL, &it, NULL);
}

/* ---------- namespaced level ---------- */

static int join(char *out, size_t n, const char *a, const char *b)
{
    return snprintf(out, n, "%s%s", a, b) >= (int)n ? -1 : 0;
}

/* Binds host path `src` at `root`+`dst`; read-only unless rw; extra mount
 * flags for the remount (MS_NODEV everywhere but for device nodes).
 * Missing host paths are skipped; a host symlink (merged /usr: /bin ->
 * usr/bin) is recreated as the same symlink. */
static int bind_into_flags(const char *root, const char *src, const char *dst,
                           int rw, unsigned long extra)
{
    char target[PATH_MAX];
    struct stat st;
    if (lstat(src, &st) != 0)
        return 0;
    if (join(target, sizeof target, root, dst) != 0)
        return -1;
    if (S_ISLNK(st.st_mode)) {
        char link[PATH_MAX];
        ssize_t n = readlink(src, link, sizeof link - 1);
        if (n < 0)
            return -1;
        link[n] = '\0';
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", target);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = '\0';
            fs_mkdir_p(parent, 0755);
        }
        return (symlink(link, target) != 0 && errno != EEXIST) ? -1 : 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (fs_mkdir_p(target, 0755) != 0)
            return -1;
    } else if (stat(target, &st) != 0) {
        /* A file mount point must exist; over an existing file (e.g.
         * /etc/passwd inside the read-only /etc) nothing is created. */
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", target);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = '\0';
            if (fs_mkdir_p(parent, 0755) != 0)
                return -1;
        }
        int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        close(fd);
    }
    if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) != 0)
        return -1;
    unsigned long fl = MS_BIND | MS_REMOUNT | MS_NOSUID | extra;
    if (!rw)
        fl |= MS_RDONLY;
    return mount(NULL, target, NULL, fl, NULL);
}

static int bind_into(const char *root, const char *src, const char *dst, int rw)
{
    return bind_into_flags(root, src, dst, rw, MS_NODEV);
}

static const char *const system_dirs[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
    "/opt", "/var/lib/dpkg", "/run/systemd/resolve",
};

static const char *const dev_nodes[] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
    "/dev/tty",
};

static int setup_dev(const char *root)
{
    char p[PATH_MAX];
    if (join(p, sizeof p, root, "/dev") != 0 || fs_mkdir_p(p, 0755) != 0 ||
        mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m") != 0)
        return -1;
    for (size_t i = 0; i < sizeof dev_nodes / sizeof dev_nodes[0]; i++)
        if (bind_into_flags(root, dev_nodes[i], dev_nodes[i], 1, 0) != 0)
            return -1;
    static const struct { const char *name, *to; } links[] = {
        {"/dev/fd", "/proc/self/fd"}, {"/dev/stdin", "/proc/self/fd/0"},
        {"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        if (join(p, sizeof p, root, links[i].name) != 0 ||
            symlink(links[i].to, p) != 0)
            return -1;
    }
    if (join(p, sizeof p, root, "/dev/shm") != 0 || mkdir(p, 01777) != 0 ||
        mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") != 0)
        return -1;
    return 0;
}

/* Builds the sandbox's root under o->root/.rootfs and pivots into it. */
static int setup_mounts(const launcher_opts *o, const char **stage)
{
    char nr[PATH_MAX], p[PATH_MAX], src[PATH_MAX];
    *stage = "mount-private";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    *stage = "rootfs";
    if (join(nr, sizeof nr, o->root, "/.rootfs") != 0 || fs_mkdir_p(nr, 0755) != 0 ||
        mount("tmpfs", nr, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") != 0)
        return -1;
    *stage = "bind-system";
    for (size_t i = 0; i < sizeof system_dirs / sizeof system_dirs[0]; i++)
        if (bind_into(nr, system_dirs[i], system_dirs[i], 0) != 0)
            return -1;
    for (int i = 0; i < o->nro_binds; i++)
        if (bind_into(nr, o->ro_binds[i], o->ro_bind_dst[i], 0) != 0)
            return -1;
    *stage = "bind-sandbox";
    static const char *const own[] = {"/home/daytona", "/tmp", "/workspace"};
    for (size_t i = 0; i < 3; i++) {
        char fsroot[PATH_MAX];
        if (join(fsroot, sizeof fsroot, o->root, "/fs") != 0 ||
            join(src, sizeof src, fsroot, own[i]) != 0 ||
            bind_into(nr, src, own[i], 1) != 0)
            return -1;
    }
    if (o->passwd_file && bind_into(nr, o->passwd_file, "/etc/passwd", 0) != 0)
        return -1;
    *stage = "proc";
    if (join(p, sizeof p, nr, "/proc") != 0 || fs_mkdir_p(p, 0555) != 0 ||
        mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return -1;
    *stage = "dev";
    if (setup_dev(nr) != 0)
        return -1;
    *stage = "pivot";
    if (join(p, sizeof p, nr, "/.oldroot") != 0 || fs_mkdir_p(p, 0700) != 0 ||
        syscall(SYS_pivot_root, nr, p) != 0 || chdir("/") != 0 ||
        umount2("/.oldroot", MNT_DETACH) != 0 || rmdir("/.oldroot") != 0)
        return -1;
    /* The new root's top is read-only too: only the sandbox's own
     * directories, /dev/shm and /tmp are writable. */
    *stage = "remount-root";
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        return -1;
    return 0;
}

/* PID 1 of the sandbox's namespaces. */
static int ns_init(const launcher_opts *o, char **envp)
{
    const char *stage = "";
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the launcher's death ends us all */
    if (setup_mounts(o, &stage) != 0) {
        status_error(stage, errno);
        return 1;
    }
    if (o->hostname && sethostname(o->hostname, strlen(o->hostname)) != 0) {
        status_error("hostname", errno);
        return 1;
    }
    if (o->no_net && !o->netns && net_loopback_up() != 0) {
        status_error("loopback", errno);
        return 1;
    }
    arm_deadline_timer();   /* interval timers are not inherited by fork */
    return run_and_sweep(o, envp);
}

static int run_namespaced(const launcher_opts *o, char **envp)
{
    int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
    if (o->no_net && !o->netns)   /* a joined netns has only loopback */
        flags |= CLONE_NEWNET;
    if (unshare(flags) != 0) {
        status_error("unshare", errno);
        return 1;
    }
    pid_t init = fork();
    if (init < 0) {
        status_error("fork", errno);
        return 1;
    }
    if (init == 0)
        _exit(ns_init(o, envp));
    wait_target = init;    /* set before the loop first reads got_term */
    if (o->linger) {
        /* This launcher outlives the command too: it must not keep the
         * command's output pipe open (PID 1 and the program have it). */
        int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (dn >= 0) {
            dup2(dn, 0);
            dup2(dn, 1);
            dup2(dn, 2);
            close(dn);
        }
    }
    /* The launcher only waits: PID 1 writes the result.  On a deadline or
     * SIGTERM it kills PID 1, and the kernel kills the whole namespace. */
    /* With --linger, PID 1 outlives the command by design: only its own
     * timer (it is the one that knows the command ended) applies. */
    int64_t deadline = o->timeout_ms > 0 && !o->linger ? mono_ms() + o->timeout_ms + 200 : 0;
    int st;
    for (;;) {
        if (got_term || (deadline && mono_ms() >= deadline)) {
            kill(init, SIGKILL);
            while (waitpid(init, &st, 0) < 0 && errno == EINTR)
                ;
            put_status(got_term ? "signal 9\n" : "timeout\n");
            return 0;
        }
        pid_t r = waitpid(init, &st, 0);
        if (r == init) {
            /* Killed by on_term before it could write its result. */
            if (got_term && WIFSIGNALED(st))
                put_status("signal 9\n");
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return 1;
    }
}

/* ---------- the sandbox's network namespace ---------- */

/* Holder mode: the namespace lives as long as this process.  Root, no
 * program, nothing to sweep: it only waits to be told to go. */
static int hold_net(void)
{
    if (unshare(CLONE_NEWNET) != 0) {
        status_error("unshare-net", errno);
        return 1;
    }
    if (net_loopback_up() != 0) {
        status_error("loopback", errno);
        return 1;
    }
    /* SIGTERM blocked between the look at got_term and the wait, which
     * unblocks it atomically: none can slip in between. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, &old);
    put_status("ready\n");
    while (!got_term)
        sigsuspend(&old);
    return 0;
}

/* Joins the holder's namespace, before anything else is set up (setns
 * needs the privileges dropped later). */
static int join_netns(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* ---------- main ---------- */

static int join_cgroups(const launcher_opts *o)
{
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    for (int i = 0; i < o->ncgroups; i++) {
        int fd = open(o->cgroups[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        ssize_t w = write(fd, pid, (size_t)n);
        close(fd);
        if (w != n)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv, char **envp)
{
    launcher_opts o;
    char err[256];
    if (launcher_parse(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "daytona-emu-sandbox: %s\n", err);
        return 2;
    }
    status_fd = o.status_fd;
    if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) {
        fprintf(stderr, "daytona-emu-sandbox: status fd %d: %s\n", status_fd,
                strerror(errno));
        return 2;
    }
    if (o.kill_uid >= 0)
        return launcher_kill_uid(o.kill_uid);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* If the supervisor dies, we are told (and then sweep). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        got_term = 1;
    if (setsid() < 0) {
        status_error("setsid", errno);
        return 1;
    }
    if (o.hold_net)
        return hold_net();
    if (o.netns && join_netns(o.netns) != 0) {
        status_error("netns", errno);
        return 1;
    }
    if (join_cgroups(&o) != 0) {
        status_error("cgroup", errno);
        return 1;
    }
    arm_deadline_timer();
    if (o.ns)
        return run_namespaced(&o, envp);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        status_error("subreaper", errno);
        return 1;
    }
    return run_and_sweep(&o, envp);
}
