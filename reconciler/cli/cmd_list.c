/* cvmctl list [--refresh -f PATH] [-o table|wide|json|yaml]: every CVM of the
 * state, Inactive ones too. Recorded state by default; --refresh observes
 * the backends first (read-only: the records are not changed), reaching
 * them with the spec tree's providers (-f) or the settings the last
 * reconcile recorded. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/cli/cli.h"
#include "reconciler/pass.h"
#include "reconciler/provider_record.h"

static void age(int64_t t, char *out, size_t n) {
	int64_t d = now_s() - t;
	if (d < 0) d = 0;
	if (d < 120) snprintf(out, n, "%llds", (long long)d);
	else if (d < 7200) snprintf(out, n, "%lldm", (long long)(d / 60));
	else if (d < 172800) snprintf(out, n, "%lldh", (long long)(d / 3600));
	else snprintf(out, n, "%lldd", (long long)(d / 86400));
}

/* What one provider shows now. */
typedef struct live {
	const char *name;
	const observation_t *obs; /* NULL: could not be observed */
} live_t;

/* Overlays what the backends show now on the records (not stored). */
static void refresh(cvm_record_t *v, size_t n, const live_t *lv, size_t n_lv) {
	for (size_t i = 0; i < n; i++) {
		cvm_record_t *r = &v[i];
		if (r->status == ST_INACTIVE) continue;
		const live_t *l = NULL;
		for (size_t k = 0; k < n_lv; k++)
			if (strcmp(lv[k].name, r->provider) == 0) l = &lv[k];
		if (!l) continue;
		bool unknown = !l->obs;
		for (size_t u = 0; l->obs && u < l->obs->n_unknown; u++)
			if (r->placement && strcmp(l->obs->unknown[u].placement, r->placement) == 0) unknown = true;
		if (unknown) {
			r->status = ST_UNKNOWN;
			continue;
		}
		const observed_t *o = NULL;
		for (size_t k = 0; k < l->obs->n; k++)
			if (strcmp(l->obs->v[k].id, r->id) == 0) o = &l->obs->v[k];
		free(r->url);
		r->url = o ? xstrdup(o->url) : NULL;
		if (!o) {
			free(r->last_error);
			r->last_error = xstrdup("resource not found on its backend");
			r->status = ST_FAILED;
		} else {
			r->status = o->state == RES_STOPPED ? ST_STOPPED : o->state == RES_RUNNING ? ST_RUNNING : ST_CREATING;
		}
	}
}

/* Without the spec tree: reach each provider of an active record with the
 * settings the last reconcile recorded. */
typedef struct recorded_backend {
	provider_config_t cfg;
	provider_holder_t holder;
	const provider_ops_t *ops;
	provider_t *conn;
	observation_t obs;
	bool observed;
} recorded_backend_t;

static size_t observe_recorded(store_t *st, const cvm_record_t *v, size_t n, recorded_backend_t **out, live_t **lv) {
	recorded_backend_t *rb = xcalloc(n + 1, sizeof *rb);
	live_t *l = xcalloc(n + 1, sizeof *l);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].status == ST_INACTIVE) continue;
		bool seen = false;
		for (size_t k = 0; k < m; k++)
			if (strcmp(l[k].name, v[i].provider) == 0) seen = true;
		if (seen) continue;
		recorded_backend_t *b = &rb[m];
		l[m].name = v[i].provider;
		m++;
		char *err = NULL;
		if (provider_record_load(st, v[i].provider, &b->cfg, &b->holder) < 0) {
			log_warn("provider %s: no recorded settings (run a reconcile, or pass -f)", v[i].provider);
			continue;
		}
		if (!(b->ops = provider_ops_for(b->cfg.flavor)) || prov_open(b->ops, &b->cfg, &b->conn, &err) < 0 ||
		    prov_observe(b->ops, b->conn, NULL, 0, &b->obs, &err) < 0) {
			log_warn("provider %s cannot be observed: %s", v[i].provider, err ? err : "backend not built in");
			free(err);
			continue;
		}
		free(err);
		b->observed = true;
		l[m - 1].obs = &b->obs;
		for (size_t u = 0; u < b->obs.n_unknown; u++)
			log_warn("host %s of provider %s cannot be observed: %s", b->obs.unknown[u].placement, v[i].provider,
			         b->obs.unknown[u].why);
	}
	*out = rb;
	*lv = l;
	return m;
}

static void recorded_free(recorded_backend_t *rb, size_t m) {
	for (size_t i = 0; i < m; i++) {
		observation_free(&rb[i].obs);
		if (rb[i].conn) rb[i].ops->close(rb[i].conn);
		provider_record_release(&rb[i].cfg, &rb[i].holder);
	}
	free(rb);
}

/* The records in the chosen format; the table says how old a recorded
 * state is, since it was not observed live. */
static void print_records(const cvm_record_t *v, size_t n, int fmt, bool refreshed) {
	if (fmt == OUT_JSON || fmt == OUT_YAML) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) json_array_append_new(arr, cvm_record_json(&v[i]));
		if (fmt == OUT_JSON) {
			_cleanup_free_ char *s = json_dumps(arr, JSON_INDENT(2));
			printf("%s\n", s);
		} else {
			print_json_as_yaml(arr);
		}
		json_decref(arr);
		return;
	}
	if (fmt == OUT_WIDE)
		printf("%-24s %-36s %-22s %-16s %-9s %-8s %-36s %5s %6s %5s  %s\n", "NAME", "ID", "URL", "BACKEND",
		       "STATUS", "SCOPE", "PLACEMENT", "VCPUS", "MEMGIB", "AGE", "LAST-ERROR");
	else
		printf("%-24s %-36s %-22s %-16s %s\n", "NAME", "ID", "URL", "BACKEND", "STATUS");
	for (size_t i = 0; i < n; i++) {
		const cvm_record_t *r = &v[i];
		_cleanup_free_ char *backend = xasprintf("%s/%s", r->flavor, r->provider);
		if (fmt == OUT_WIDE) {
			char a[32];
			age(r->updated_at, a, sizeof a);
			printf("%-24s %-36s %-22s %-16s %-9s %-8s %-36s %5d %6d %5s  %s\n", r->name, r->id,
			       r->url ? r->url : "-", backend, cvm_status_name(r->status), r->scope,
			       r->placement ? r->placement : "-", r->vcpus, r->memory_gib, a, r->last_error ? r->last_error : "");
		} else {
			printf("%-24s %-36s %-22s %-16s %s\n", r->name, r->id, r->url ? r->url : "-", backend,
			       cvm_status_name(r->status));
		}
	}
	if (!refreshed && n) {
		int64_t newest = 0;
		for (size_t i = 0; i < n; i++)
			if (v[i].updated_at > newest) newest = v[i].updated_at;
		char a[32];
		age(newest, a, sizeof a);
		fflush(stdout);
		if (log_get_format() == LOG_JSON)
			log_info("recorded state, last changed %s ago; --refresh observes it live", a);
		else
			fprintf(stderr, "(recorded state, last changed %s ago; --refresh observes it live)\n", a);
	}
}

int cmd_list(int argc, char **argv) {
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"refresh", no_argument, NULL, 'r'},
	                                     {"file", required_argument, NULL, 'f'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	_cleanup_free_ const char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	pass_opts_t o = {.paths = paths, .max_deletions = -1};
	int fmt = OUT_TABLE, c;
	bool do_refresh = false;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if ((fmt = parse_output_format(optarg, true)) < 0) return EXIT_INVALID;
			break;
		case 'r': do_refresh = true; break;
		case 'f': paths[o.n_paths++] = optarg; break;
		case 'h': printf("usage: cvmctl list [--refresh [-f PATH]] [-o table|wide|json|yaml]\n"); return EXIT_OK;
		default: return usage_error("list", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("list", "unexpected argument '%s'", argv[optind]);

	store_t *st = NULL;
	int code = open_store_for_reading(&st);
	if (code) return code;
	cvm_record_t *v = NULL;
	size_t n = 0;
	if (store_list_cvms(st, NULL, &v, &n) < 0) {
		log_error("cannot read the state: %s", store_errmsg(st));
		close_store(st);
		return EXIT_FAILED;
	}
	pass_t p = {0};
	recorded_backend_t *rb = NULL;
	_cleanup_free_ live_t *lv = NULL;
	size_t n_lv = 0;
	if (do_refresh && o.n_paths) {
		code = pass_prepare(&p, st, G.scope, &o);
		if (code) goto out;
		lv = xcalloc(p.n_backends + 1, sizeof *lv);
		for (size_t i = 0; i < p.n_backends; i++)
			lv[n_lv++] = (live_t){p.backends[i].cfg.name, p.backends[i].observed ? &p.backends[i].obs : NULL};
		refresh(v, n, lv, n_lv);
	} else if (do_refresh) {
		n_lv = observe_recorded(st, v, n, &rb, &lv);
		refresh(v, n, lv, n_lv);
	}

	print_records(v, n, fmt, do_refresh);
out:
	if (do_refresh && o.n_paths) pass_free(&p);
	if (rb) recorded_free(rb, n_lv);
	cvm_records_free(v, n);
	close_store(st);
	return code;
}
