/* The watch loop: a pass, then a wait for a change under the spec paths
 * (inotify), the resync interval, the certificate timer, or a signal. */
#include "reconciler/daemon/watch.h"

#include <errno.h>
#include <inotifytools/inotifytools.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "common/defaults.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/certs.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
	(void)sig;
	stop_requested = 1;
}

/* The certificate timer: the earliest moment a default certificate of an
 * active CVM reaches its renewBefore, so the daemon wakes for it even when
 * the resync interval is longer. INT64_MAX if none. */
static int64_t next_renewal(store_t *st) {
	int64_t next = INT64_MAX;
	cvm_record_t *v = NULL;
	size_t n = 0;
	if (store_list_cvms(st, NULL, &v, &n) < 0) return next;
	for (size_t i = 0; i < n; i++) {
		if (v[i].status == ST_INACTIVE) continue;
		cert_record_t c = {0};
		if (certs_current_default(st, v[i].id, &c) < 0) continue;
		json_t *spec = v[i].spec_json ? json_loads(v[i].spec_json, 0, NULL) : NULL;
		json_t *rb = json_object_get(json_object_get(spec, "certificates"), "renewBefore");
		int64_t due = c.not_after - (json_is_integer(rb) ? json_integer_value(rb) : CVM_DEFAULT_RENEW_BEFORE_S);
		if (due < next) next = due;
		json_decref(spec);
		cert_record_free(&c);
	}
	cvm_records_free(v, n);
	return next;
}

static int watch_paths(const pass_opts_t *o) {
	if (!inotifytools_initialize()) return -errno;
	for (size_t i = 0; i < o->n_paths; i++) {
		if (strcmp(o->paths[i], "-") == 0) return -EINVAL;
		struct stat sb;
		if (stat(o->paths[i], &sb) < 0) return -errno;
		int events = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF;
		int ok = S_ISDIR(sb.st_mode) ? inotifytools_watch_recursively(o->paths[i], events)
		                             : inotifytools_watch_file(o->paths[i], events);
		if (!ok) return -inotifytools_error();
	}
	return 0;
}

int daemon_watch(store_t *st, const pass_opts_t *o, int64_t resync_s, watch_pass_fn one_pass) {
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int r = watch_paths(o);
	if (r < 0) {
		log_error("cannot watch the spec paths: %s", strerror(-r));
		return r == -EINVAL ? EXIT_INVALID : EXIT_FAILED;
	}
	log_info("watching %zu path%s; resync every %llds", o->n_paths, o->n_paths == 1 ? "" : "s", (long long)resync_s);
	while (!stop_requested) {
		int code = one_pass(st, o);
		if (code) log_warn("pass ended with exit code %d; the next pass retries", code);
		/* Wait for a change or the resync interval; a burst of writes (a
		 * git checkout) is folded into one pass by draining for 300 ms. */
		int64_t deadline = now_s() + resync_s;
		int64_t renew = next_renewal(st);
		if (renew < deadline) deadline = renew > now_s() ? renew + 1 : now_s() + 60;
		while (!stop_requested && now_s() < deadline) {
			struct inotify_event *ev = inotifytools_next_event(1);
			if (!ev) continue;
			log_debug("spec change seen; draining");
			while (inotifytools_next_events(0, 1) != NULL) {
			}
			struct timespec ts = {0, 300 * 1000000L};
			nanosleep(&ts, NULL);
			while (inotifytools_next_events(0, 1) != NULL) {
			}
			/* New directories must be watched too. */
			inotifytools_cleanup();
			watch_paths(o);
			break;
		}
	}
	inotifytools_cleanup();
	log_info("stopping on signal");
	return EXIT_OK;
}

