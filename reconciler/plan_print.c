/* The plan for people (text) and for programs (JSON, format_version 1).
 * Both are stable: golden files under tests/golden/plan/ hold them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/plan.h"

#define N_KINDS (ACT_UNKNOWN + 1)

/* The order of the summary, which is also the order people read a plan in. */
static const action_kind_t summary_order[] = {ACT_CREATE, ACT_ADOPT,  ACT_START,   ACT_UPDATE,
                                              ACT_REPLACE, ACT_DELETE, ACT_UNKNOWN, ACT_NOOP};

static const char *symbol(action_kind_t k) {
	switch (k) {
	case ACT_CREATE: return "+";
	case ACT_ADOPT: return "=";
	case ACT_START: return ">";
	case ACT_UPDATE: return "~";
	case ACT_REPLACE: return "-/+";
	case ACT_DELETE: return "-";
	case ACT_UNKNOWN: return "?";
	default: return " ";
	}
}

/* Counts per kind: of the actions that will be carried out, and of those a
 * safety rule held back. */
static void count(const plan_t *p, size_t done[N_KINDS], size_t refused[N_KINDS]) {
	memset(done, 0, N_KINDS * sizeof *done);
	memset(refused, 0, N_KINDS * sizeof *refused);
	for (size_t i = 0; i < p->n; i++) {
		const action_t *a = &p->v[i];
		if (a->refused)
			refused[a->kind]++;
		else
			done[a->kind]++;
	}
}

/* A brand-new CVM's id means nothing to people yet; an existing one's does. */
static bool show_id(const action_t *a) {
	return a->id[0] && (a->kind != ACT_CREATE || a->record);
}

void plan_print_text(const plan_t *p, FILE *f) {
	size_t done[N_KINDS], refused[N_KINDS];
	count(p, done, refused);

	if (p->n_changes == 0 && p->n_unknown == 0 && !p->refused) {
		fprintf(f, "No changes. %zu CVM%s up to date.\n", done[ACT_NOOP], done[ACT_NOOP] == 1 ? "" : "s");
		return;
	}

	int width = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind != ACT_NOOP && (int)strlen(p->v[i].name) > width) width = (int)strlen(p->v[i].name);

	for (size_t i = 0; i < p->n; i++) {
		const action_t *a = &p->v[i];
		if (a->kind == ACT_NOOP) continue;
		fprintf(f, "%3s %-8s %-*s", symbol(a->kind), action_kind_name(a->kind), width, a->name);
		if (show_id(a)) fprintf(f, "  %.8s…", a->id);
		if (a->n_fields > 0) {
			fputs("  [", f);
			for (size_t j = 0; j < a->n_fields; j++) fprintf(f, "%s%s", j ? ", " : "", a->fields[j]);
			fputc(']', f);
		}
		if (a->reason) fprintf(f, "  (%s)", a->reason);
		if (a->refused) fprintf(f, "  REFUSED: %s", a->refusal ? a->refusal : "held back by a safety rule");
		fputc('\n', f);
	}

	fputc('\n', f);
	fprintf(f,
	        "Plan: %zu to create, %zu to adopt, %zu to start, %zu to update, %zu to replace, %zu to delete; "
	        "%zu unknown; %zu up to date.\n",
	        done[ACT_CREATE], done[ACT_ADOPT], done[ACT_START], done[ACT_UPDATE], done[ACT_REPLACE],
	        done[ACT_DELETE], done[ACT_UNKNOWN], done[ACT_NOOP]);
	if (p->refused) {
		fputs("Refused by a safety rule (nothing is done for them):", f);
		bool first = true;
		for (size_t i = 0; i < ARRAY_SIZE(summary_order); i++) {
			action_kind_t k = summary_order[i];
			if (!refused[k]) continue;
			fprintf(f, "%s %zu to %s", first ? "" : ",", refused[k], action_kind_name(k));
			first = false;
		}
		fputs(".\n", f);
	}
}

static json_t *str_or_null(const char *s) {
	return s ? json_string(s) : json_null();
}

static json_t *action_json(const action_t *a) {
	json_t *o = json_object();
	json_object_set_new(o, "action", json_string(action_kind_name(a->kind)));
	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "id", a->id[0] ? json_string(a->id) : json_null());
	json_object_set_new(o, "provider", str_or_null(a->provider));
	json_object_set_new(o, "reason", str_or_null(a->reason));
	json_t *fields = json_array();
	for (size_t i = 0; i < a->n_fields; i++) json_array_append_new(fields, json_string(a->fields[i]));
	json_object_set_new(o, "fields", fields);
	json_object_set_new(o, "refused", json_boolean(a->refused));
	json_object_set_new(o, "refusal", str_or_null(a->refused ? a->refusal : NULL));
	return o;
}

char *plan_to_json(const plan_t *p) {
	size_t done[N_KINDS], refused[N_KINDS];
	count(p, done, refused);

	_cleanup_(json_decrefp) json_t *root = json_object();
	json_object_set_new(root, "format_version", json_integer(1));
	json_object_set_new(root, "scope", str_or_null(p->scope));
	json_t *actions = json_array();
	for (size_t i = 0; i < p->n; i++) json_array_append_new(actions, action_json(&p->v[i]));
	json_object_set_new(root, "actions", actions);

	/* Per kind: the actions that will be carried out; "refused" counts those
	 * held back, whatever their kind. */
	json_t *summary = json_object();
	size_t n_refused = 0;
	for (size_t i = 0; i < ARRAY_SIZE(summary_order); i++) {
		action_kind_t k = summary_order[i];
		json_object_set_new(summary, action_kind_name(k), json_integer((json_int_t)done[k]));
		n_refused += refused[k];
	}
	json_object_set_new(summary, "refused", json_integer((json_int_t)n_refused));
	json_object_set_new(summary, "changes", json_integer((json_int_t)p->n_changes));
	json_object_set_new(root, "summary", summary);
	json_object_set_new(root, "refused", json_boolean(p->refused));
	if (p->invalid) json_object_set_new(root, "invalid", json_string(p->invalid));

	char *s = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));
	if (!s) abort(); /* only on allocation failure, as xmalloc */
	return s;
}
