/* The plan for people (text) and for programs (JSON, format_version 2.0,
 * documented in cvmctl(1) under SAVED PLANS). Both are stable: golden files
 * under tests/golden/plan/ hold them, and the JSON carries nothing that
 * changes from one run to the next (no time, no random value), so two
 * plans of the same tree, world and records are byte-identical. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/plan.h"
#include "reconciler/plan_file.h"

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

static const char *cert_reason(const action_t *a) {
	if (a->cert == CERT_PUBLISH) return "its current certificate was never delivered; publishing it";
	if (a->cert_state && !a->cert_state->serial) return "it has no valid certificate; issuing and publishing one";
	return "its certificate reached renewBefore; renewing and publishing it";
}

/* A brand-new CVM's id means nothing to people yet; an existing one's does. */
static bool show_id(const action_t *a) {
	return a->id[0] && (a->kind != ACT_CREATE || a->record);
}

void plan_print_text(const plan_t *p, FILE *f) {
	size_t done[N_KINDS], refused[N_KINDS];
	count(p, done, refused);

	if (p->n_changes == 0 && p->n_unknown == 0 && !p->refused && p->n_cert == 0) {
		fprintf(f, "No changes. %zu CVM%s up to date.\n", done[ACT_NOOP], done[ACT_NOOP] == 1 ? "" : "s");
		return;
	}

	int width = 0;
	for (size_t i = 0; i < p->n; i++)
		if ((p->v[i].kind != ACT_NOOP || p->v[i].cert) && (int)strlen(p->v[i].name) > width)
			width = (int)strlen(p->v[i].name);

	for (size_t i = 0; i < p->n; i++) {
		const action_t *a = &p->v[i];
		if (a->cert != CERT_NONE && a->kind == ACT_NOOP) {
			fprintf(f, "%3s %-8s %-*s  %.8s…  (%s)\n", "*", a->cert == CERT_RENEW ? "renew" : "publish", width,
			        a->name, a->id, cert_reason(a));
			continue;
		}
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
		if (a->cert != CERT_NONE)
			fprintf(f, "%3s %-8s %-*s  %.8s…  (%s)\n", "*", a->cert == CERT_RENEW ? "renew" : "publish", width,
			        a->name, a->id, cert_reason(a));
	}

	fputc('\n', f);
	fprintf(f,
	        "Plan: %zu to create, %zu to adopt, %zu to start, %zu to update, %zu to replace, %zu to delete; "
	        "%zu unknown; %zu up to date.\n",
	        done[ACT_CREATE], done[ACT_ADOPT], done[ACT_START], done[ACT_UPDATE], done[ACT_REPLACE],
	        done[ACT_DELETE], done[ACT_UNKNOWN], done[ACT_NOOP]);
	if (p->n_cert) fprintf(f, "Certificates: %zu to renew or publish.\n", p->n_cert);
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

/* Where the action acts: the chosen target of a create or replace, else
 * where the resource is (or was last recorded). */
static const char *placement_of(const action_t *a) {
	if (a->kind == ACT_CREATE || a->kind == ACT_REPLACE) return a->placement;
	if (a->observed && a->observed->placement) return a->observed->placement;
	return a->record ? a->record->placement : NULL;
}

static json_t *action_json(const action_t *a) {
	json_t *o = json_object();
	json_object_set_new(o, "action", json_string(action_kind_name(a->kind)));
	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "id", a->id[0] ? json_string(a->id) : json_null());
	json_object_set_new(o, "provider", str_or_null(a->provider));
	json_object_set_new(o, "placement", str_or_null(placement_of(a)));
	if (a->place_err) json_object_set_new(o, "placement_error", json_string(a->place_err));
	json_object_set_new(o, "reason_code", str_or_null(a->code));
	json_object_set_new(o, "reason", str_or_null(a->reason));
	json_t *fields = json_array();
	for (size_t i = 0; i < a->n_fields; i++) json_array_append_new(fields, json_string(a->fields[i]));
	json_object_set_new(o, "fields", fields);
	json_object_set_new(o, "changes", a->changes ? json_incref(a->changes) : json_array());
	json_object_set_new(o, "refused", json_boolean(a->refused));
	json_object_set_new(o, "refusal_code", str_or_null(a->refused ? a->refusal_code : NULL));
	json_object_set_new(o, "refusal", str_or_null(a->refused ? a->refusal : NULL));
	return o;
}

/* A certificate action, after the CVM's own. */
static json_t *cert_json(const action_t *a) {
	const cert_state_t *c = a->cert_state;
	json_t *o = json_object();
	json_object_set_new(o, "action", json_string(cert_action_name(a->cert)));
	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "id", json_string(a->id));
	json_object_set_new(o, "provider", str_or_null(a->provider));
	json_object_set_new(o, "placement", str_or_null(placement_of(a)));
	json_object_set_new(o, "reason_code", json_string(a->cert == CERT_RENEW ? "cert-renewal" : "cert-rotation"));
	json_object_set_new(o, "reason", json_string(cert_reason(a)));
	json_object_set_new(o, "fields", json_array());
	json_t *ch = json_array();
	json_t *serial = json_object();
	json_object_set_new(serial, "field", json_string(a->cert == CERT_RENEW ? "certificate.serial" : "certificate.delivered"));
	if (a->cert == CERT_RENEW) {
		/* after: null, a new certificate issued when the plan is applied */
		json_object_set_new(serial, "before", str_or_null(c ? c->serial : NULL));
		json_object_set_new(serial, "after", json_null());
	} else {
		json_object_set_new(serial, "before", str_or_null(c ? c->delivered_serial : NULL));
		json_object_set_new(serial, "after", str_or_null(c ? c->serial : NULL));
	}
	json_array_append_new(ch, serial);
	if (a->cert == CERT_RENEW && c && c->serial) {
		json_t *na = json_object();
		json_object_set_new(na, "field", json_string("certificate.notAfter"));
		json_object_set_new(na, "before", json_integer((json_int_t)c->not_after));
		json_object_set_new(na, "after", json_null());
		json_array_append_new(ch, na);
	}
	json_object_set_new(o, "changes", ch);
	json_object_set_new(o, "refused", json_false());
	json_object_set_new(o, "refusal_code", json_null());
	json_object_set_new(o, "refusal", json_null());
	return o;
}

json_t *plan_to_json_value(const plan_t *p, const plan_meta_t *m) {
	size_t done[N_KINDS], refused[N_KINDS];
	count(p, done, refused);
	plan_meta_t none = {.max_deletions = -1};
	if (!m) m = &none;

	json_t *root = json_object();
	json_object_set_new(root, "format_version", json_sprintf("%d.%d", PLAN_FORMAT_MAJOR, PLAN_FORMAT_MINOR));
	json_object_set_new(root, "cvmctl_version", str_or_null(m->version));
	json_object_set_new(root, "scope", str_or_null(p->scope));
	json_object_set_new(root, "installation_id", str_or_null(m->installation));

	json_t *tree = json_object();
	json_t *paths = json_array();
	for (size_t i = 0; i < m->n_paths; i++) json_array_append_new(paths, json_string(m->paths[i]));
	json_object_set_new(tree, "paths", paths);
	json_object_set_new(tree, "content_hash", str_or_null(m->content_hash));
	json_object_set_new(tree, "revision", str_or_null(m->revision));
	json_object_set_new(root, "tree", tree);

	json_t *flags = json_object();
	json_object_set_new(flags, "allow_replace", json_boolean(m->allow_replace));
	json_object_set_new(flags, "allow_empty", json_boolean(m->allow_empty));
	json_object_set_new(flags, "max_deletions", m->max_deletions >= 0 ? json_integer(m->max_deletions) : json_null());
	json_object_set_new(root, "flags", flags);

	json_t *actions = json_array();
	for (size_t i = 0; i < p->n; i++) {
		json_array_append_new(actions, action_json(&p->v[i]));
		if (p->v[i].cert != CERT_NONE) json_array_append_new(actions, cert_json(&p->v[i]));
	}
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
	size_t n_renew = 0, n_publish = 0;
	for (size_t i = 0; i < p->n; i++) {
		n_renew += p->v[i].cert == CERT_RENEW;
		n_publish += p->v[i].cert == CERT_PUBLISH;
	}
	json_object_set_new(summary, cert_action_name(CERT_RENEW), json_integer((json_int_t)n_renew));
	json_object_set_new(summary, cert_action_name(CERT_PUBLISH), json_integer((json_int_t)n_publish));
	json_object_set_new(summary, "refused", json_integer((json_int_t)n_refused));
	json_object_set_new(summary, "changes", json_integer((json_int_t)p->n_changes));
	json_object_set_new(root, "summary", summary);
	json_object_set_new(root, "refused", json_boolean(p->refused));
	if (p->invalid) json_object_set_new(root, "invalid", json_string(p->invalid));
	plan_doc_seal(root);
	return root;
}

char *plan_to_json(const plan_t *p, const plan_meta_t *m) {
	_cleanup_(json_decrefp) json_t *root = plan_to_json_value(p, m);
	char *s = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));
	if (!s) abort(); /* only on allocation failure, as xmalloc */
	return s;
}
