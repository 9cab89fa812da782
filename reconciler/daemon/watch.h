/* Watch mode: one poll loop over inotify (the spec tree, raw fds: the
 * library hides its own), a signalfd (SIGTERM, SIGINT, SIGHUP) and a
 * timerfd on CLOCK_MONOTONIC (debounce, resync, the certificate timer, the
 * prune delay). Events are only triggers: each pass reloads the tree and
 * runs when its content hash changed, on the resync, the certificate
 * timer, a due prune or SIGHUP. Each pass takes and releases the state
 * lock itself: the lock is held for one pass, never for the daemon's life. */
#ifndef CVM_DAEMON_WATCH_H
#define CVM_DAEMON_WATCH_H

#include <stdint.h>

#include "reconciler/apply.h"
#include "reconciler/pass.h"
#include "reconciler/store/store.h"

/* What one pass did, for the daemon's decisions and the metrics. */
typedef struct pass_report {
	int code;           /* the pass's exit code */
	char *content_hash; /* of the tree the pass loaded; NULL if it did not load */
	bool applied;       /* the plan was carried out: sum is valid */
	apply_summary_t sum;
	double seconds;
} pass_report_t;

typedef void (*watch_pass_fn)(store_t *st, const pass_opts_t *o, pass_report_t *out);

typedef struct watch_cfg {
	int64_t resync_s;      /* periodic pass, jittered by +-10% */
	int64_t debounce_ms;   /* quiet time after the last event of a burst */
	int64_t prune_delay_s; /* how long an absence must last before a delete */
	const char *metrics_addr;      /* "127.0.0.1:PORT" or NULL */
	const char *metrics_port_file; /* where the bound port is written, or NULL */
} watch_cfg_t;

/* Runs passes until SIGTERM or SIGINT. Returns an exit code. */
int daemon_watch(store_t *st, const pass_opts_t *o, const watch_cfg_t *cfg, watch_pass_fn pass);

#endif
