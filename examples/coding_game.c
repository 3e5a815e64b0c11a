/*
 * coding_game.c - the coding-game "boss battle" with libdaytona (the flow
 * of the CodeJam seeds: shared/seeds/000 and 001).
 *
 * A game gives each player a sandbox in the language of the challenge and
 * runs the code the player submits in it:
 *
 *  1. The language is normalised and checked as the game does (lowercase;
 *     python, typescript or javascript), so "Python" is fine and "Ruby" is
 *     refused before any request is made.
 *  2. dt_create makes a sandbox for that language (labelled with the game
 *     and the player) and waits until it is started.
 *  3. dt_code_run runs the player's submissions: a correct one (its output
 *     is checked), a crashing one (a non-zero exit code and the error in
 *     the output -- the player's bug, not a failure of the call) and one
 *     that saves the player's progress to a file.
 *  4. The player leaves: the sandbox is stopped.  A stopped sandbox does
 *     not run code.
 *  5. The player comes back: the game looks the sandbox up again by its id
 *     (a fresh handle, as a new request to the game server would), starts
 *     it if it is not running, waits until it is started and runs code that
 *     reads the saved progress -- files survive the stop.
 *  6. Steps 2-5 for a python battle, then a javascript one.
 *  7. Each sandbox is deleted at the end of its battle, also on failure.
 *
 * Configuration comes from the environment as in the official SDKs
 * (DAYTONA_API_KEY, DAYTONA_API_URL, ...).  Prints "coding_game: ok" and
 * exits 0 when every check held; prints the failure and exits 1 otherwise.
 */
/* strdup, nanosleep, clock_gettime, getpid: POSIX.1-2008 on top of C11. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daytona/daytona.h>

#define TIMEOUT_MS 60000L

/* One battle: the language and the player's submissions with what their
 * output must contain. */
typedef struct {
    const char *language;
    const char *solve_code, *solve_expect;
    const char *crash_code, *crash_expect;
    const char *save_code;
    const char *load_code, *load_expect;
} battle;

static const battle battles[] = {
    {"python",
     "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
     "print(fib(20))\n",
     "6765",
     "inventory = []\nprint(inventory[3])\n", "IndexError",
     "with open('progress.txt', 'w') as f:\n    f.write('level=3\\n')\n"
     "print('saved')\n",
     "print(open('progress.txt').read().strip())\n", "level=3"},
    {"javascript",
     "const fib = n => n < 2 ? n : fib(n - 1) + fib(n - 2);\n"
     "console.log(fib(20));\n",
     "6765",
     "const boss = undefined;\nconsole.log(boss.hp);\n", "TypeError",
     "require('fs').writeFileSync('progress.txt', 'level=3\\n');\n"
     "console.log('saved');\n",
     "console.log(require('fs').readFileSync('progress.txt', 'utf8').trim());\n",
     "level=3"},
};

static void report(const char *what, dt_code rc, const dt_error *err)
{
    fprintf(stderr, "coding_game: FAIL: %s: %s", what, dt_strerror(rc));
    if (err && err->code == rc && err->message[0])
        fprintf(stderr, " (HTTP %ld: %s)", err->status, err->message);
    fputc('\n', stderr);
}

/* The game's own check: lowercase the name into out and accept only the
 * languages Daytona's code runner knows.  Returns 0 if supported. */
static int normalize_language(const char *in, char *out, size_t cap)
{
    static const char *const supported[] = {"python", "typescript", "javascript"};
    size_t i;
    for (i = 0; in[i] && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
    if (in[i])
        return -1;      /* longer than any supported name */
    for (size_t k = 0; k < sizeof supported / sizeof supported[0]; k++)
        if (strcmp(out, supported[k]) == 0)
            return 0;
    return -1;
}

/* Runs one submission and checks its exit code (0 or, when want_fail,
 * non-zero) and that its output contains expect.  Returns 0 if so. */
static int submit(dt_sandbox *sb, const char *lang, const char *code,
                  int want_fail, const char *expect)
{
    dt_exec_result r;
    dt_error err;
    dt_code rc = dt_code_run(sb, code, NULL, &r, &err);
    if (rc != DT_OK) {
        report("code run", rc, &err);
        return -1;
    }
    int ok = (want_fail ? r.exit_code != 0 : r.exit_code == 0) &&
             r.result && strstr(r.result, expect);
    printf("[%s] exit %d, output: %s", lang, r.exit_code,
           r.result && r.result[0] ? r.result : "(none)\n");
    if (r.result_len && r.result[r.result_len - 1] != '\n')
        putchar('\n');
    if (!ok)
        fprintf(stderr, "coding_game: FAIL: [%s] wanted %s exit and \"%s\" in "
                "the output\n", lang, want_fail ? "a non-zero" : "a zero", expect);
    dt_exec_result_release(&r);
    return ok ? 0 : -1;
}

/* The seed's "run" action: get the sandbox by id, make sure it is started
 * (start it when it is not; waiting either way), hand back the handle. */
static int resume(dt_client *c, const char *id, dt_sandbox **out)
{
    dt_sandbox *sb = NULL;
    dt_error err;
    dt_code rc = dt_get(c, id, &sb, &err);
    if (rc != DT_OK) {
        report("get sandbox to resume", rc, &err);
        return -1;
    }
    printf("resume %s: state %s\n", id, dt_sandbox_state(sb));
    if (strcmp(dt_sandbox_state(sb), "started") != 0)
        rc = dt_sandbox_start(sb, TIMEOUT_MS, &err);
    if (rc == DT_OK)
        rc = dt_sandbox_wait_started(sb, TIMEOUT_MS, &err);
    if (rc != DT_OK) {
        report("start sandbox", rc, &err);
        dt_sandbox_free(sb);
        return -1;
    }
    printf("resume %s: state %s\n", id, dt_sandbox_state(sb));
    *out = sb;
    return 0;
}

/* The player leaves: stop, and check that code no longer runs. */
static int pause_battle(dt_sandbox *sb)
{
    dt_error err;
    dt_exec_result r;
    dt_code rc = dt_sandbox_stop(sb, TIMEOUT_MS, &err);
    if (rc != DT_OK) {
        report("stop sandbox", rc, &err);
        return -1;
    }
    printf("stopped %s: state %s\n", dt_sandbox_id(sb), dt_sandbox_state(sb));
    if (strcmp(dt_sandbox_state(sb), "stopped") != 0) {
        fprintf(stderr, "coding_game: FAIL: state after stop is %s\n",
                dt_sandbox_state(sb));
        return -1;
    }
    rc = dt_code_run(sb, "print(1)", NULL, &r, &err);
    if (rc == DT_OK) {
        dt_exec_result_release(&r);
        fprintf(stderr, "coding_game: FAIL: a stopped sandbox ran code\n");
        return -1;
    }
    printf("stopped sandbox refuses code: %s\n", dt_strerror(rc));
    return 0;
}

static int play(dt_client *c, const battle *b, const char *player)
{
    int ret = -1;
    dt_sandbox *sb = NULL;
    char *id = NULL;
    dt_error err;
    dt_kv labels[] = {{"game", "coding-game"}, {"player", player},
                      {"language", b->language}};
    dt_create_params p;
    dt_create_params_init(&p);
    p.language = b->language;
    p.labels = labels;
    p.n_labels = sizeof labels / sizeof labels[0];
    p.timeout_ms = TIMEOUT_MS;

    dt_code rc = dt_create(c, &p, &sb, &err);
    if (rc != DT_OK) {
        report("create sandbox", rc, &err);
        goto cleanup;
    }
    id = strdup(dt_sandbox_id(sb));     /* the game keeps only the id */
    if (!id)
        goto cleanup;
    printf("[%s] sandbox %s is %s\n", b->language, id, dt_sandbox_state(sb));
    if (submit(sb, b->language, b->solve_code, 0, b->solve_expect) ||
        submit(sb, b->language, b->crash_code, 1, b->crash_expect) ||
        submit(sb, b->language, b->save_code, 0, "saved") ||
        pause_battle(sb))
        goto cleanup;
    dt_sandbox_free(sb);                /* the player is gone */
    sb = NULL;
    if (resume(c, id, &sb) ||
        submit(sb, b->language, b->load_code, 0, b->load_expect))
        goto cleanup;
    ret = 0;
cleanup:
    if (!sb && id && dt_get(c, id, &sb, &err) != DT_OK)
        sb = NULL;
    if (sb) {
        rc = dt_sandbox_delete(sb, TIMEOUT_MS, &err);
        if (rc != DT_OK) {
            report("delete sandbox", rc, &err);
            ret = -1;
        } else {
            printf("[%s] sandbox %s deleted\n", b->language, id ? id : "?");
        }
        dt_sandbox_free(sb);
    }
    free(id);
    return ret;
}

int main(void)
{
    dt_client *c = NULL;
    dt_error err;
    char lang[32];
    int ret = 1;

    if (dt_global_init() != DT_OK)
        return 1;
    dt_code rc = dt_client_new(NULL, &c, &err);
    if (rc != DT_OK) {
        report("client", rc, &err);
        goto cleanup;
    }
    if (normalize_language("Python", lang, sizeof lang) != 0 ||
        strcmp(lang, "python") != 0 ||
        normalize_language("Ruby", lang, sizeof lang) == 0) {
        fprintf(stderr, "coding_game: FAIL: language check\n");
        goto cleanup;
    }
    printf("language Ruby: unsupported, refused before any request\n");
    for (size_t i = 0; i < sizeof battles / sizeof battles[0]; i++)
        if (play(c, &battles[i], "player-1") != 0)
            goto cleanup;
    printf("coding_game: ok\n");
    ret = 0;
cleanup:
    dt_client_free(c);
    dt_global_cleanup();
    return ret;
}
