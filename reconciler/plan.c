/* The plan: what a reconcile pass would do, and why.
 *
 * A pure function of (desired specs, observed resources, records): no I/O, no
 * clock, no randomness; the ids of new CVMs come from in->new_ids, in spec
 * order. The rules, in the order they are applied:
 *
 * Scope. Only records with record.scope == in->scope are ours to act on. A
 * desired CVM whose name is active (status not Inactive) in another scope
 * makes the whole plan invalid (-EINVAL, plan->invalid names the spec's
 * file:line:column): names are unique among the active CVMs of a state.
 *
 * Desired CVMs (specs with state: active). R is the record of our scope with
 * that name and a status other than Inactive; O is the resource observed with
 * R's id, in any provider's observation.
 *  - Unknown is not absent: when the spec's provider could not be observed
 *    (no observation, or all_unknown), or R's placement is among the places
 *    that could not be observed, the CVM is UNKNOWN and nothing is done for
 *    it. With no R and the whole provider unknown it is UNKNOWN too: we
 *    cannot know that it does not exist. With no R and only some places
 *    unknown, a create is allowed (placement never picks an unknown place).
 *    When R was made by another provider than the spec's, that provider must
 *    be observable as well.
 *  - R exists:
 *    . R's provider or flavor differs from the spec's: REPLACE
 *      (fields spec.flavor / spec.provider).
 *    . O absent: CREATE under R's id (a create recorded as Creating is
 *      resumed, a Failed one retried; a resource that disappeared behind our
 *      back is recreated; a CVM being deleted that is desired again is
 *      created again).
 *    . O carries another spec hash: the fields that changed are found by
 *      comparing R.spec_json (the canonical spec last applied) with the
 *      desired canonical spec, the Provider settings that reach the CVM
 *      included (named provider.FIELD). flavor and provider never change in
 *      place, nor what the backend's schema says cannot (its replace_fields,
 *      such as spec.vcpus, and its FX_REPLACE Provider fields, such as
 *      provider.kernel): REPLACE; anything else (labels, agent.*,
 *      certificates.*, FX_UPDATE Provider fields): UPDATE. A top-level key
 *      R.spec_json lacks was added to the canonical form after R was
 *      written: it counts as unchanged, so the first pass after an upgrade
 *      updates markers in place and replaces nothing. Without a usable
 *      R.spec_json, O's vCPUs and memory are compared with the spec
 *      instead.
 *    . O found stopped: START.
 *    . otherwise NOOP; when R's status is stale (Creating, Failed, Unknown,
 *      ...) the reason says so, and apply uses the NOOP to refresh it.
 *  - No R: an owned resource (same name, our installation and scope, and no
 *    record of its id in any scope) is ADOPTed under its own id. A resource of
 *    the same name owned by another installation or scope is never taken
 *    over: the CVM is created anyway (the backend refuses the name clash and
 *    apply records the failure) and the reason says so. Otherwise CREATE
 *    with the next new id (-ENOSPC when they run out).
 *
 * Deletions. Records of our scope, not Inactive, whose name is not desired
 * (spec removed, or state: inactive): DELETE, also when the resource is
 * already gone (apply then marks the record Inactive and revokes its
 * certificates). When the record's provider has no view (it left the specs),
 * or it or the record's placement could not be observed: UNKNOWN.
 *
 * Orphans. A resource of our installation and scope whose id has no record
 * (and whose name is not desired), or whose record is Inactive (a leftover:
 * an Inactive CVM cannot come back), is DELETEd: that is what a crash during
 * a delete followed by a lost state needs. Resources of other installations
 * or scopes are never touched.
 *
 * Safety. A spec set with no CVM at all (inactive ones count as CVMs) refuses
 * every delete unless allow_empty. More deletes than max_deletions (when
 * >= 0) refuses all of them; the rest of the plan stands. A replace needs
 * allow_replace. Refused actions stay in the plan, marked, and set
 * plan->refused.
 *
 * Certificates. A desired CVM whose resource runs after its action (NOOP of a
 * running one, START, ADOPT, UPDATE of a running one) and whose state in
 * in->certs is not backing off from a failed rotation gets CERT_RENEW when
 * its default certificate is due (or it has none), else CERT_PUBLISH when
 * the current one was never delivered (not for an UPDATE: the update
 * delivers it). Rotation carries out exactly these (rotate.c).
 *
 * Ids. A new CVM takes the next of in->new_ids, or, when there are none,
 * an id derived from (installation, scope, name, generation): see plan.h.
 *
 * Output: actions sorted by name, then kind. n_changes counts actions other
 * than NOOP and UNKNOWN that are not refused, and NOOPs with a certificate
 * action.
 * Every action carries a reason code and its changes (field, before,
 * after) for the JSON plan.
 *
 * Cost: the lookups these rules make (the record of a name, the observation
 * of an id, ...) go through indexes built once per call (plan_index.h), so
 * a plan is linear in its inputs plus the final sort. */
#include "reconciler/plan.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/plan_index.h"

const char *action_kind_name(action_kind_t k) {
	switch (k) {
	case ACT_NOOP: return "noop";
	case ACT_CREATE: return "create";
	case ACT_ADOPT: return "adopt";
	case ACT_START: return "start";
	case ACT_UPDATE: return "update";
	case ACT_REPLACE: return "replace";
	case ACT_DELETE: return "delete";
	case ACT_UNKNOWN: return "unknown";
	}
	return "?";
}

const char *cert_action_name(cert_action_t c) {
	switch (c) {
	case CERT_NONE: return "none";
	case CERT_RENEW: return "renew-certificate";
	case CERT_PUBLISH: return "publish-certificate";
	}
	return "?";
}

typedef struct planner {
	const plan_input_t *in;
	plan_t *p;
	size_t cap;
	size_t next_id;
	plan_index_t ix; /* every lookup below goes through it */
	strmap_t generations; /* name -> records of that name (derived ids), built on first use */
	bool have_generations;
} planner_t;

static action_t *add_action(planner_t *pl, action_kind_t kind, const char *name, const char *id) {
	plan_t *p = pl->p;
	if (p->n == pl->cap) {
		pl->cap = pl->cap ? 2 * pl->cap : 16;
		p->v = xrealloc(p->v, pl->cap * sizeof *p->v);
	}
	action_t *a = &p->v[p->n++];
	memset(a, 0, sizeof *a);
	a->kind = kind;
	a->name = name;
	snprintf(a->id, sizeof a->id, "%s", id ? id : "");
	a->provider_idx = pl->in->n_providers;
	a->changes = pl->in->describe ? json_array() : NULL;
	return a;
}

/* One changed field: before and after are borrowed (NULL: null). */
static void add_change(action_t *a, const char *field, json_t *before, json_t *after) {
	if (!a->changes) return; /* not describing */
	json_t *c = json_object();
	json_object_set_new(c, "field", json_string(field));
	json_object_set(c, "before", before ? before : json_null());
	json_object_set(c, "after", after ? after : json_null());
	json_array_append_new(a->changes, c);
}

static void add_change_str(action_t *a, const char *field, const char *before, const char *after) {
	_cleanup_(json_decrefp) json_t *b = before ? json_string(before) : NULL;
	_cleanup_(json_decrefp) json_t *f = after ? json_string(after) : NULL;
	add_change(a, field, b, f);
}

static void add_change_int(action_t *a, const char *field, long long before, long long after) {
	_cleanup_(json_decrefp) json_t *b = json_integer(before);
	_cleanup_(json_decrefp) json_t *f = json_integer(after);
	add_change(a, field, b, f);
}

/* What the resource is, in a change of "state". */
static const char *res_word(const observed_t *o) {
	if (!o) return "absent";
	return o->state == RES_STOPPED ? "stopped" : o->state == RES_RUNNING ? "running" : res_state_name(o->state);
}

static void add_field(action_t *a, const char *field) {
	a->fields = xrealloc(a->fields, (a->n_fields + 1) * sizeof *a->fields);
	a->fields[a->n_fields++] = xstrdup(field);
}

static void set_provider(planner_t *pl, action_t *a, const char *name) {
	a->provider = name;
	for (size_t i = 0; i < pl->in->n_providers; i++)
		if (streq(pl->in->providers[i].name, name)) {
			a->provider_idx = i;
			a->provider = pl->in->providers[i].name;
			return;
		}
}

static const provider_view_t *view_by_name(const plan_input_t *in, const char *name) {
	for (size_t i = 0; i < in->n_providers; i++)
		if (streq(in->providers[i].name, name)) return &in->providers[i];
	return NULL;
}

static bool view_unknown(const provider_view_t *v) {
	return !v || !v->obs || v->obs->all_unknown;
}

/* The word people use for a placement of this backend. */
static const char *place_word(const provider_view_t *v) {
	return v && v->schema && v->schema->place_noun ? v->schema->place_noun : "place";
}

static const unknown_place_t *unknown_place(const provider_view_t *v, const char *placement) {
	if (!placement || !v || !v->obs) return NULL;
	for (size_t i = 0; i < v->obs->n_unknown; i++)
		if (streq(v->obs->unknown[i].placement, placement)) return &v->obs->unknown[i];
	return NULL;
}

static char *provider_unknown_reason(const char *provider, const provider_view_t *v) {
	if (!v) return xasprintf("provider %s was not opened this pass", provider);
	if (v->obs && v->obs->n_unknown > 0 && v->obs->unknown[0].why)
		return xasprintf("provider %s could not be observed: %s", provider, v->obs->unknown[0].why);
	return xasprintf("provider %s could not be observed", provider);
}

/* Whether what lives at (provider, placement) can be judged this pass; if
 * not, *why says why. placement NULL: only the provider as a whole. */
static bool reachable(const plan_input_t *in, const char *provider, const char *placement, const char *missing_hint,
                      char **why) {
	const provider_view_t *v = view_by_name(in, provider);
	if (!v) {
		*why = xasprintf("its provider %s is no longer in the specs; restore the provider to %s", provider,
		                 missing_hint);
		return false;
	}
	if (view_unknown(v)) {
		*why = provider_unknown_reason(provider, v);
		return false;
	}
	const unknown_place_t *u = unknown_place(v, placement);
	if (u) {
		*why = xasprintf("%s %s could not be observed: %s", place_word(v), u->placement,
		                 u->why ? u->why : "no reason given");
		return false;
	}
	return true;
}

static const char *spec_provider_name(const spec_set_t *s, const cvm_spec_t *c) {
	if (c->provider_idx < s->n_providers) return s->providers[c->provider_idx].name;
	return c->provider;
}

/* ---- which fields changed ---- */

static int cmp_str(const void *a, const void *b) {
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted union of two objects' keys. */
static const char **object_keys(json_t *a, json_t *b, size_t *n) {
	size_t cap = json_object_size(a) + json_object_size(b), k = 0;
	const char **keys = xcalloc(cap ? cap : 1, sizeof *keys);
	const char *key;
	json_t *val;
	json_object_foreach(a, key, val) keys[k++] = key;
	json_object_foreach(b, key, val) if (!json_object_get(a, key)) keys[k++] = key;
	qsort(keys, k, sizeof *keys, cmp_str);
	*n = k;
	return keys;
}

static void diff_json(action_t *a, const char *path, json_t *old, json_t *new) {
	if (old && new && json_equal(old, new)) return;
	if (!json_is_object(old) || !json_is_object(new)) {
		add_field(a, path);
		add_change(a, path, old, new);
		return;
	}
	size_t n;
	_cleanup_free_ const char **keys = object_keys(old, new, &n);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, keys[i]);
		diff_json(a, sub, json_object_get(old, keys[i]), json_object_get(new, keys[i]));
	}
}

/* The canonical JSON is either flat (name, labels and the spec fields side by
 * side) or split in metadata/spec; fields are named as the operator writes
 * them in YAML: metadata.labels.team, spec.agent.logLevel. */
static const char *top_level_path(const char *key, char *buf, size_t bufsz) {
	if (strcmp(key, "spec") == 0 || strcmp(key, "metadata") == 0) return key;
	if (strcmp(key, CANONICAL_PROVIDER_KEY) == 0) return "provider";
	if (strcmp(key, "name") == 0 || strcmp(key, "labels") == 0)
		snprintf(buf, bufsz, "metadata.%s", key);
	else
		snprintf(buf, bufsz, "spec.%s", key);
	return buf;
}

/* Fills a->fields with every changed field; 0, or -EINVAL if either side is
 * not a JSON object. */
static int diff_specs(action_t *a, const char *old_json, const char *new_json) {
	if (!old_json || !new_json) return -EINVAL;
	_cleanup_(json_decrefp) json_t *old = json_loads(old_json, 0, NULL);
	_cleanup_(json_decrefp) json_t *new = json_loads(new_json, 0, NULL);
	if (!json_is_object(old) || !json_is_object(new)) return -EINVAL;
	size_t n;
	_cleanup_free_ const char **keys = object_keys(old, new, &n);
	for (size_t i = 0; i < n; i++) {
		char buf[256];
		/* Added to the canonical form after the record was written. */
		if (!json_object_get(old, keys[i])) continue;
		diff_json(a, top_level_path(keys[i], buf, sizeof buf), json_object_get(old, keys[i]),
		          json_object_get(new, keys[i]));
	}
	return 0;
}

/* field is "prefix" or below it ("spec.agent" covers "spec.agent.port"). */
static bool field_under(const char *field, const char *prefix) {
	size_t l = strlen(prefix);
	return strncmp(field, prefix, l) == 0 && (field[l] == '\0' || field[l] == '.' || field[l] == '[');
}

/* Whether a changed field means recreating the CVM: flavor and provider
 * always; the rest as its backend's schema says (replace_fields for the
 * CVM's own fields, the effect of each Provider field). */
static bool forces_replace(const char *field, const backend_schema_t *b) {
	if (field_under(field, "spec.flavor") || field_under(field, "spec.provider")) return true;
	if (!b) return false;
	for (const char *const *r = b->replace_fields; r && *r; r++)
		if (field_under(field, *r)) return true;
	if (strncmp(field, "provider.", 9) == 0) {
		const char *name = field + 9;
		for (const field_def_t *f = b->fields; f && f->name; f++)
			if (field_under(name, f->name)) return f->effect == FX_REPLACE;
	}
	return false;
}

/* Keeps only the fields that force the replace (what the operator must
 * know); the others ride along with the new create. */
static void keep_forcing_fields(action_t *a, const backend_schema_t *b) {
	size_t k = 0;
	for (size_t i = 0; i < a->n_fields; i++) {
		if (forces_replace(a->fields[i], b))
			a->fields[k++] = a->fields[i];
		else
			free(a->fields[i]);
	}
	a->n_fields = k;
}

static char *join_fields(const action_t *a) {
	strbuf sb = {0};
	for (size_t i = 0; i < a->n_fields; i++) {
		if (i) sb_add(&sb, ", ");
		sb_add(&sb, a->fields[i]);
	}
	return sb_take(&sb);
}

/* The resource carries another spec hash: replace or update, and which
 * fields. */
static void plan_drift(planner_t *pl, action_t *a, const cvm_spec_t *c, const cvm_record_t *r,
                       const observed_t *o) {
	_cleanup_free_ char *want = cvm_spec_canonical_json(pl->in->specs, c);
	bool replace = false;

	if (diff_specs(a, r->spec_json, want) == 0 && a->n_fields > 0) {
		for (size_t i = 0; i < a->n_fields; i++) replace |= forces_replace(a->fields[i], c->backend);
	} else {
		/* No usable record of what was applied, or the record already holds
		 * the desired spec (a crash between recording an update or replace
		 * and carrying it out): what the resource shows decides. */
		if (a->changes) json_array_clear(a->changes);
		if (o->vcpus > 0 && o->vcpus != c->vcpus) {
			add_field(a, "spec.vcpus");
			add_change_int(a, "spec.vcpus", o->vcpus, c->vcpus);
		}
		if (o->memory_gib > 0 && o->memory_gib != c->memory_gib) {
			add_field(a, "spec.memoryGiB");
			add_change_int(a, "spec.memoryGiB", o->memory_gib, c->memory_gib);
		}
		replace = a->n_fields > 0;
	}

	if (replace) {
		keep_forcing_fields(a, c->backend);
		_cleanup_free_ char *f = join_fields(a);
		a->kind = ACT_REPLACE;
		a->code = "spec-changed";
		a->reason = xasprintf("%s cannot change in place; recreating it under the same id", f);
	} else if (a->n_fields > 0) {
		a->kind = ACT_UPDATE;
		a->code = "spec-changed";
		a->reason = xstrdup("spec changed; updating it in place");
	} else {
		/* Which fields changed is not known, and none the resource shows
		 * forces a replace: rewrite its markers and delivery channel. */
		a->kind = ACT_UPDATE;
		a->code = "spec-hash-changed";
		add_change_str(a, "specHash", o->spec_hash, c->hash);
		a->reason = xasprintf("the resource carries spec hash %.12s, the spec is %.12s; updating it in place",
		                      o->spec_hash ? o->spec_hash : "(none)", c->hash);
	}
	if (o->state == RES_STOPPED) {
		char *r2 = xasprintf("%s (it is also shut off; the next pass starts it)", a->reason);
		free(a->reason);
		a->reason = r2;
	}
}

static bool status_stale(const cvm_record_t *r, const observed_t *o, const cvm_spec_t *c) {
	if (!streq(r->spec_hash, c->hash)) return true;
	if (o->state == RES_RUNNING) return r->status != ST_RUNNING;
	if (o->state == RES_STOPPED) return r->status != ST_STOPPED;
	return false;
}

static void plan_with_record(planner_t *pl, const cvm_spec_t *c, const cvm_record_t *r, const char *prov) {
	const plan_input_t *in = pl->in;
	action_t *a = add_action(pl, ACT_NOOP, c->name, r->id);
	a->spec = c;
	a->record = r;
	set_provider(pl, a, prov);

	char *why = NULL;
	bool moved = !streq(r->provider, prov);
	if (!reachable(in, prov, moved ? NULL : r->placement, "move the CVM", &why) ||
	    (moved && !reachable(in, r->provider, r->placement, "move the CVM", &why))) {
		a->kind = ACT_UNKNOWN;
		a->code = "unobservable";
		a->reason = why;
		return;
	}

	const observed_t *o = pix_observed(&pl->ix, r->id);
	a->observed = o;

	if (!streq(r->flavor, c->flavor)) {
		add_field(a, "spec.flavor");
		add_change_str(a, "spec.flavor", r->flavor, c->flavor);
	}
	if (moved) {
		add_field(a, "spec.provider");
		add_change_str(a, "spec.provider", r->provider, prov);
	}
	if (a->n_fields > 0) {
		/* Everything else that changes rides along with the move: list it
		 * too, when the record says what was applied. */
		action_t all = {.changes = json_array()};
		_cleanup_free_ char *want = in->describe ? cvm_spec_canonical_json(in->specs, c) : NULL;
		if (want && diff_specs(&all, r->spec_json, want) == 0 && json_array_size(all.changes) > 0) {
			json_decref(a->changes);
			a->changes = json_incref(all.changes);
		}
		json_decref(all.changes);
		for (size_t i = 0; i < all.n_fields; i++) free(all.fields[i]);
		free(all.fields);
		_cleanup_free_ char *f = join_fields(a);
		a->kind = ACT_REPLACE;
		a->code = "moved";
		a->reason = xasprintf("%s cannot change in place; recreating it under the same id", f);
		return;
	}

	if (!o) {
		a->kind = ACT_CREATE;
		add_change_str(a, "state", "absent", "running");
		if (r->status == ST_CREATING) {
			a->code = "create-resumed";
			a->reason = r->attempt ? xasprintf("resuming the create recorded as attempt %s", r->attempt)
			                       : xstrdup("resuming the recorded create");
		} else if (r->status == ST_FAILED) {
			a->code = "create-failed";
			a->reason = xasprintf("retrying the create under the same id after: %s",
			                      r->last_error ? r->last_error : "a failure");
		} else if (r->status == ST_DELETING) {
			a->code = "desired-again";
			a->reason = xstrdup("it was being deleted and is desired again; creating it under the same id");
		} else {
			a->code = "missing";
			a->reason = xstrdup("its resource disappeared; recreating it under the same id");
		}
		return;
	}

	if (!streq(o->spec_hash, c->hash)) {
		plan_drift(pl, a, c, r, o);
		return;
	}

	if (o->state == RES_STOPPED) {
		a->kind = ACT_START;
		a->code = "stopped";
		add_change_str(a, "state", "stopped", "running");
		a->reason = xstrdup("found shut off");
		return;
	}

	if (!status_stale(r, o, c)) {
		a->code = "up-to-date";
		a->reason = xstrdup("up to date");
	} else {
		a->code = "record-stale";
		add_change_str(a, "record.status", cvm_status_name(r->status),
		               o->state == RES_RUNNING ? cvm_status_name(ST_RUNNING) : res_state_name(o->state));
		if (o->state == RES_RUNNING)
			a->reason = xstrdup("resource present; recording it as Running");
		else
			a->reason = xasprintf("resource present (%s); recording it", res_state_name(o->state));
	}
}

/* How many records of that name the state holds, in any scope and status:
 * a new CVM's generation. */
static size_t generation(planner_t *pl, const char *name) {
	const plan_input_t *in = pl->in;
	if (!pl->have_generations) {
		strmap_reserve(&pl->generations, in->n_records);
		bool added;
		for (size_t i = 0; i < in->n_records; i++)
			if (in->records[i].name) (*strmap_put(&pl->generations, in->records[i].name, &added))++;
		pl->have_generations = true;
	}
	const size_t *n = strmap_get(&pl->generations, name);
	return n ? *n : 0;
}

static void new_cvm_id(planner_t *pl, const char *name, char out[37]) {
	const plan_input_t *in = pl->in;
	char gen[24];
	snprintf(gen, sizeof gen, "%zu", generation(pl, name));
	const char *parts[] = {in->installation, in->scope, name, gen};
	uuid_from_names(out, "cvmctl/cvm-id/v1", parts, ARRAY_SIZE(parts));
}

/* The canonical spec's fields as changes from nothing (a new CVM). */
static void add_all_fields(action_t *a, const char *path, json_t *v) {
	if (json_is_null(v)) return; /* unset: from null to null is no change */
	if (!json_is_object(v) || json_object_size(v) == 0) {
		add_change(a, path, NULL, v);
		return;
	}
	size_t n;
	_cleanup_free_ const char **keys = object_keys(v, NULL, &n);
	for (size_t i = 0; i < n; i++) {
		char buf[256];
		_cleanup_free_ char *sub = path ? xasprintf("%s.%s", path, keys[i])
		                                : xstrdup(top_level_path(keys[i], buf, sizeof buf));
		add_all_fields(a, sub, json_object_get(v, keys[i]));
	}
}

static int plan_without_record(planner_t *pl, const cvm_spec_t *c, const char *prov) {
	const plan_input_t *in = pl->in;
	size_t vi = 0;
	const observed_t *o = pix_adoptable(&pl->ix, c->name, &vi);
	if (o) {
		action_t *a = add_action(pl, ACT_ADOPT, c->name, o->id);
		a->spec = c;
		a->observed = o;
		a->provider_idx = vi;
		a->provider = in->providers[vi].name;
		a->code = "adopt-owned";
		add_change_str(a, "record", NULL, o->id);
		if (o->state == RES_STOPPED) add_change_str(a, "state", "stopped", "running");
		a->reason = xstrdup("owned resource found without a record; adopting it");
		return 0;
	}

	const provider_view_t *v = view_by_name(in, prov);
	if (view_unknown(v)) {
		action_t *a = add_action(pl, ACT_UNKNOWN, c->name, NULL);
		a->spec = c;
		a->code = "unobservable";
		set_provider(pl, a, prov);
		_cleanup_free_ char *why = provider_unknown_reason(prov, v);
		a->reason = xasprintf("%s; cannot tell whether it already exists", why);
		return 0;
	}

	char id[37];
	if (in->new_ids) {
		if (pl->next_id >= in->n_new_ids) return -ENOSPC;
		memcpy(id, in->new_ids[pl->next_id++], sizeof id);
	} else {
		new_cvm_id(pl, c->name, id);
	}
	action_t *a = add_action(pl, ACT_CREATE, c->name, id);
	a->spec = c;
	a->code = "new";
	set_provider(pl, a, prov);
	if (in->describe) {
		_cleanup_free_ char *canon = cvm_spec_canonical_json(in->specs, c);
		_cleanup_(json_decrefp) json_t *v = canon ? json_loads(canon, 0, NULL) : NULL;
		if (v) add_all_fields(a, NULL, v);
		add_change_str(a, "state", "absent", "running");
	}

	strbuf sb = {0};
	sb_add(&sb, "new CVM");
	const observed_t *clash = pix_name_clash(&pl->ix, (size_t)(v - in->providers), c->name);
	if (clash)
		sb_addf(&sb, "; a resource named %s owned by installation %s / scope %s exists and was left alone",
		        c->name, clash->installation ? clash->installation : "(none)",
		        clash->scope ? clash->scope : "(none)");
	for (size_t i = 0; i < v->obs->n_unknown; i++)
		sb_addf(&sb, "; %s %s could not be observed and is not used", place_word(v),
		        v->obs->unknown[i].placement);
	a->reason = sb_take(&sb);
	return 0;
}

static void plan_delete(planner_t *pl, const cvm_record_t *r) {
	const plan_input_t *in = pl->in;
	const cvm_spec_t *inactive = pix_spec(&pl->ix, r->name, false);
	action_t *a = add_action(pl, ACT_DELETE, r->name, r->id);
	a->record = r;
	set_provider(pl, a, r->provider);

	char *why = NULL;
	if (!reachable(in, r->provider, r->placement, "delete it", &why)) {
		a->kind = ACT_UNKNOWN;
		a->code = "unobservable";
		a->reason = why;
		return;
	}
	a->observed = pix_observed(&pl->ix, r->id);
	a->code = inactive ? "spec-inactive" : "spec-removed";
	add_change_str(a, "state", res_word(a->observed), "inactive");
	const char *what = inactive ? "spec says state: inactive" : "spec removed";
	if (inactive ? inactive->orphan : r->orphan) {
		a->orphan = true;
		a->code = "orphaned";
		a->reason = xasprintf("%s; deletionPolicy Orphan: retiring the record and leaving its resource standing", what);
		return;
	}
	a->reason = a->observed ? xstrdup(what) : xasprintf("%s; its resource is already gone", what);
}

/* Whether an action so far already speaks for the resource: every action
 * that names an observation carries that observation's id, so the ids of
 * the actions say it all. The set borrows the ids from a copy, since
 * adding actions moves p->v. */
typedef struct claims {
	strmap_t ids;
	char (*copy)[37];
} claims_t;

static void claims_init(claims_t *cl, const plan_t *p) {
	cl->ids = (strmap_t){0};
	cl->copy = xcalloc(p->n, sizeof *cl->copy);
	strmap_reserve(&cl->ids, p->n);
	for (size_t i = 0; i < p->n; i++) {
		memcpy(cl->copy[i], p->v[i].id, sizeof cl->copy[i]);
		strmap_add(&cl->ids, cl->copy[i], i);
	}
}

static void claims_free(claims_t *cl) {
	strmap_free(&cl->ids);
	free(cl->copy);
}

/* What an owned resource that no action claimed needs: a delete (with the
 * reason) when it has no record and no spec, or its record is Inactive. */
static const char *orphan_reason(planner_t *pl, const observed_t *o, const cvm_record_t *r) {
	if (!r) {
		if (pix_spec(&pl->ix, o->name, true)) return NULL;
		return "owned resource with no record and no spec; deleting it";
	}
	if (r->status == ST_INACTIVE) return "its CVM is Inactive but the resource remains; deleting it";
	return NULL;
}

static void plan_orphans(planner_t *pl) {
	const plan_input_t *in = pl->in;
	claims_t cl;
	claims_init(&cl, pl->p);
	for (size_t i = 0; i < in->n_providers; i++) {
		const observation_t *obs = in->providers[i].obs;
		if (!obs || obs->all_unknown) continue;
		for (size_t j = 0; j < obs->n; j++) {
			const observed_t *o = &obs->v[j];
			if (!plan_ours(in, o) || strmap_get(&cl.ids, o->id)) continue;
			const cvm_record_t *r = pix_record(&pl->ix, o->id);
			/* retired under deletionPolicy Orphan: its resource is left
			 * standing, on this pass and every later one */
			if (r && r->status == ST_INACTIVE && r->orphan) continue;
			const char *reason = orphan_reason(pl, o, r);
			if (!reason) continue;
			action_t *a = add_action(pl, ACT_DELETE, o->name, o->id);
			strmap_add(&cl.ids, o->id, pl->p->n - 1);
			a->record = r;
			a->observed = o;
			a->provider_idx = i;
			a->provider = in->providers[i].name;
			a->code = r ? "inactive-leftover" : "orphan";
			add_change_str(a, "state", res_word(o), "absent");
			a->reason = xstrdup(reason);
		}
	}
	claims_free(&cl);
}

static void refuse(plan_t *p, action_t *a, const char *code, const char *why) {
	if (a->refused) return;
	a->refused = true;
	a->refusal_code = code;
	a->refusal = xstrdup(why);
	p->refused = true;
}

/* A suspended CVM (spec.suspend, or cvmctl suspend on its record) gets no
 * action at all: not created, updated, started, replaced or deleted, and
 * not pruned when its spec is gone. What would have been done is kept in
 * the reason; its certificates are still looked after (plan_cert). */
static void hold_suspended(plan_t *p) {
	for (size_t i = 0; i < p->n; i++) {
		action_t *a = &p->v[i];
		/* spec.suspend as the spec says, or, once the spec is gone, as the
		 * last pass saw it; or cvmctl suspend */
		bool suspended = a->spec ? a->spec->suspend : a->record && a->record->spec_suspended;
		suspended |= a->record && a->record->suspended;
		if (!suspended || a->kind == ACT_UNKNOWN) continue;
		char *why = a->kind == ACT_NOOP ? xasprintf("suspended; %s", a->reason ? a->reason : "up to date")
		                                : xasprintf("suspended; would %s: %s", action_kind_name(a->kind),
		                                            a->reason ? a->reason : "");
		free(a->reason);
		a->reason = why;
		a->kind = ACT_NOOP;
		a->code = "suspended";
		a->orphan = false;
		for (size_t j = 0; j < a->n_fields; j++) free(a->fields[j]);
		free(a->fields);
		a->fields = NULL;
		a->n_fields = 0;
		if (a->changes) { /* described: an empty list, as for any noop */
			json_decref(a->changes);
			a->changes = json_array();
		}
	}
}

static void apply_safety(const plan_input_t *in, plan_t *p) {
	size_t n_del = 0;
	/* an Orphan delete removes nothing */
	for (size_t i = 0; i < p->n; i++) n_del += p->v[i].kind == ACT_DELETE && !p->v[i].orphan;

	_cleanup_free_ char *why = NULL;
	const char *code = NULL;
	if (n_del > 0 && in->specs->n_cvms == 0 && !in->allow_empty) {
		code = "empty-tree";
		why = xstrdup("the spec tree has no CVM at all; pass --allow-empty to delete everything");
	} else if (in->max_deletions >= 0 && n_del > (size_t)in->max_deletions) {
		code = "max-deletions";
		why = xasprintf("%zu deletions exceed %s %ld", n_del,
		                in->max_deletions_from ? in->max_deletions_from : "--max-deletions", in->max_deletions);
	}

	for (size_t i = 0; i < p->n; i++) {
		action_t *a = &p->v[i];
		if (a->kind == ACT_DELETE && !a->orphan && why) refuse(p, a, code, why);
		if (a->kind == ACT_REPLACE && !in->allow_replace)
			refuse(p, a, "replace-not-allowed", "replacing needs --allow-replace");
	}
}

static int cmp_action(const void *x, const void *y) {
	const action_t *a = x, *b = y;
	int c = strcmp(a->name ? a->name : "", b->name ? b->name : "");
	if (c) return c;
	if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Every desired CVM whose name is active in another scope, each with where
 * its spec is. */
static char *scope_conflicts(const planner_t *pl) {
	const plan_input_t *in = pl->in;
	strbuf sb = {0};
	for (size_t i = 0; i < in->specs->n_cvms; i++) {
		const cvm_spec_t *c = &in->specs->cvms[i];
		if (!c->active) continue;
		const cvm_record_t *r = pix_foreign_record(&pl->ix, c->name);
		if (!r) continue;
		if (sb.len) sb_add(&sb, "\n");
		sb_addf(&sb,
		        "%s:%d:%d: metadata.name: cvm '%s' is active in scope '%s'; names are unique among the active CVMs of a "
		        "state",
		        c->pos.file ? c->pos.file : "<specs>", c->pos.line, c->pos.col, c->name, r->scope ? r->scope : "");
	}
	return sb.len ? sb_take(&sb) : NULL;
}

/* Desired CVMs, then deletions, then orphans; 0 or -ENOSPC. */
static int plan_actions(planner_t *pl) {
	const plan_input_t *in = pl->in;
	for (size_t i = 0; i < in->specs->n_cvms; i++) {
		const cvm_spec_t *c = &in->specs->cvms[i];
		if (!c->active) continue;
		const char *prov = spec_provider_name(in->specs, c);
		const cvm_record_t *r = pix_active_record(&pl->ix, c->name);
		if (r) {
			plan_with_record(pl, c, r, prov);
			continue;
		}
		int rc = plan_without_record(pl, c, prov);
		if (rc < 0) return rc;
	}

	for (size_t i = 0; i < in->n_records; i++) {
		const cvm_record_t *r = &in->records[i];
		if (r->status == ST_INACTIVE || !streq(r->scope, in->scope)) continue;
		if (!pix_spec(&pl->ix, r->name, true)) plan_delete(pl, r);
	}

	plan_orphans(pl);
	return 0;
}

static int cmp_cert_state(const void *key, const void *elem) {
	return strcmp(key, ((const cert_state_t *)elem)->cvm_id);
}

/* Whether the action leaves the resource running (so that it reads its
 * files and a certificate can be rotated into it). */
static bool runs_after(const action_t *a) {
	switch (a->kind) {
	case ACT_START: return true;
	case ACT_ADOPT: return true; /* a stopped one is started */
	case ACT_NOOP:
	case ACT_UPDATE: return a->observed && a->observed->state == RES_RUNNING;
	default: return false;
	}
}

static void plan_cert(const plan_input_t *in, action_t *a) {
	if (!a->spec || a->refused || !runs_after(a)) return;
	const cert_state_t *c =
	    in->n_certs ? bsearch(a->id, in->certs, in->n_certs, sizeof *in->certs, cmp_cert_state) : NULL;
	if (!c) {
		/* An adopted CVM is on record from this pass on, with no
		 * certificate yet: it is issued one. Others have no record. */
		if (a->kind == ACT_ADOPT) a->cert = CERT_RENEW;
		return;
	}
	if (c->rotate_failures > 0 && in->now < c->rotate_next_at) return; /* backing off */
	cert_record_t cur = {.not_after = c->not_after};
	if (!c->serial || certs_due(&cur, in->now, a->spec->certs.renew_before_s))
		a->cert = CERT_RENEW;
	else if (a->kind != ACT_UPDATE && !streq(c->delivered_serial, c->serial))
		a->cert = CERT_PUBLISH;
	a->cert_state = a->cert != CERT_NONE ? c : NULL;
}

int plan_compute(const plan_input_t *in, plan_t *out) {
	memset(out, 0, sizeof *out);
	out->scope = in->scope;

	planner_t pl = {.in = in, .p = out};
	plan_index_build(&pl.ix, in);
	out->invalid = scope_conflicts(&pl);
	int rc = out->invalid ? -EINVAL : plan_actions(&pl);
	plan_index_free(&pl.ix);
	strmap_free(&pl.generations);
	if (out->invalid) return rc;
	if (rc < 0) {
		plan_free(out);
		return rc;
	}
	hold_suspended(out);
	apply_safety(in, out);

	if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_action);
	for (size_t i = 0; i < out->n; i++) {
		action_t *a = &out->v[i];
		plan_cert(in, a);
		if (a->kind == ACT_UNKNOWN)
			out->n_unknown++;
		else if (a->kind != ACT_NOOP && !a->refused)
			out->n_changes++;
		if (a->cert != CERT_NONE) {
			out->n_cert++;
			out->n_changes += a->kind == ACT_NOOP; /* else the action counts already */
		}
	}
	return 0;
}

static void action_free(action_t *a) {
	free(a->reason);
	for (size_t j = 0; j < a->n_fields; j++) free(a->fields[j]);
	free(a->fields);
	free(a->refusal);
	json_decref(a->changes);
	free(a->placement);
	free(a->place_err);
}

void plan_remove(plan_t *p, size_t i) {
	if (i >= p->n) return;
	action_t *a = &p->v[i];
	if (a->kind == ACT_UNKNOWN)
		p->n_unknown--;
	else if (a->kind != ACT_NOOP && !a->refused)
		p->n_changes--;
	if (a->cert != CERT_NONE) {
		p->n_cert--;
		p->n_changes -= a->kind == ACT_NOOP;
	}
	action_free(a);
	memmove(a, a + 1, (p->n - i - 1) * sizeof *a);
	p->n--;
	p->refused = false;
	for (size_t j = 0; j < p->n; j++) p->refused |= p->v[j].refused;
}

void plan_free(plan_t *p) {
	if (!p) return;
	for (size_t i = 0; i < p->n; i++) action_free(&p->v[i]);
	free(p->v);
	free(p->invalid);
	memset(p, 0, sizeof *p);
}
