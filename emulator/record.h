/*
 * record.h - record mode: `daytona-emu --upstream URL --record DIR`.
 *
 * Instead of serving its own state the emulator becomes a recording
 * reverse proxy: every request (control plane /api/..., toolbox
 * /toolbox/..., anything but /_emulator/) is forwarded with libcurl to the
 * upstream Daytona (the cloud, or another daytona-emu), the answer is
 * relayed back (status, the headers that matter, body), and the exchange
 * is written under DIR as one normalized JSON fixture (record_norm.h:
 * generated ids, names and timestamps become placeholders; secrets never
 * reach the file).  tools/dt-compare compares two such directories.
 *
 * toolboxProxyUrl (and /toolbox-proxy-url's `url`, /config's
 * proxyToolboxUrl) in upstream answers are rewritten to
 * <this server>/toolbox, so a client's toolbox calls come through the
 * recorder too; they are forwarded to the sandbox's real toolbox URL.
 *
 * Not relayed: WebSocket upgrades (501 with a message saying so) and
 * bodies over 64 MiB either way (413 / 502).  The admin API under
 * /_emulator/ stays local.
 *
 * One recorder per process: record_init() runs in main() before the HTTP
 * daemon starts; the handler is thread-safe afterwards.
 */
#ifndef EMU_RECORD_H
#define EMU_RECORD_H

#include <stddef.h>

#include "http.h"

/* Checks the upstream URL (http:// or https://; a trailing "/" or "/api"
 * is dropped), creates DIR (mkdir -p) and initializes libcurl.  Numbering
 * continues after the highest fixture already in DIR.  Returns 0, or -1
 * with a message in err. */
int record_init(const char *upstream, const char *dir, char *err, size_t errlen);

/* The route table for record mode: the /_emulator/ routes of `base`
 * followed by the forwarder.  malloc'd (free() it after the daemon has
 * stopped); NULL on OOM. */
emu_route *record_routes(const emu_route *base, size_t n, size_t *out_n);

/* Frees the recorder (after the HTTP daemon has stopped). */
void record_cleanup(void);

#endif
