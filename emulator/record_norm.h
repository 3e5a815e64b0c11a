/*
 * record_norm.h - how record mode makes an exchange comparable and safe to
 * keep: generated ids, names and timestamps become placeholders ("<id>",
 * "<name>", "<time>"), and secrets become "<redacted>".
 *
 * A rec_norm remembers what it has seen so far in one recording:
 *   - secrets: API keys and organization ids from request headers, preview
 *     and signed-URL tokens, the values of any field or query parameter
 *     whose name says it is a secret (token, key, auth, signature, ...).
 *     Every later occurrence of such a value, anywhere in any string, is
 *     replaced -- so a command that echoes the key does not leak it;
 *   - learned values: ids (`id`, `sandboxId`, `sessionId`, `cmdId`, ...) and
 *     the `name` of objects that have an `id` (sandbox names), from request
 *     and response JSON, so a path segment or string holding one is
 *     normalized even when it is not UUID-shaped (session ids the client
 *     picked, names given at create).
 * On top of what it learned it applies shape rules: UUIDs and runs of 16+
 * hex digits are ids, ISO-8601 and Go time texts are times, and runs of
 * 12+ digits (epoch milliseconds in DESTROYED_<name>_<ms>) are times.
 *
 * Thread-safe: every call takes the object's own mutex (the recorder's
 * requests arrive on many threads).
 */
#ifndef EMU_RECORD_NORM_H
#define EMU_RECORD_NORM_H

#include <cjson/cJSON.h>

typedef struct rec_norm rec_norm;

/* NULL when out of memory.  Free with rec_norm_free (NULL is a no-op). */
rec_norm *rec_norm_new(void);
void rec_norm_free(rec_norm *n);

/* Remembers a secret (copied); values shorter than 4 bytes are ignored
 * (they would redact half the text). */
void rec_norm_add_secret(rec_norm *n, const char *value);
/* Remembers a value to replace by `placeholder` (a static string such as
 * "<id>"); values shorter than 6 bytes are ignored. */
void rec_norm_learn(rec_norm *n, const char *value, const char *placeholder);
/* Walks a JSON document and remembers its ids, names and secrets (see the
 * top of the file).  j may be NULL. */
void rec_norm_learn_json(rec_norm *n, const cJSON *j);

/* 1 when a field or query parameter called `name` holds a secret. */
int rec_norm_secret_name(const char *name);

/* The normalized form of a string: malloc'd, free() it; NULL on OOM. */
char *rec_norm_string(rec_norm *n, const char *s);
/* A raw request path ("/api/sandbox/abc%20d/stop"), segment by segment
 * (each percent-decoded for matching; unchanged segments stay raw). */
char *rec_norm_path(rec_norm *n, const char *raw_path);
/* A raw query string (without '?') as a JSON object of decoded,
 * normalized values; a repeated key becomes an array.  Values of secret
 * parameters are remembered as secrets and become "<redacted>".
 * Returns a new object (empty for NULL/""), NULL on OOM. */
cJSON *rec_norm_query(rec_norm *n, const char *query);
/* Normalizes every string of j in place; strings under secret-named keys
 * become "<redacted>".  Returns 0, or -1 on OOM (j is then partly done). */
int rec_norm_json(rec_norm *n, cJSON *j);

#endif
