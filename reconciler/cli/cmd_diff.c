/* cvmctl diff [-f PATH] [-o table|json]: drift between the backends and the
 * records, changing nothing (no state write, no lock). Each active record
 * of the scope (all scopes without --scope) is looked up on its backend:
 * a resource gone, found stopped while recorded running, or changed in a
 * field cvmctl sets (its markers: spec hash, name, scope; its size) is
 * drift; a record whose provider or host cannot be observed is Unknown,
 * never missing. Exit 0 none, 2 drift, 1 something Unknown (the first of
 * 1, 2 wins, as everywhere), 3 usage. */
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

/* One finding: kind is "missing", "stopped", "changed", "unknown". */
typedef struct finding {
	const cvm_record_t *r;
	const char *kind;
	const char *field; /* changed: which one */
	char *recorded, *observed;
	char *why; /* unknown: why */
} finding_t;

typedef struct findings {
	finding_t *v;
	size_t n, cap;
} findings_t;

static void add(findings_t *f, const cvm_record_t *r, const char *kind, const char *field, const char *rec,
                const char *obs, const char *why) {
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->v = xrealloc(f->v, f->cap * sizeof *f->v);
	}
	f->v[f->n++] = (finding_t){r, kind, field, rec ? xstrdup(rec) : NULL, obs ? xstrdup(obs) : NULL,
	                           why ? xstrdup(why) : NULL};
}

static bool same(const char *a, const char *b) {
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void add_int(findings_t *f, const cvm_record_t *r, const char *field, int rec, int obs) {
	char a[24], b[24];
	snprintf(a, sizeof a, "%d", rec);
	snprintf(b, sizeof b, "%d", obs);
	add(f, r, "changed", field, a, b, NULL);
}

/* The fields cvmctl sets on a resource, compared with what it recorded. A
 * backend that does not report a size (0) is not drift. */
static void compare(findings_t *f, const cvm_record_t *r, const observed_t *o) {
	if (o->state == RES_STOPPED && r->status != ST_STOPPED) add(f, r, "stopped", NULL, "running", "stopped", NULL);
	if (r->spec_hash && !same(r->spec_hash, o->spec_hash))
		add(f, r, "changed", "specHash", r->spec_hash, o->spec_hash ? o->spec_hash : "(none)", NULL);
	if (o->name && !same(r->name, o->name)) add(f, r, "changed", "name", r->name, o->name, NULL);
	if (o->scope && !same(r->scope, o->scope)) add(f, r, "changed", "scope", r->scope, o->scope, NULL);
	if (r->placement && o->placement && !same(r->placement, o->placement))
		add(f, r, "changed", "placement", r->placement, o->placement, NULL);
	if (o->vcpus && r->vcpus && o->vcpus != r->vcpus) add_int(f, r, "vcpus", r->vcpus, o->vcpus);
	if (o->memory_gib && r->memory_gib && o->memory_gib != r->memory_gib)
		add_int(f, r, "memoryGiB", r->memory_gib, o->memory_gib);
}

static void print_text(const findings_t *f, size_t checked) {
	size_t drift = 0, unknown = 0;
	for (size_t i = 0; i < f->n; i++) {
		const finding_t *x = &f->v[i];
		if (strcmp(x->kind, "unknown") == 0) {
			unknown++;
			printf("? unknown  %-24s %s  %s: %s\n", x->r->name, x->r->id, x->r->placement ? x->r->placement : x->r->provider,
			       x->why ? x->why : "cannot be observed");
		} else if (strcmp(x->kind, "changed") == 0) {
			drift++;
			printf("~ changed  %-24s %s  %s: recorded %s, observed %s\n", x->r->name, x->r->id, x->field, x->recorded,
			       x->observed);
		} else {
			drift++;
			printf("%s %-8s %-24s %s  %s\n", strcmp(x->kind, "missing") == 0 ? "-" : "!", x->kind, x->r->name,
			       x->r->id, strcmp(x->kind, "missing") == 0 ? "its resource is gone from its backend" : "found stopped");
		}
	}
	printf("%zu CVMs checked: %zu drift, %zu unknown\n", checked, drift, unknown);
}

static void print_json(const findings_t *f, size_t checked) {
	json_t *arr = json_array();
	size_t drift = 0, unknown = 0;
	for (size_t i = 0; i < f->n; i++) {
		const finding_t *x = &f->v[i];
		if (strcmp(x->kind, "unknown") == 0) unknown++;
		else drift++;
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", x->r->name, "id", x->r->id, "provider",
		                      x->r->provider, "kind", x->kind, "placement",
		                      x->r->placement ? json_string(x->r->placement) : json_null());
		if (x->field) json_object_set_new(o, "field", json_string(x->field));
		if (x->recorded) json_object_set_new(o, "recorded", json_string(x->recorded));
		if (x->observed) json_object_set_new(o, "observed", json_string(x->observed));
		if (x->why) json_object_set_new(o, "reason", json_string(x->why));
		json_array_append_new(arr, o);
	}
	json_t *j = json_pack("{s:I, s:I, s:I, s:o}", "checked", (json_int_t)checked, "drift", (json_int_t)drift,
	                      "unknown", (json_int_t)unknown, "findings", arr);
	_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2));
	printf("%s\n", s);
	json_decref(j);
}

int cmd_diff(int argc, char **argv) {
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"file", required_argument, NULL, 'f'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	_cleanup_free_ const char **paths = xcalloc((size_t)argc + 1, sizeof(char *));
	pass_opts_t o = {.paths = paths, .max_deletions = -1, .scope_given = G.scope_given};
	int fmt = OUT_TABLE, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if ((fmt = parse_output_format(optarg, false)) < 0) return EXIT_INVALID;
			if (fmt == OUT_YAML) return usage_error("diff", "-o must be table or json");
			break;
		case 'f': paths[o.n_paths++] = optarg; break;
		case 'h': printf("usage: cvmctl diff [-f PATH] [-o table|json]\n"); return EXIT_OK;
		default: return usage_error("diff", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("diff", "unexpected argument '%s'", argv[optind]);

	store_t *st = NULL;
	int code = open_store_for_reading(&st);
	if (code) return code;
	cvm_record_t *v = NULL;
	size_t n = 0;
	if (store_list_cvms(st, G.scope_given ? G.scope : NULL, &v, &n) < 0) {
		log_error("cannot read the state: %s", store_errmsg(st));
		close_store(st);
		return EXIT_FAILED;
	}
	live_view_t w = {0};
	findings_t f = {0};
	size_t checked = 0;
	if ((code = live_view_open(&w, st, v, n, &o, true))) goto out;
	for (size_t i = 0; i < n; i++) {
		const cvm_record_t *r = &v[i];
		/* Inactive: nothing should be there; Deleting: on its way out. */
		if (r->status == ST_INACTIVE || r->status == ST_DELETING) continue;
		checked++;
		const observed_t *ob;
		const char *why;
		switch (live_view_find(&w, r, &ob, &why)) {
		case LIVE_NO_PROVIDER:
			add(&f, r, "unknown", NULL, NULL, NULL, "its provider is not in the spec tree given with -f");
			break;
		case LIVE_UNKNOWN: add(&f, r, "unknown", NULL, NULL, NULL, why ? why : "cannot be observed"); break;
		case LIVE_MISSING: add(&f, r, "missing", NULL, NULL, NULL, NULL); break;
		case LIVE_FOUND: compare(&f, r, ob); break;
		}
	}
	bool unknown = false, drift = false;
	for (size_t i = 0; i < f.n; i++) {
		if (strcmp(f.v[i].kind, "unknown") == 0) unknown = true;
		else drift = true;
	}
	if (fmt == OUT_JSON) print_json(&f, checked);
	else print_text(&f, checked);
	code = unknown ? EXIT_FAILED : drift ? EXIT_CHANGES : EXIT_OK;
out:
	for (size_t i = 0; i < f.n; i++) {
		free(f.v[i].recorded);
		free(f.v[i].observed);
		free(f.v[i].why);
	}
	free(f.v);
	live_view_free(&w);
	cvm_records_free(v, n);
	close_store(st);
	return code;
}
