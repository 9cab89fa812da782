/* Watch mode: one poll loop over inotify (the spec tree), a signalfd and a
 * timerfd (resync and the certificate timer). Each wake-up runs one pass
 * through the callback, which takes and releases the state lock itself: the
 * lock is held for one pass, never for the life of the daemon. */
#ifndef CVM_DAEMON_WATCH_H
#define CVM_DAEMON_WATCH_H

#include <stdint.h>

#include "reconciler/pass.h"
#include "reconciler/store/store.h"

typedef int (*watch_pass_fn)(store_t *st, const pass_opts_t *o);

/* Runs passes until SIGTERM or SIGINT. Returns an exit code. */
int daemon_watch(store_t *st, const pass_opts_t *o, int64_t resync_s, watch_pass_fn pass);

#endif
