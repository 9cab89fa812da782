/* The fake backend's provider: opening one onto its world, listing what it
 * owns there page by page, and choosing a zone. The submissions (create,
 * remove, start, update) and their operations are in ops.c. Test builds
 * only (CVM_TEST_HOOKS). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/fake/world.h"
#include "providers/provider.h"

/* A setting, or its default from the schema table (the one place the
 * defaults live). *owned holds a parsed default for the caller to free. */
static const json_t *setting(const json_t *s, const char *key, json_t **owned) {
	const json_t *v = json_object_get(s, key);
	if (v) return v;
	const field_def_t *f = schema_field(fake_schema.fields, key);
	if (!f || !f->dflt) return NULL;
	*owned = json_loads(f->dflt, JSON_DECODE_ANY, NULL);
	return *owned;
}

static int setting_int(const json_t *s, const char *key) {
	_cleanup_(json_decrefp) json_t *owned = NULL;
	const json_t *v = setting(s, key, &owned);
	return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

static void fake_close(provider_t *p) {
	if (!p) return;
	fake_lock();
	p->w->n_open--;
	fake_unlock();
	for (size_t i = 0; i < p->n_zones; i++) free(p->zones[i]);
	free(p->zones);
	free(p->name);
	free(p);
}

/* The settings were checked against the schema by the spec loader, but a
 * recorded provider reaches open() without it: the limits are checked
 * again, cheaply, so a bad value is a sentence and not a crash. */
static int fake_open(const provider_config_t *cfg, provider_t **out, char **err) {
	const json_t *s = cfg->settings;
	_cleanup_(json_decrefp) json_t *owned = NULL;
	const json_t *zones = setting(s, "zones", &owned);
	int latency = setting_int(s, "latencyMs"), page = setting_int(s, "pageSize");
	const char *world = json_string_value(json_object_get(s, "world"));
	if (!world) world = cfg->name;
	if (!*world || strchr(world, '/')) {
		*err = xasprintf("fake provider %s: world '%s' is not a world name", cfg->name, world);
		return -EINVAL;
	}
	if (json_array_size(zones) == 0) {
		*err = xasprintf("fake provider %s lists no zones", cfg->name);
		return -EINVAL;
	}
	if (latency < 0 || page < 1) {
		*err = xasprintf("fake provider %s: latencyMs must be >= 0 and pageSize >= 1", cfg->name);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_array_size(zones); i++) {
		const char *z = json_string_value(json_array_get(zones, i));
		if (!z || !*z || strchr(z, '/')) {
			*err = xasprintf("fake provider %s: zones[%zu] is not a zone name", cfg->name, i);
			return -EINVAL;
		}
	}
	provider_t *p = xcalloc(1, sizeof *p);
	p->name = xstrdup(cfg->name);
	p->latency_ms = latency;
	p->page_size = page;
	p->n_zones = json_array_size(zones);
	p->zones = xcalloc(p->n_zones, sizeof *p->zones);
	for (size_t i = 0; i < p->n_zones; i++) p->zones[i] = xstrdup(json_string_value(json_array_get(zones, i)));
	fake_lock();
	p->w = world_get(world, true);
	p->w->n_open++;
	fake_unlock();
	*out = p;
	return 0;
}

bool fake_has_zone(const provider_t *p, const char *zone) {
	for (size_t i = 0; zone && i < p->n_zones; i++)
		if (strcmp(p->zones[i], zone) == 0) return true;
	return false;
}

static void add_unknown(observation_t *o, const char *zone, const char *why) {
	o->unknown = xrealloc(o->unknown, (o->n_unknown + 1) * sizeof *o->unknown);
	o->unknown[o->n_unknown].placement = xstrdup(zone);
	o->unknown[o->n_unknown].why = xstrdup(why);
	o->n_unknown++;
}

static void observed_from(observed_t *o, const fake_world_t *w, const fres_t *r) {
	memset(o, 0, sizeof *o);
	snprintf(o->id, sizeof o->id, "%s", r->id);
	o->name = xstrdup(r->name);
	o->scope = xstrdup(r->scope);
	o->installation = xstrdup(r->installation);
	o->spec_hash = xstrdup(r->spec_hash);
	o->attempt = xstrdup(r->attempt);
	o->placement = xstrdup(r->zone);
	o->handle = xasprintf("fake://%s/%s/%s", w->name, r->zone, r->id);
	if (r->state == RES_RUNNING && r->agent_port > 0)
		o->url = xasprintf("%s.%s.fake:%d", r->name, r->zone, r->agent_port);
	o->state = r->state;
	o->vcpus = r->vcpus;
	o->memory_gib = r->memory_gib;
}

/* The listing: our resources in the zones that answer, page by page as a
 * cloud's filtered list. A page that fails makes the whole listing void:
 * partial knowledge is no knowledge. Returns 0, or the failing page. */
static int list_pages(provider_t *p, const bool *up, observation_t *out) {
	fake_world_t *w = p->w;
	_cleanup_free_ fres_t **mine = xcalloc(w->n_res ? w->n_res : 1, sizeof *mine);
	size_t n = 0;
	for (size_t i = 0; i < w->n_res; i++) {
		fres_t *r = w->res[i];
		for (size_t z = 0; r->managed && z < p->n_zones; z++)
			if (up[z] && strcmp(p->zones[z], r->zone) == 0) mine[n++] = r;
	}
	size_t ps = (size_t)p->page_size, pages = n ? (n + ps - 1) / ps : 1;
	out->v = n ? xcalloc(n, sizeof *out->v) : NULL;
	for (size_t k = 1; k <= pages; k++) {
		w->calls[FAKE_LIST_PAGE]++;
		if (world_take_fault(w, FAKE_LIST_FAIL, FAKE_LIST_PAGE, NULL, NULL, (int)k)) return (int)k;
		for (size_t i = (k - 1) * ps; i < n && i < k * ps; i++) observed_from(&out->v[out->n++], w, mine[i]);
	}
	return 0;
}

static int fake_observe(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err) {
	(void)known; /* always listed afresh: correct whatever the record says */
	(void)n_known;
	(void)err;
	memset(out, 0, sizeof *out);
	_cleanup_free_ bool *up = xcalloc(p->n_zones, sizeof *up);
	fake_lock();
	fake_world_t *w = p->w;
	w->calls[FAKE_OBSERVE]++;
	world_vanish_due(w, FAKE_OBSERVE);
	world_settle(w);
	for (size_t z = 0; z < p->n_zones; z++) {
		_cleanup_free_ char *why = NULL;
		up[z] = world_zone_answers(w, p->zones[z], FAKE_OBSERVE, NULL, &why);
		if (!up[z]) add_unknown(out, p->zones[z], why);
	}
	int failed = list_pages(p, up, out);
	if (failed) {
		observation_free(out);
		_cleanup_free_ char *why = xasprintf("listing page %d of world %s failed (injected)", failed, w->name);
		for (size_t z = 0; z < p->n_zones; z++) add_unknown(out, p->zones[z], why);
	}
	out->all_unknown = out->n_unknown == p->n_zones;
	fake_unlock();
	return 0;
}

static int used_in(const char *zone, const placement_use_t *used, size_t n_used) {
	int n = 0;
	for (size_t i = 0; i < n_used; i++)
		if (used[i].placement && strcmp(used[i].placement, zone) == 0) n += used[i].vcpus;
	return n;
}

/* Least loaded zone that answers and has room: load is what cvmctl placed
 * there (its own accounting, `used`) plus what others hold. */
static int fake_place(provider_t *p, const cvm_desired_t *want, const placement_use_t *used, size_t n_used,
                      char **placement, char **err) {
	strbuf why = {0};
	long best = -1, best_load = 0;
	fake_lock();
	fake_world_t *w = p->w;
	w->calls[FAKE_PLACE]++;
	world_vanish_due(w, FAKE_PLACE);
	world_settle(w);
	for (size_t z = 0; z < p->n_zones; z++) {
		_cleanup_free_ char *down = NULL;
		if (!world_zone_answers(w, p->zones[z], FAKE_PLACE, want->name, &down)) {
			sb_addf(&why, "; %s unknown (%s)", p->zones[z], down);
			continue;
		}
		const fzone_t *fz = world_zone(w, p->zones[z], false);
		int cap = fz ? fz->capacity : -1;
		long load = used_in(p->zones[z], used, n_used) + world_zone_vcpus(w, p->zones[z], true);
		if (cap >= 0 && load + want->vcpus > cap) {
			sb_addf(&why, "; %s has %ld of %d vCPUs free", p->zones[z], cap - load > 0 ? cap - load : 0, cap);
			continue;
		}
		if (best < 0 || load < best_load) {
			best = (long)z;
			best_load = load;
		}
	}
	fake_unlock();
	if (best >= 0) {
		sb_free(&why);
		*placement = xstrdup(p->zones[best]);
		return 0;
	}
	*err = xasprintf("no zone of fake provider %s has room for %d vCPUs%s", p->name, want->vcpus,
	                 why.buf ? why.buf : "");
	sb_free(&why);
	return -ENOSPC;
}

const provider_ops_t fake_provider_ops = {
	.flavor = "fake",
	.open = fake_open,
	.close = fake_close,
	.observe = fake_observe,
	.place = fake_place,
	.create = fake_create,
	.poll = fake_poll,
	.op_free = fake_op_free,
	.remove = fake_remove,
	.start = fake_start,
	.update = fake_update,
};
