/*
 * launcher_opts.h - the command line of daytona-emu-sandbox, parsed into a
 * struct; shared by the launcher and by the emulator's executor (which
 * builds the same command line) and unit-tested on its own.
 *
 *   daytona-emu-sandbox [--root DIR] [--cwd DIR] [--uid N --gid N] [--ns]
 *       [--no-net] [--hostname NAME] [--cgroup-procs FILE]...
 *       [--rlimit NAME=VALUE]... [--timeout-ms N] [--ro-bind SRC[:DST]]...
 *       [--passwd FILE] [--status-fd N] [--tty] -- PROGRAM [ARGS...]
 *       [--netns FILE] [--linger]
 *   daytona-emu-sandbox --kill-uid N [--status-fd N]
 *   daytona-emu-sandbox --hold-net [--status-fd N]
 *
 * --hold-net: the sandbox's network namespace holder.  It makes a network
 * namespace with loopback up, writes "ready\n" to the status fd, and waits
 * for SIGTERM (or its parent's death); every command of the sandbox joins
 * that namespace with --netns /proc/<holder>/ns/net, so its processes
 * share one loopback and ports, apart from every other sandbox's.
 *
 * rlimit names: cpu (seconds), data, fsize, stack, as (bytes), nofile,
 * nproc, core.  With --ns, the sandbox's own directories are bound from
 * ROOT/fs/{home/daytona,tmp,workspace} and ROOT/.rootfs is the work area.
 */
#ifndef EMU_LAUNCHER_OPTS_H
#define EMU_LAUNCHER_OPTS_H

#include <stddef.h>
#include <sys/resource.h>

#define LAUNCHER_MAX_LIST 16

typedef struct {
    int resource;                 /* RLIMIT_* */
    rlim_t value;
} launcher_rlimit;

typedef struct {
    const char *root;
    const char *cwd;
    long uid, gid;                /* -1 = unchanged */
    int ns;
    int no_net;
    int tty;                      /* fd 0 is a terminal: make it the
                                     program's controlling terminal */
    const char *hostname;
    const char *cgroups[LAUNCHER_MAX_LIST];
    int ncgroups;
    launcher_rlimit rlimits[LAUNCHER_MAX_LIST];
    int nrlimits;
    long long timeout_ms;         /* 0 = none */
    const char *ro_binds[LAUNCHER_MAX_LIST];     /* host paths */
    const char *ro_bind_dst[LAUNCHER_MAX_LIST];  /* where they appear */
    int nro_binds;
    const char *passwd_file;
    int status_fd;
    long kill_uid;                /* -1 = not the kill mode */
    int hold_net;                 /* the netns holder mode */
    int linger;                   /* with --ns: the result is written when
                                     the program ends; what it left running
                                     lives on until the namespace ends */
    const char *netns;            /* network namespace to join, or NULL */
    char **argv;                  /* program and arguments (points into argv) */
} launcher_opts;

/* Parses argv (argv[0] is skipped).  Returns 0, or -1 with a message. */
int launcher_parse(int argc, char **argv, launcher_opts *o, char *err,
                   size_t errlen);

/* Maps an rlimit name to RLIMIT_*; -1 if unknown. */
int launcher_rlimit_resource(const char *name);

/* Kill mode: becomes uid and SIGKILLs every process of that uid until none
 * is left.  Returns the process exit status (0 on success). */
int launcher_kill_uid(long uid);

#endif
