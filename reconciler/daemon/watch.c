/* The watch loop (watch.h). Raw inotify rather than libinotifytools: the
 * library keeps its inotify fd to itself, so it cannot share one poll with
 * the signalfd and the timerfd. */
#include "reconciler/daemon/watch.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/timing.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/daemon/metrics.h"
#include "reconciler/daemon/prune.h"
#include "reconciler/schemas.h"
#include "reconciler/tree.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define NEVER INT64_MAX
#define MAX_DEPTH 32

/* The certificate timer: the earliest moment a default certificate of an
 * active CVM reaches its renewBefore, as wall-clock seconds; NEVER if none. */
static int64_t next_renewal(store_t *st) {
	int64_t next = NEVER;
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

/* ---- the watches ---- */

/* A watch on the parent of a -f target reports only events on the
 * target's own name (a symlink swapped, a directory replaced). */
typedef struct wd_info {
	int wd;
	bool parent;
	char *name; /* parent watches: the target's base name */
} wd_info_t;

typedef struct watcher {
	int fd;
	wd_info_t *v;
	size_t n, cap;
} watcher_t;

static void watcher_add(watcher_t *w, const char *path, uint32_t mask, bool parent, const char *name) {
	int wd = inotify_add_watch(w->fd, path, mask);
	if (wd < 0) {
		log_debug("cannot watch %s: %s", path, strerror(errno));
		return;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		w->v = xrealloc(w->v, w->cap * sizeof *w->v);
	}
	w->v[w->n++] = (wd_info_t){.wd = wd, .parent = parent, .name = name ? xstrdup(name) : NULL};
}

static const uint32_t DIR_EVENTS = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                   IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;

/* Watches dir and every directory under it (symlinked ones too: inotify
 * follows them), except .git. */
static void watch_tree(watcher_t *w, const char *dir, int depth) {
	watcher_add(w, dir, DIR_EVENTS | IN_ONLYDIR, false, NULL);
	if (depth >= MAX_DEPTH) return;
	DIR *d = opendir(dir);
	if (!d) return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git")) continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat sb;
		if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) watch_tree(w, p, depth + 1);
	}
	closedir(d);
}

static void watcher_close(watcher_t *w) {
	if (w->fd >= 0) close(w->fd);
	for (size_t i = 0; i < w->n; i++) free(w->v[i].name);
	free(w->v);
	*w = (watcher_t){.fd = -1};
}

/* (Re)builds every watch on a fresh inotify fd: the simplest answer to
 * an overflow, a removed watch or a replaced root, and safe because the
 * pass that follows reloads the whole tree anyway. */
static int watcher_build(watcher_t *w, const pass_opts_t *o) {
	watcher_close(w);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) return -errno;
	for (size_t i = 0; i < o->n_paths; i++) {
		const char *path = o->paths[i];
		_cleanup_free_ char *copy = xstrdup(path);
		char *slash = strrchr(copy, '/');
		while (slash && slash > copy && slash[1] == '\0') { /* "specs/" */
			*slash = '\0';
			slash = strrchr(copy, '/');
		}
		const char *base = slash ? slash + 1 : copy;
		_cleanup_free_ char *parent = slash ? (slash == copy ? xstrdup("/") : xasprintf("%.*s", (int)(slash - copy), copy))
		                                    : xstrdup(".");
		watcher_add(w, parent, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR, true, base);
		struct stat sb;
		if (stat(path, &sb) < 0) continue; /* it may come back: the parent watch sees it */
		if (S_ISDIR(sb.st_mode))
			watch_tree(w, path, 0);
		else
			watcher_add(w, path, IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF, false, NULL);
	}
	return 0;
}

static const wd_info_t *watcher_find(const watcher_t *w, int wd) {
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].wd == wd) return &w->v[i];
	return NULL;
}

/* Reads every queued event. Returns whether one concerns the tree and
 * sets *rescan when the watches must be rebuilt. */
static bool watcher_drain(const watcher_t *w, bool *rescan) {
	bool seen = false;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t len = read(w->fd, buf, sizeof buf);
		if (len <= 0) break;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_debug("inotify queue overflowed; rescanning the tree");
				*rescan = seen = true;
				continue;
			}
			const wd_info_t *wi = watcher_find(w, ev->wd);
			if (!wi) continue;
			const char *name = ev->len ? ev->name : "";
			if (wi->parent && strcmp(name, wi->name) != 0) continue;
			if (!strcmp(name, ".git")) continue;
			seen = true;
			if (wi->parent || (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) ||
			    ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM))))
				*rescan = true;
		}
	}
	return seen;
}

/* ---- the loop ---- */

/* Whether git is in the middle of writing the tree: .git/index.lock in
 * any directory from a -f target up to the root. */
static bool git_busy(const pass_opts_t *o) {
	for (size_t i = 0; i < o->n_paths; i++) {
		char dir[PATH_MAX];
		if (!realpath(o->paths[i], dir)) continue;
		for (;;) {
			_cleanup_free_ char *lock = xasprintf("%s/.git/index.lock", dir);
			if (access(lock, F_OK) == 0) return true;
			char *slash = strrchr(dir, '/');
			if (!slash || slash == dir) break;
			*slash = '\0';
		}
	}
	return false;
}

/* The tree's content hash, or NULL (the problems logged) when it does not load. */
static char *load_hash(const pass_opts_t *o) {
	spec_set_t s = {0};
	diags_t d = {0};
	if (spec_load(o->paths, o->n_paths, engine_schemas(), &s, &d) < 0) {
		diags_print(&d);
		log_error("%zu problem%s in the specs; nothing was changed, the daemon keeps the last good tree", d.n,
		          d.n == 1 ? "" : "s");
		diags_free(&d);
		spec_set_free(&s);
		return NULL;
	}
	diags_free(&d);
	char *h = tree_content_hash(&s);
	spec_set_free(&s);
	return h;
}

static int64_t jittered(int64_t base_ns) {
	/* +-10%: many daemons started together do not resync together */
	double f = 0.9 + 0.2 * ((double)rand() / RAND_MAX);
	return (int64_t)((double)base_ns * f);
}

static void arm(int tfd, int64_t at_ns) {
	struct itimerspec its = {0};
	if (at_ns != NEVER) {
		if (at_ns < 1) at_ns = 1;
		its.it_value.tv_sec = at_ns / NS_PER_S;
		its.it_value.tv_nsec = at_ns % NS_PER_S;
	}
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int daemon_watch(store_t *st, const pass_opts_t *o_in, const watch_cfg_t *cfg, watch_pass_fn one_pass) {
	for (size_t i = 0; i < o_in->n_paths; i++)
		if (strcmp(o_in->paths[i], "-") == 0) {
			log_error("--watch needs files or directories, not standard input");
			return EXIT_INVALID;
		}
	/* Blocked before any thread exists (the passes start observer
	 * threads), so the signals only ever arrive through the signalfd. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	watcher_t w = {.fd = -1};
	int r = sfd < 0 || tfd < 0 ? -errno : watcher_build(&w, o_in);
	if (r < 0) {
		log_error("cannot set up the watch loop: %s", strerror(-r));
		if (sfd >= 0) close(sfd);
		if (tfd >= 0) close(tfd);
		watcher_close(&w);
		return EXIT_FAILED;
	}
	srand((unsigned)(mono_ns() ^ getpid()));

	prune_t pr = {.delay_ns = cfg->prune_delay_s * NS_PER_S, .due_at = NEVER};
	pass_opts_t o = *o_in;
	o.hold_delete = prune_hold;
	o.hold_ctx = &pr;

	metrics_t *m = metrics_new();
	o.on_result = metrics_on_result;
	o.result_ctx = m;
	if (cfg->metrics_addr && metrics_serve(m, cfg->metrics_addr, cfg->metrics_port_file) < 0) {
		metrics_free(m);
		close(sfd);
		close(tfd);
		watcher_close(&w);
		return EXIT_FAILED;
	}
	metrics_refresh(m, st);

	log_info("watching %zu path%s (%zu directories); resync every %llds, debounce %lldms, prune delay %llds",
	         o.n_paths, o.n_paths == 1 ? "" : "s", w.n, (long long)cfg->resync_s, (long long)cfg->debounce_ms,
	         (long long)cfg->prune_delay_s);

	_cleanup_free_ char *last_hash = NULL;
	const char *trigger = "start"; /* why the next pass runs; NULL: only if the tree changed */
	int64_t debounce_at = mono_ns(), debounce_first = debounce_at;
	int64_t resync_at = NEVER;
	bool rescan = false, stop = false;
	unsigned long seq = 0;
	const int64_t debounce_ns = cfg->debounce_ms * NS_PER_MS;

	while (!stop) {
		int64_t now = mono_ns();
		if (debounce_at != NEVER && now >= debounce_at) {
			if (git_busy(&o)) {
				log_debug("waiting: git holds .git/index.lock");
				debounce_at = now + (debounce_ns > 0 ? debounce_ns : 100 * NS_PER_MS);
				continue;
			}
			debounce_at = NEVER;
			if (rescan) {
				if ((r = watcher_build(&w, &o)) < 0) log_warn("cannot rebuild the watches: %s", strerror(-r));
				log_debug("rescanned the tree: %zu watches", w.n);
				rescan = false;
			}
			if (!trigger && pr.due_at != NEVER && now >= pr.due_at) trigger = "prune";
			if (!trigger && now >= resync_at) trigger = "resync";
			_cleanup_free_ char *h = load_hash(&o);
			if (!h) {
				metrics_load_failed(m);
				trigger = NULL;
			} else if (!trigger && last_hash && strcmp(h, last_hash) == 0) {
				log_debug("tree unchanged (%s); no pass", h);
			} else {
				if (!trigger) trigger = "change";
				seq++;
				_cleanup_free_ char *rev = tree_revision(o.paths, o.n_paths);
				log_kv(LOG_INFO, LOG_FIELDS(LOG_S("trigger", trigger), LOG_S("revision", rev), LOG_N("pass", seq)),
				       "pass %lu start:", seq);
				metrics_set_ready(m, false);
				pass_report_t rep = {0};
				prune_begin(&pr, mono_ns());
				one_pass(st, &o, &rep);
				prune_end(&pr);
				free(last_hash);
				/* a failed pass is retried on the next event, not only the resync */
				last_hash = rep.code == 0 || rep.code == 4 ? rep.content_hash : NULL;
				if (last_hash != rep.content_hash) free(rep.content_hash);
				/* the metrics first: a scrape after the end line sees this pass */
				metrics_pass(m, &rep, now_s());
				metrics_refresh(m, st);
				metrics_set_ready(m, rep.code != 1 && rep.code != 3);
				log_kv(LOG_INFO,
				       LOG_FIELDS(LOG_S("trigger", trigger), LOG_N("exit", rep.code), LOG_N("duration", rep.seconds),
				                  LOG_S("revision", rev), LOG_S("content_hash", last_hash), LOG_N("pass", seq)),
				       "pass %lu end:", seq);
				trigger = NULL;
				resync_at = mono_ns() + jittered(cfg->resync_s * NS_PER_S);
			}
		}
		/* The next wake-up: the debounce, the resync, a due prune, or the
		 * certificate timer (wall-clock due time, taken as an offset). */
		int64_t wake = min64(debounce_at, min64(resync_at, pr.due_at));
		int64_t renew = next_renewal(st);
		if (renew != NEVER) {
			int64_t in_s = renew - now_s();
			int64_t renew_at = mono_ns() + (in_s > 0 ? in_s + 1 : 60) * NS_PER_S;
			if (renew_at < wake) {
				wake = renew_at;
			}
		}
		arm(tfd, wake);
		struct pollfd pfd[3] = {{.fd = sfd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}, {.fd = w.fd, .events = POLLIN}};
		if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
			log_error("poll failed: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGHUP) {
					log_info("SIGHUP: a pass now");
					trigger = "sighup";
					rescan = true;
					debounce_at = mono_ns();
				} else {
					stop = true;
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t ticks;
			if (read(tfd, &ticks, sizeof ticks) < 0) {
			}
			int64_t t = mono_ns();
			if (debounce_at == NEVER && (t >= resync_at || t >= pr.due_at || renew != NEVER)) {
				if (!trigger) trigger = t >= pr.due_at ? "prune" : t >= resync_at ? "resync" : "certificate";
				debounce_at = t;
			}
		}
		if (pfd[2].revents & POLLIN && watcher_drain(&w, &rescan)) {
			/* trailing debounce, but a steady stream of writes still gets a
			 * pass every 10 debounce periods */
			int64_t t = mono_ns();
			if (debounce_at == NEVER) debounce_first = t;
			debounce_at = min64(t + debounce_ns, debounce_first + 10 * debounce_ns);
		}
	}
	log_info("stopping on signal after %lu pass%s", seq, seq == 1 ? "" : "es");
	metrics_free(m);
	prune_free(&pr);
	watcher_close(&w);
	close(sfd);
	close(tfd);
	return EXIT_OK;
}
