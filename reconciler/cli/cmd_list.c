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
#include "reconciler/cli/live.h"

static void age(int64_t t, char *out, size_t n) {
	int64_t d = now_s() - t;
	if (d < 0) d = 0;
	if (d < 120) snprintf(out, n, "%llds", (long long)d);
	else if (d < 7200) snprintf(out, n, "%lldm", (long long)(d / 60));
	else if (d < 172800) snprintf(out, n, "%lldh", (long long)(d / 3600));
	else snprintf(out, n, "%lldd", (long long)(d / 86400));
}

/* Overlays what the backends show now on the records (not stored). */
static void refresh(cvm_record_t *v, size_t n, const live_view_t *w) {
	for (size_t i = 0; i < n; i++) {
		cvm_record_t *r = &v[i];
		if (r->status == ST_INACTIVE) continue;
		const observed_t *o;
		const char *why;
		switch (live_view_find(w, r, &o, &why)) {
		case LIVE_NO_PROVIDER: break;
		case LIVE_UNKNOWN: r->status = ST_UNKNOWN; break;
		case LIVE_MISSING:
			free(r->url);
			r->url = NULL;
			free(r->last_error);
			r->last_error = xstrdup("resource not found on its backend");
			r->status = ST_MISSING;
			break;
		case LIVE_FOUND:
			free(r->url);
			r->url = o->url ? xstrdup(o->url) : NULL;
			r->status = o->state == RES_STOPPED ? ST_STOPPED : o->state == RES_RUNNING ? ST_RUNNING : ST_CREATING;
			break;
		}
	}
}

/* The records in the chosen format; the table says how old a recorded
 * state is, since it was not observed live. */
static void print_records(store_t *st, const cvm_record_t *v, size_t n, int fmt, bool refreshed) {
	if (fmt == OUT_JSON || fmt == OUT_YAML) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *j = cvm_record_json(&v[i]);
			json_object_set_new(j, "conditions", cvm_conditions_json(st, v[i].id));
			json_array_append_new(arr, j);
		}
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
	pass_opts_t o = {.paths = paths, .max_deletions = -1, .scope_given = G.scope_given};
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
	live_view_t w = {0};
	if (do_refresh) {
		code = live_view_open(&w, st, v, n, &o, false);
		if (code) goto out;
		refresh(v, n, &w);
	}

	print_records(st, v, n, fmt, do_refresh);
out:
	live_view_free(&w);
	cvm_records_free(v, n);
	close_store(st);
	return code;
}
