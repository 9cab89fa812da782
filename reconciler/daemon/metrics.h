/* Prometheus metrics of the reconciler: served on loopback by the daemon
 * (/metrics, /healthz, /readyz through libmicrohttpd, on its own thread so
 * that a long pass does not stall a scrape) or written once as a
 * node_exporter textfile after `reconcile --once`. The CVM gauges are read
 * from the records after each pass, which that pass has just made agree
 * with what the backends showed. */
#ifndef CVM_DAEMON_METRICS_H
#define CVM_DAEMON_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "reconciler/daemon/watch.h"
#include "reconciler/store/store.h"

typedef struct metrics metrics_t;

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);
/* Counts one pass (its result, duration and actions) at wall time now. */
void metrics_pass(metrics_t *m, const pass_report_t *r, int64_t now);
/* pass_opts_t.on_result: counts one action's result. */
void metrics_on_result(void *ctx, const char *provider, const char *action, const char *result);
/* Counts a tree that did not load (no pass ran). */
void metrics_load_failed(metrics_t *m);
/* Reads the CVMs by status and their certificates' expiry from the state. */
void metrics_refresh(metrics_t *m, store_t *st);
void metrics_set_ready(metrics_t *m, bool ready);
/* The exposition text; caller frees. */
char *metrics_render(metrics_t *m);
/* Serves on "HOST:PORT" (a loopback address; PORT 0 picks one, which is
 * logged and written to port_file when given). Returns 0 or -errno, logged. */
int metrics_serve(metrics_t *m, const char *addr, const char *port_file);
/* Writes the textfile atomically. Returns 0 or -errno, logged. */
int metrics_write_textfile(metrics_t *m, const char *path);

#endif
