/*
 * dtctl.h - shared pieces of dtctl, the command-line client for Daytona:
 * the command table types, the option parser, the per-run context and the
 * output helpers every command file uses.
 *
 * dtctl uses only libdaytona's public API (daytona/daytona.h).  A command
 * is a row in a table (cli_cmd): its name, aliases, usage text, option
 * specs and a run function.  The run function gets the parsed arguments
 * and returns the process exit status:
 *   0          success
 *   1          a failure reported by the library (one line on stderr)
 *   2          a usage error (message + usage on stderr)
 *   other      exec/code-run/session exec pass the command's exit code on
 */
#ifndef DTCTL_H
#define DTCTL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "daytona/daytona.h"

#define DTCTL_EXIT_FAIL 1
#define DTCTL_EXIT_USAGE 2

/* ------------------------------------------------------------------ */
/* Options and parsing                                                */
/* ------------------------------------------------------------------ */

/* One option a command accepts.  id is the command's own number (>= 1);
 * the global options use negative ids (see dtctl.c). */
typedef struct {
    const char *lng;       /* long name without "--" */
    char shrt;             /* short letter, or 0 */
    int takes_arg;         /* 1: "--x V", "--x=V", "-xV", "-x V" */
    int id;
} cli_opt;

typedef struct {
    int id;
    const char *val;       /* NULL for flags; points into argv */
} cli_hit;

/* The result of parsing one command's argv.  Options may appear anywhere
 * before "--" (GNU style); everything after "--" is in rest. */
typedef struct {
    cli_hit *hits;         /* the command's options, in order */
    size_t n_hits;
    const char **pos;      /* positional arguments before "--" */
    size_t n_pos;
    char *const *rest;     /* arguments after "--" (not parsed) */
    size_t n_rest;
    int dashdash;          /* 1 if "--" was given */
} cli_args;

struct cli_cmd;

/* Per-run state: the global options and the lazily made client. */
typedef struct {
    const char *api_url;   /* --api-url, or NULL (environment) */
    const char *api_key;   /* --api-key, or NULL (environment) */
    int json;              /* --format json */
    int help;              /* --help seen */
    long request_timeout_ms;  /* set by a command before cli_client; 0 =
                                 the library's default (60 s) */
    dt_client *client;     /* made by cli_client on first use */
    const struct cli_cmd *cmd;  /* the command being run */
    char path[64];         /* "sandbox create", for usage messages */
} cli_ctx;

typedef int (*cli_run_fn)(cli_ctx *cx, const cli_args *a);

/* A command, or a group of commands when sub is non-NULL. */
typedef struct cli_cmd {
    const char *name;
    const char *const *aliases;   /* NULL-terminated, or NULL */
    const char *synopsis;         /* after "dtctl PATH ", e.g. "ID [flags]" */
    const char *summary;          /* one line for the parent's listing */
    const char *help;             /* flag/argument lines for --help, or NULL */
    const cli_opt *opts;          /* terminated by {NULL,0,0,0}, or NULL */
    int min_pos, max_pos;         /* positionals before "--"; max -1 = any */
    cli_run_fn run;
    const struct cli_cmd *sub;    /* group: terminated by a NULL name */
} cli_cmd;

/* Parses argv[0..argc) for cmd: command options into *a, global options
 * into cx.  Returns 0, or DTCTL_EXIT_USAGE after printing the error and
 * usage.  *a: release with cli_args_release (also after a failure). */
int cli_parse(cli_ctx *cx, const cli_cmd *cmd, int argc, char **argv,
              cli_args *a);
void cli_args_release(cli_args *a);

/* Applies one global option spelled argv[*i] (and maybe its value) to cx.
 * Returns 1 if it was a global option, 0 if not, -1 on a usage error
 * (printed).  Used for options before the command name too. */
int cli_global_opt(cli_ctx *cx, int argc, char **argv, int *i);

/* ------------------------------------------------------------------ */
/* Context, errors and usage                                          */
/* ------------------------------------------------------------------ */

/* The client, made from the environment and the global flags on first
 * use.  Returns 0, or DTCTL_EXIT_FAIL after printing the error. */
int cli_client(cli_ctx *cx, dt_client **out);

/* Prints "dtctl: error: <message>" (one line) and returns DTCTL_EXIT_FAIL. */
int cli_fail(const dt_error *e);
/* Same with our own message. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "dtctl: error: <message>" and the command's usage on stderr;
 * returns DTCTL_EXIT_USAGE. */
int cli_usage_error(const cli_ctx *cx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Full help of a command (or group) on stdout. */
void cli_print_help(const char *path, const cli_cmd *cmd);

/* ------------------------------------------------------------------ */
/* Argument helpers                                                   */
/* ------------------------------------------------------------------ */

/* Parses an integer option value in [lo, hi]; on error prints a usage
 * error naming the option and returns DTCTL_EXIT_USAGE, else 0. */
int cli_int(const cli_ctx *cx, const char *opt, const char *s, long lo,
            long hi, int *out);

/* K=V lists (--label, --env).  Keys and values are one allocation each
 * entry; release with cli_kvs_release. */
typedef struct {
    dt_kv *v;
    size_t n;
} cli_kvs;

/* Appends "K=V"; returns 0, DTCTL_EXIT_USAGE (printed) when there is no
 * '=' or the key is empty, DTCTL_EXIT_FAIL on allocation failure. */
int cli_kvs_add(const cli_ctx *cx, cli_kvs *kvs, const char *opt,
                const char *kv);
void cli_kvs_release(cli_kvs *kvs);

/* Joins words into one shell command line.  One word is taken as a whole
 * command line (as Daytona's CLI does); several words are each quoted
 * for POSIX sh, so arguments with spaces or quotes arrive intact.
 * Returns a heap string (free), or NULL on allocation failure. */
char *cli_join_command(const char *const *words, size_t n);

/* Reads a whole file (path "-" = stdin), up to max bytes.  Returns 0 with
 * *out (heap, NUL-terminated; free), or DTCTL_EXIT_FAIL after printing. */
int cli_read_all(const char *path, size_t max, char **out, size_t *len);

/* ------------------------------------------------------------------ */
/* Output                                                             */
/* ------------------------------------------------------------------ */

/* Prints j (indented) and a newline on stdout, then deletes j (NULL is an
 * allocation failure).  Returns 0 or DTCTL_EXIT_FAIL. */
int cli_print_json(cJSON *j);
/* The sandbox's record as a cJSON tree (caller deletes), or NULL. */
cJSON *cli_sandbox_json(const dt_sandbox *sb);
/* Writes len bytes to a stdio stream, fully; returns 0 or -1. */
int cli_write(void *stream, const void *data, size_t len);
/* Ends the process's output: flushes stdout; returns status unchanged or
 * DTCTL_EXIT_FAIL if the flush failed (a closed pipe, a full disk). */
int cli_finish(int status);

/* Opens the sandbox named by id_or_name.  Returns 0 or DTCTL_EXIT_FAIL
 * (printed).  *out: dt_sandbox_free. */
int cli_open_sandbox(cli_ctx *cx, const char *id_or_name, dt_sandbox **out);

/* ------------------------------------------------------------------ */
/* Command tables (one per file)                                      */
/* ------------------------------------------------------------------ */

/* Each is terminated by a row with a NULL name. */
extern const cli_cmd cli_sandbox_cmds[];  /* create list info start stop ... */
extern const cli_cmd cli_exec_cmds[];     /* exec code-run preview-url */
extern const cli_cmd cli_fs_cmds[];       /* fs ls|upload|download|rm|mkdir */
extern const cli_cmd cli_session_cmds[];  /* session create|exec|logs|delete */

#endif
