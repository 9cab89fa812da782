/* Observing one host, on its worker. A converged host costs one call: the
 * domain states of every domain (virConnectGetAllDomainStats, state only;
 * name and UUID come with the domain pointers). Markers are read only for
 * domains the state does not know under that id, name, host and state;
 * the address only for running domains whose address is not known or
 * whose state changed. A known domain's markers are what the state
 * recorded.
 *
 * A known running domain without an address (no DHCP lease yet, or a
 * network that gives none, like the test driver's) is read again to learn
 * one, but at most ADDRESS_RETRIES of them per host and pass, from a
 * random starting point: a fleet that never gets leases must not cost two
 * calls per domain on every pass. A domain that just started is not
 * "known in that state" and is always read. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/manager/backend.h"
#include "providers/manager/metadata.h"

int read_marker(virDomainPtr d, const char *name, manager_meta_t *m, lv_error_t *e) {
	LV_COUNT(metadata);
	_cleanup_free_ char *xml = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, MANAGER_NS_URI, 0);
	if (!xml) {
		lv_capture(e);
		return e->code == VIR_ERR_NO_DOMAIN_METADATA || e->code == VIR_ERR_NO_DOMAIN ? 0 : -EIO;
	}
	if (manager_meta_parse(xml, m) < 0) {
		log_warn("domain %s carries an unreadable cvmctl marker; treating it as foreign", name);
		return 0;
	}
	if (!manager_meta_is_ours(m)) {
		manager_meta_free(m);
		return 0;
	}
	return 1;
}

static res_state_t map_state(int st) {
	switch (st) {
	case VIR_DOMAIN_RUNNING: return RES_RUNNING;
	case VIR_DOMAIN_SHUTOFF:
	case VIR_DOMAIN_SHUTDOWN:
	case VIR_DOMAIN_CRASHED: return RES_STOPPED;
	case VIR_DOMAIN_PAUSED: return RES_PAUSED;
	default: return RES_OTHER;
	}
}

/* The agent's address: the first address the network's DHCP leases show. */
static char *domain_url(virDomainPtr d, const char *name, int port) {
	virDomainInterfacePtr *ifs = NULL;
	LV_COUNT(lease);
	int n = virDomainInterfaceAddresses(d, &ifs, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0);
	if (n < 0) {
		_cleanup_lverr_ lv_error_t e = {0};
		lv_capture(&e);
		log_debug("no addresses for %s: %s", name, e.msg);
		return NULL;
	}
	char *url = NULL;
	for (int i = 0; i < n; i++) {
		for (unsigned k = 0; !url && k < ifs[i]->naddrs; k++) {
			const virDomainIPAddress *a = &ifs[i]->addrs[k];
			if (!a->addr) continue;
			url = a->type == VIR_IP_ADDR_TYPE_IPV6 ? xasprintf("[%s]:%d", a->addr, port)
			                                       : xasprintf("%s:%d", a->addr, port);
		}
		virDomainInterfaceFree(ifs[i]);
	}
	free(ifs);
	return url;
}

/* One domain as the listing showed it. */
typedef struct listed {
	virDomainPtr dom;
	int state; /* virDomainState */
} listed_t;

/* Every domain and its state: one call where the driver can, else a listing
 * and the state of each active domain (inactive ones are shut off). */
static int list_states(mhost_t *h, virConnectPtr c, listed_t **out, int *n_out, char **err) {
	virDomainStatsRecordPtr *recs = NULL;
	LV_COUNT(list);
	int n = virConnectGetAllDomainStats(c, VIR_DOMAIN_STATS_STATE, &recs, 0);
	_cleanup_lverr_ lv_error_t e = {0};
	if (n >= 0) {
		listed_t *v = xcalloc((size_t)n + 1, sizeof *v);
		for (int i = 0; i < n; i++) {
			v[i].dom = recs[i]->dom;
			virDomainRef(v[i].dom);
			if (virTypedParamsGetInt(recs[i]->params, recs[i]->nparams, "state.state", &v[i].state) != 1)
				v[i].state = VIR_DOMAIN_NOSTATE;
		}
		virDomainStatsRecordListFree(recs);
		*out = v;
		*n_out = n;
		return 0;
	}
	lv_capture(&e);
	if (e.code != VIR_ERR_NO_SUPPORT) {
		*err = xasprintf("cannot list domains on %s: %s", h->uri, e.msg);
		return -EIO;
	}
	virDomainPtr *doms = NULL;
	LV_COUNT(list);
	n = virConnectListAllDomains(c, &doms, 0);
	if (n < 0) {
		lv_capture(&e);
		*err = xasprintf("cannot list domains on %s: %s", h->uri, e.msg);
		return -EIO;
	}
	listed_t *v = xcalloc((size_t)n + 1, sizeof *v);
	for (int i = 0; i < n; i++) {
		v[i].dom = doms[i];
		v[i].state = VIR_DOMAIN_SHUTOFF;
		if (virDomainGetID(doms[i]) == (unsigned)-1) continue; /* inactive: shut off */
		int reason;
		LV_COUNT(other);
		if (virDomainGetState(doms[i], &v[i].state, &reason, 0) < 0)
			v[i].state = VIR_DOMAIN_NOSTATE; /* gone meanwhile: its marker read decides */
	}
	free(doms);
	*out = v;
	*n_out = n;
	return 0;
}

static int by_id(const void *a, const void *b) {
	return strcmp(((const observed_t *)a)->id, ((const observed_t *)b)->id);
}

static const observed_t *find_known(const mjob_t *j, const char *uuid) {
	observed_t key;
	snprintf(key.id, sizeof key.id, "%s", uuid);
	return j->n_known ? bsearch(&key, j->known, j->n_known, sizeof *j->known, by_id) : NULL;
}

static observed_t *add_observed(observation_t *o) {
	o->v = xrealloc(o->v, (o->n + 1) * sizeof *o->v);
	observed_t *ob = &o->v[o->n++];
	memset(ob, 0, sizeof *ob);
	return ob;
}

static void add_seen(mjob_t *j, const char *name, const char *id) {
	j->seen = xrealloc(j->seen, (j->n_seen + 1) * sizeof *j->seen);
	j->seen[j->n_seen].name = xstrdup(name);
	j->seen[j->n_seen].id = xstrdup(id);
	j->n_seen++;
}

#define ADDRESS_RETRIES 32

/* A domain the state knows, unchanged: its recorded markers. *retries
 * counts down the address lookups this pass may still spend. */
static bool take_known(mhost_t *h, mjob_t *j, const char *uuid, const char *name, res_state_t st, int *retries) {
	const observed_t *k = find_known(j, uuid);
	if (!k || st != k->state || !k->name || strcmp(k->name, name) != 0) return false;
	/* Its address is still to be learnt: that takes the marker's port. */
	if (st == RES_RUNNING && !k->url && *retries > 0) {
		--*retries;
		return false;
	}
	observed_t *ob = add_observed(&j->obs);
	observed_copy(ob, k);
	free(ob->placement);
	ob->placement = xstrdup(h->uri);
	return true;
}

/* A domain to read: 0 (added, or not ours), -EIO with *err. */
static int read_domain(mhost_t *h, mjob_t *j, const listed_t *l, const char *uuid, const char *name, char **err) {
	manager_meta_t m;
	_cleanup_lverr_ lv_error_t e = {0};
	int own = read_marker(l->dom, name, &m, &e);
	if (own < 0) {
		*err = xasprintf("cannot read metadata of domain %s on %s: %s", name, h->uri, e.msg);
		return -EIO;
	}
	if (own == 0) return 0;
	observed_t *ob = add_observed(&j->obs);
	snprintf(ob->id, sizeof ob->id, "%s", uuid);
	ob->name = m.name ? TAKE_PTR(m.name) : xstrdup(name);
	ob->scope = TAKE_PTR(m.scope);
	ob->installation = TAKE_PTR(m.installation);
	ob->spec_hash = TAKE_PTR(m.spec_hash);
	ob->attempt = TAKE_PTR(m.attempt);
	ob->handle = TAKE_PTR(m.share_root);
	ob->placement = xstrdup(h->uri);
	ob->state = map_state(l->state);
	ob->vcpus = m.vcpus;
	ob->memory_gib = m.memory_gib;
	if (ob->state == RES_RUNNING && m.port > 0) ob->url = domain_url(l->dom, name, m.port);
	manager_meta_free(&m);
	return 0;
}

int observe_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	if (j->n_known) qsort(j->known, j->n_known, sizeof *j->known, by_id);
	listed_t *v = NULL;
	int n = 0;
	int r = list_states(h, c, &v, &n, err);
	int retries = ADDRESS_RETRIES;
	unsigned start = 0;
	if (n > 0 && getrandom(&start, sizeof start, 0) != sizeof start) start = (unsigned)time(NULL);
	for (int i0 = 0; r == 0 && i0 < n; i0++) {
		int i = (int)((start + (unsigned)i0) % (unsigned)n);
		char uuid[VIR_UUID_STRING_BUFLEN];
		const char *name = virDomainGetName(v[i].dom);
		if (!name || virDomainGetUUIDString(v[i].dom, uuid) < 0) continue;
		res_state_t st = map_state(v[i].state);
		size_t before = j->obs.n;
		if (!take_known(h, j, uuid, name, st, &retries)) r = read_domain(h, j, &v[i], uuid, name, err);
		add_seen(j, name, j->obs.n > before ? uuid : NULL);
	}
	for (int i = 0; i < n; i++) virDomainFree(v[i].dom);
	free(v);
	return r;
}

int nodeinfo_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	(void)j;
	virNodeInfo ni;
	memset(&ni, 0, sizeof ni);
	LV_COUNT(other);
	if (virNodeGetInfo(c, &ni) < 0) {
		_cleanup_lverr_ lv_error_t e = {0};
		lv_capture(&e);
		*err = xasprintf("cannot read node info of %s: %s", h->uri, e.msg);
		return -EIO;
	}
	pthread_mutex_lock(&h->p->lock);
	h->have_cap = true;
	h->cap_vcpus = (int)ni.cpus;
	h->cap_memory_gib = (int)(ni.memory / (1024 * 1024));
	pthread_mutex_unlock(&h->p->lock);
	return 0;
}
