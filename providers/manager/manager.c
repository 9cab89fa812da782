/* The manager backend: each Provider host is a libvirt URI. Identity is the
 * libvirt UUID (= CVM id); ownership is our <metadata> element, and a
 * domain without it is never listed, started, changed or removed. Creates
 * are synchronous (define + start take milliseconds), so no operation is
 * ever returned for polling. */
#include "providers/manager/manager.h"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/manager/domain_xml.h"
#include "providers/manager/metadata.h"
#include "providers/manager/placement.h"
#include "providers/manager/shares.h"
#include "providers/provider.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose)
#define _cleanup_dom_ _cleanup_(virDomainFreep)
#define _cleanup_conn_ _cleanup_(virConnectClosep)

/* Dead peers are detected within interval * (count + 1) = 20 s, also during
 * a blocked call (the client's own I/O loop sends the probes). */
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 3

typedef struct mhost {
	char *uri;
	pthread_mutex_t lock; /* guards conn and why */
	virConnectPtr conn;   /* NULL until connected or after a failure */
	char *why;            /* the last connection failure */
} mhost_t;

struct provider {
	char *name;
	mhost_t *hosts;
	size_t n_hosts;
	char *firmware, *kernel, *initrd, *cmdline, *domain_type, *cpu_model, *network, *share_dir;
	bool share_dir_explicit, vtpm, insecure;
	int cap_vcpus, cap_memory_gib;
	int connect_timeout_s, call_timeout_s;
};

static void silent_error(void *userdata, virErrorPtr e) {
	(void)userdata;
	(void)e;
}

/* libvirt ≥ 6 clients no longer time out a blocked call by themselves
 * (virNetClientIOEventLoop computes a keepalive timeout and never uses it):
 * keepalive probes and the dead-peer verdict run as timers of the default
 * event loop, so somebody must run it. */
static void *event_loop(void *arg) {
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0) log_debug("libvirt event loop: %s", virGetLastErrorMessage());
	return NULL;
}

static void libvirt_init_once(void) {
	/* libvirt writes to sockets without MSG_NOSIGNAL: a daemon dying
	 * under a call would otherwise kill us with SIGPIPE instead of
	 * failing the call. Left alone if someone already chose a handler. */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
	if (virInitialize() < 0) log_error("cannot initialise libvirt: %s", virGetLastErrorMessage());
	virSetErrorFunc(NULL, silent_error);
	if (virEventRegisterDefaultImpl() < 0) {
		log_warn("libvirt event loop not registered, dead hosts may block calls: %s", virGetLastErrorMessage());
		return;
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &attr, event_loop, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) log_warn("cannot start the libvirt event thread, dead hosts may block calls: %s", strerror(r));
}

void manager_libvirt_init(void) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, libvirt_init_once);
}

static const char *lv_msg(void) {
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

/* ---- connections ---- */

/* A referenced connection to h (the caller closes it), reconnecting when
 * the previous one died. */
static int host_conn(mhost_t *h, virConnectPtr *out, char **why) {
	pthread_mutex_lock(&h->lock);
	if (h->conn && virConnectIsAlive(h->conn) != 1) {
		log_debug("connection to %s lost, reconnecting", h->uri);
		virConnectClose(h->conn);
		h->conn = NULL;
	}
	if (!h->conn) {
		virConnectPtr c = virConnectOpen(h->uri);
		if (!c) {
			free(h->why);
			h->why = xasprintf("cannot connect to %s: %s", h->uri, lv_msg());
			if (why) *why = xstrdup(h->why);
			pthread_mutex_unlock(&h->lock);
			return -EHOSTUNREACH;
		}
		/* The test driver and plain unix sockets do not support it. */
		if (virConnectSetKeepAlive(c, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0)
			log_debug("no keepalive on %s: %s", h->uri, lv_msg());
		h->conn = c;
		free(h->why);
		h->why = NULL;
	}
	virConnectRef(h->conn);
	*out = h->conn;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static mhost_t *find_host(provider_t *p, const char *uri) {
	for (size_t i = 0; uri && i < p->n_hosts; i++)
		if (strcmp(p->hosts[i].uri, uri) == 0) return &p->hosts[i];
	return NULL;
}

/* ---- domains ---- */

/* 0 with *d, -ENOENT when no such domain, -EIO on any other failure. */
static int lookup_uuid(virConnectPtr c, const char *id, virDomainPtr *d) {
	*d = virDomainLookupByUUIDString(c, id);
	if (*d) return 0;
	return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ? -ENOENT : -EIO;
}

/* 1 when d carries our marker (parsed into *m), 0 when it does not (or it
 * vanished meanwhile), -EIO when libvirt could not say. */
static int read_marker(virDomainPtr d, manager_meta_t *m) {
	_cleanup_free_ char *xml = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, MANAGER_NS_URI, 0);
	if (!xml) {
		int code = virGetLastErrorCode();
		return code == VIR_ERR_NO_DOMAIN_METADATA || code == VIR_ERR_NO_DOMAIN ? 0 : -EIO;
	}
	if (manager_meta_parse(xml, m) < 0) {
		log_warn("domain %s carries an unreadable cvmctl marker; treating it as foreign", virDomainGetName(d));
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
static char *domain_url(virDomainPtr d, int port) {
	virDomainInterfacePtr *ifs = NULL;
	int n = virDomainInterfaceAddresses(d, &ifs, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0);
	if (n < 0) {
		log_debug("no addresses for %s: %s", virDomainGetName(d), lv_msg());
		return NULL;
	}
	char *url = NULL;
	for (int i = 0; i < n; i++) {
		for (unsigned j = 0; !url && j < ifs[i]->naddrs; j++) {
			const virDomainIPAddress *a = &ifs[i]->addrs[j];
			if (!a->addr) continue;
			url = a->type == VIR_IP_ADDR_TYPE_IPV6 ? xasprintf("[%s]:%d", a->addr, port)
			                                       : xasprintf("%s:%d", a->addr, port);
		}
		virDomainInterfaceFree(ifs[i]);
	}
	free(ifs);
	return url;
}

static void add_unknown(observation_t *o, const char *uri, const char *why) {
	o->unknown = xrealloc(o->unknown, (o->n_unknown + 1) * sizeof *o->unknown);
	o->unknown[o->n_unknown].placement = xstrdup(uri);
	o->unknown[o->n_unknown].why = xstrdup(why);
	o->n_unknown++;
}

/* Observes one host into o. Returns 0, or -EIO with *why when the host
 * cannot tell us everything (then nothing of it is added). */
static int observe_host(mhost_t *h, virConnectPtr c, observation_t *o, char **why) {
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(c, &doms, 0);
	if (n < 0) {
		*why = xasprintf("cannot list domains on %s: %s", h->uri, lv_msg());
		return -EIO;
	}
	size_t base = o->n;
	int r = 0;
	for (int i = 0; i < n; i++) {
		virDomainPtr d = doms[i];
		manager_meta_t m;
		int own = r < 0 ? 0 : read_marker(d, &m);
		if (own < 0) {
			*why = xasprintf("cannot read metadata of domain %s on %s: %s", virDomainGetName(d), h->uri,
			                 lv_msg());
			r = -EIO;
		}
		if (own <= 0) {
			virDomainFree(d);
			continue;
		}
		int st, reason;
		char uuid[VIR_UUID_STRING_BUFLEN];
		if (virDomainGetState(d, &st, &reason, 0) < 0 || virDomainGetUUIDString(d, uuid) < 0) {
			if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
				*why = xasprintf("cannot read state of domain %s on %s: %s", virDomainGetName(d),
				                 h->uri, lv_msg());
				r = -EIO;
			}
			manager_meta_free(&m);
			virDomainFree(d);
			continue;
		}
		o->v = xrealloc(o->v, (o->n + 1) * sizeof *o->v);
		observed_t *ob = &o->v[o->n++];
		memset(ob, 0, sizeof *ob);
		snprintf(ob->id, sizeof ob->id, "%s", uuid);
		ob->name = m.name ? TAKE_PTR(m.name) : xstrdup(virDomainGetName(d));
		ob->scope = TAKE_PTR(m.scope);
		ob->installation = TAKE_PTR(m.installation);
		ob->spec_hash = TAKE_PTR(m.spec_hash);
		ob->attempt = TAKE_PTR(m.attempt);
		ob->placement = xstrdup(h->uri);
		ob->state = map_state(st);
		ob->vcpus = m.vcpus;
		ob->memory_gib = m.memory_gib;
		if (ob->state == RES_RUNNING && m.port > 0) ob->url = domain_url(d, m.port);
		manager_meta_free(&m);
		virDomainFree(d);
	}
	free(doms);
	if (r < 0) {
		/* Partial knowledge of a host is no knowledge: drop what we saw. */
		for (size_t i = base; i < o->n; i++) observed_free(&o->v[i]);
		o->n = base;
	}
	return r;
}

static int manager_observe(provider_t *p, const observed_t *known, size_t n_known, observation_t *out, char **err) {
	(void)err;
	(void)known;
	(void)n_known;
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < p->n_hosts; i++) {
		mhost_t *h = &p->hosts[i];
		_cleanup_conn_ virConnectPtr c = NULL;
		_cleanup_free_ char *why = NULL;
		if (host_conn(h, &c, &why) < 0 || observe_host(h, c, out, &why) < 0) {
			/* Reported once, by the reconciler, which knows what it means
			 * for the pass (its CVMs are Unknown). */
			add_unknown(out, h->uri, why);
		}
	}
	out->all_unknown = p->n_hosts > 0 && out->n_unknown == p->n_hosts;
	return 0;
}

static int manager_place(provider_t *p, const cvm_desired_t *want, const placement_use_t *used, size_t n_used,
                         char **placement, char **err) {
	_cleanup_free_ manager_host_capacity_t *caps = xcalloc(p->n_hosts ? p->n_hosts : 1, sizeof *caps);
	char **whys = xcalloc(p->n_hosts ? p->n_hosts : 1, sizeof *whys);
	for (size_t i = 0; i < p->n_hosts; i++) {
		mhost_t *h = &p->hosts[i];
		caps[i].uri = h->uri;
		_cleanup_conn_ virConnectPtr c = NULL;
		if (host_conn(h, &c, &whys[i]) < 0) continue;
		virNodeInfo ni;
		memset(&ni, 0, sizeof ni);
		if ((!p->cap_vcpus || !p->cap_memory_gib) && virNodeGetInfo(c, &ni) < 0) {
			whys[i] = xasprintf("cannot read node info of %s: %s", h->uri, lv_msg());
			continue;
		}
		caps[i].reachable = true;
		caps[i].vcpus = p->cap_vcpus ? p->cap_vcpus : (int)ni.cpus;
		caps[i].memory_gib = p->cap_memory_gib ? p->cap_memory_gib : (int)(ni.memory / (1024 * 1024));
	}
	for (size_t i = 0; i < p->n_hosts; i++) caps[i].why = whys[i];
	size_t chosen;
	int r = manager_choose_host(caps, p->n_hosts, used, n_used, want->vcpus, want->memory_gib, &chosen, err);
	if (r == 0) *placement = xstrdup(p->hosts[chosen].uri);
	for (size_t i = 0; i < p->n_hosts; i++) free(whys[i]);
	free(whys);
	return r;
}

/* Who QEMU runs as on that host: the DAC base label, else libvirt-qemu. */
static void hypervisor_owner(provider_t *p, virConnectPtr c, const char *uri, manager_owner_t *o) {
	memset(o, 0, sizeof *o);
	_cleanup_free_ char *caps = virConnectGetCapabilities(c);
	const char *vt = p->domain_type ? p->domain_type : MANAGER_DEFAULT_DOMAIN_TYPE;
	if (caps && manager_parse_dac_label(caps, vt, &o->uid, &o->gid) == 0) {
		o->set = true;
		return;
	}
	struct passwd *pw = getpwnam(MANAGER_FALLBACK_QEMU_USER);
	if (pw) {
		o->set = true;
		o->uid = pw->pw_uid;
		o->gid = pw->pw_gid;
		return;
	}
	log_debug("%s names no DAC label and there is no %s user: share files keep their current owner", uri,
	          MANAGER_FALLBACK_QEMU_USER);
}

static int write_shares(provider_t *p, virConnectPtr c, const mhost_t *h, const char *root, const cvm_desired_t *want,
                        char **err) {
	manager_owner_t owner;
	hypervisor_owner(p, c, h->uri, &owner);
	return manager_shares_write(root ? root : p->share_dir, want->id, want->files, want->n_files, &owner, err);
}

static int ensure_running(virDomainPtr d, const char *uri, char **err) {
	int st, reason;
	if (virDomainGetState(d, &st, &reason, 0) < 0) {
		*err = xasprintf("cannot read state of %s on %s: %s", virDomainGetName(d), uri, lv_msg());
		return -EIO;
	}
	if (st == VIR_DOMAIN_RUNNING) return 0;
	int r = st == VIR_DOMAIN_PAUSED ? virDomainResume(d) : virDomainCreate(d);
	if (r < 0) {
		*err = xasprintf("cannot start %s on %s: %s", virDomainGetName(d), uri, lv_msg());
		return -EIO;
	}
	return 0;
}

static bool streq0(const char *a, const char *b) {
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* libvirt keeps domain names unique per host, but a CVM's name is unique in
 * its provider: a domain of that name on any host is a clash, never a
 * reason to create a second one elsewhere. A host that cannot be reached is
 * skipped, as placement skips it. */
static int name_taken(provider_t *p, const char *name, char **err) {
	for (size_t i = 0; i < p->n_hosts; i++) {
		mhost_t *h = &p->hosts[i];
		_cleanup_conn_ virConnectPtr c = NULL;
		if (host_conn(h, &c, NULL) < 0) continue;
		_cleanup_dom_ virDomainPtr other = virDomainLookupByName(c, name);
		if (!other) {
			if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) continue;
			*err = xasprintf("cannot look up domain %s on %s: %s", name, h->uri, lv_msg());
			return -EIO;
		}
		manager_meta_t m;
		int own = read_marker(other, &m);
		if (own == 1) {
			*err = xasprintf("a domain named %s already exists on %s (cvmctl CVM %s)", name, h->uri,
			                 m.id ? m.id : "?");
			manager_meta_free(&m);
		} else {
			*err = xasprintf("a domain named %s that cvmctl does not own already exists on %s", name, h->uri);
		}
		return -EEXIST;
	}
	return 0;
}

static int create_new(provider_t *p, mhost_t *h, virConnectPtr c, const cvm_desired_t *want, char **err) {
	int r = name_taken(p, want->name, err);
	if (r < 0) return r;
	unsigned long libver;
	if (virConnectGetLibVersion(c, &libver) < 0) {
		*err = xasprintf("cannot read the libvirt version of %s: %s", h->uri, lv_msg());
		return -EIO;
	}
	r = write_shares(p, c, h, NULL, want, err);
	if (r < 0) return r;
	_cleanup_free_ char *certs = manager_share_path(p->share_dir, want->id, "certs");
	_cleanup_free_ char *env = manager_share_path(p->share_dir, want->id, "env");
	manager_domain_params dp = {
		.id = want->id,
		.name = want->name,
		.scope = want->scope,
		.installation = want->installation,
		.spec_hash = want->spec_hash,
		.attempt = want->attempt,
		.vcpus = want->vcpus,
		.memory_gib = want->memory_gib,
		.agent_port = want->agent_port,
		.domain_type = p->domain_type,
		.cpu_model = p->cpu_model,
		.firmware = p->firmware,
		.kernel = p->kernel,
		.initrd = p->initrd,
		.cmdline = p->cmdline,
		.network = p->network,
		.certs_dir = certs,
		.env_dir = env,
		.vtpm = p->vtpm,
		.form = manager_launch_form(libver, p->insecure),
	};
	if (dp.form == LAUNCH_INSECURE)
		log_warn("provider %s: creating CVM %s on %s WITHOUT SEV-SNP (insecureNoSEV): its memory is not "
		         "encrypted and it cannot be attested",
		         p->name, want->name, h->uri);
	log_debug("defining %s on %s (libvirt %lu, %s)", want->name, h->uri, libver, manager_launch_form_name(dp.form));
	_cleanup_free_ char *xml = manager_domain_xml(&dp);
	_cleanup_dom_ virDomainPtr d = virDomainDefineXML(c, xml);
	if (!d) {
		*err = xasprintf("cannot define domain %s on %s: %s", want->name, h->uri, lv_msg());
		return -EIO;
	}
	crash_point("after-define");
	if (virDomainCreate(d) < 0) {
		/* Left defined: the retry finds it by UUID and starts it. */
		*err = xasprintf("cannot start domain %s on %s: %s", want->name, h->uri, lv_msg());
		return -EIO;
	}
	crash_point("after-start");
	return 0;
}

static int manager_create_sync(provider_t *p, const cvm_desired_t *want, char **err);

/* The handle of a manager CVM is the share root its domain mounts: where
 * later deliveries go, even after the Provider's shareDir changed. */
static int manager_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call) {
	int r = manager_create_sync(p, want, &call->err);
	if (r == 0) call->handle = xstrdup(p->share_dir);
	return r;
}

static int manager_create_sync(provider_t *p, const cvm_desired_t *want, char **err) {
	mhost_t *h = find_host(p, want->placement);
	if (!h) {
		*err = xasprintf("'%s' is not a host of provider %s", want->placement ? want->placement : "(none)",
		                 p->name);
		return -EINVAL;
	}
	if (!p->share_dir_explicit && !manager_uri_is_local(h->uri)) {
		*err = xasprintf("cannot deliver files to remote host %s: set shareDir on provider %s to a directory "
		                 "on storage shared with that host",
		                 h->uri, p->name);
		return -EOPNOTSUPP;
	}
	_cleanup_conn_ virConnectPtr c = NULL;
	int r = host_conn(h, &c, err);
	if (r < 0) return r;

	_cleanup_dom_ virDomainPtr d = NULL;
	r = lookup_uuid(c, want->id, &d);
	if (r == -ENOENT) return create_new(p, h, c, want, err);
	if (r < 0) {
		*err = xasprintf("cannot look up %s on %s: %s", want->id, h->uri, lv_msg());
		return r;
	}
	manager_meta_t m;
	int own = read_marker(d, &m);
	if (own < 0) {
		*err = xasprintf("cannot read metadata of %s on %s: %s", want->id, h->uri, lv_msg());
		return -EIO;
	}
	if (own == 0) {
		*err = xasprintf("a domain with UUID %s that cvmctl does not own already exists on %s", want->id,
		                 h->uri);
		return -EEXIST;
	}
	bool same = streq0(m.attempt, want->attempt);
	if (!same)
		*err = xasprintf("domain %s on %s belongs to create attempt %s, not %s: remove it first", want->id, h->uri,
		                 m.attempt ? m.attempt : "(none)", want->attempt ? want->attempt : "(none)");
	manager_meta_free(&m);
	if (!same) return -EEXIST;
	/* A retry of this very attempt (a crash after define or start). */
	r = write_shares(p, c, h, NULL, want, err);
	if (r < 0) return r;
	return ensure_running(d, h->uri, err);
}

/* Finds an owned domain by id on `placement`, or on every host when
 * placement is NULL. -ENOENT (no *err) when absent, -EPERM when foreign. */
static int find_owned(provider_t *p, const char *id, const char *placement, mhost_t **hout, virConnectPtr *cout,
                      virDomainPtr *dout, char **err) {
	if (!id || !uuid_valid(id)) {
		*err = xasprintf("invalid CVM id '%s'", id ? id : "");
		return -EINVAL;
	}
	size_t from = 0, to = p->n_hosts;
	if (placement) {
		mhost_t *h = find_host(p, placement);
		if (!h) {
			*err = xasprintf("'%s' is not a host of provider %s", placement, p->name);
			return -EINVAL;
		}
		from = (size_t)(h - p->hosts);
		to = from + 1;
	}
	for (size_t i = from; i < to; i++) {
		mhost_t *h = &p->hosts[i];
		_cleanup_conn_ virConnectPtr c = NULL;
		int r = host_conn(h, &c, err);
		if (r < 0) return r; /* cannot tell whether it is there */
		_cleanup_dom_ virDomainPtr d = NULL;
		r = lookup_uuid(c, id, &d);
		if (r == -ENOENT) continue;
		if (r < 0) {
			*err = xasprintf("cannot look up %s on %s: %s", id, h->uri, lv_msg());
			return r;
		}
		manager_meta_t m;
		int own = read_marker(d, &m);
		if (own < 0) {
			*err = xasprintf("cannot read metadata of %s on %s: %s", id, h->uri, lv_msg());
			return -EIO;
		}
		if (own == 0) {
			*err = xasprintf("refusing to touch domain %s (%s) on %s: cvmctl does not own it", virDomainGetName(d),
			                 id, h->uri);
			return -EPERM;
		}
		manager_meta_free(&m);
		*hout = h;
		*cout = TAKE_PTR(c);
		*dout = TAKE_PTR(d);
		return 0;
	}
	return -ENOENT;
}

static int undefine(virDomainPtr d) {
	if (virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM) == 0) return 0;
	int code = virGetLastErrorCode();
	if (code == VIR_ERR_NO_DOMAIN) return 0;
	/* Drivers without NVRAM/TPM state reject the flags. */
	if (code != VIR_ERR_INVALID_ARG && code != VIR_ERR_NO_SUPPORT) return -EIO;
	if (virDomainUndefine(d) == 0 || virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return 0;
	return -EIO;
}

/* Share directories go with the domain: at the root it mounts (the handle)
 * and at today's shareDir, should they differ. */
static int remove_shares(provider_t *p, const prov_target_t *t, char **err) {
	int r = manager_shares_remove(p->share_dir, t->id, err);
	if (r == 0 && t->handle && strcmp(t->handle, p->share_dir) != 0) r = manager_shares_remove(t->handle, t->id, err);
	return r;
}

static int manager_remove(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	char **err = &call->err;
	const char *id = t->id;
	mhost_t *h;
	_cleanup_conn_ virConnectPtr c = NULL;
	_cleanup_dom_ virDomainPtr d = NULL;
	int r = find_owned(p, id, t->placement, &h, &c, &d, err);
	if (r == -ENOENT) return remove_shares(p, t, err);
	if (r < 0) return r;
	int active = virDomainIsActive(d);
	if (active == 1 && virDomainDestroy(d) < 0 && virGetLastErrorCode() != VIR_ERR_OPERATION_INVALID &&
	    virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
		*err = xasprintf("cannot stop domain %s on %s: %s", id, h->uri, lv_msg());
		return -EIO;
	}
	if (undefine(d) < 0) {
		*err = xasprintf("cannot undefine domain %s on %s: %s", id, h->uri, lv_msg());
		return -EIO;
	}
	return remove_shares(p, t, err);
}

static int manager_start(provider_t *p, const prov_target_t *t, prov_call_t *call) {
	const char *id = t->id, *placement = t->placement;
	char **err = &call->err;
	mhost_t *h;
	_cleanup_conn_ virConnectPtr c = NULL;
	_cleanup_dom_ virDomainPtr d = NULL;
	int r = find_owned(p, id, placement, &h, &c, &d, err);
	if (r == -ENOENT) *err = xasprintf("no domain %s on %s", id, placement ? placement : "any host");
	if (r < 0) return r;
	return ensure_running(d, h->uri, err);
}

static int manager_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call) {
	char **err = &call->err;
	mhost_t *h;
	_cleanup_conn_ virConnectPtr c = NULL;
	_cleanup_dom_ virDomainPtr d = NULL;
	const char *placement = t->placement ? t->placement : want->placement;
	int r = find_owned(p, want->id, placement, &h, &c, &d, err);
	if (r == -ENOENT) *err = xasprintf("no domain %s on %s", want->id, placement ? placement : "any host");
	if (r < 0) return r;
	/* Where the running domain reads its files: the root it was created
	 * with, not necessarily today's shareDir. */
	if ((r = write_shares(p, c, h, t->handle, want, err)) < 0) return r;

	manager_meta_t m;
	if (read_marker(d, &m) != 1) {
		*err = xasprintf("cannot read metadata of %s on %s: %s", want->id, h->uri, lv_msg());
		return -EIO;
	}
	free(m.spec_hash);
	m.spec_hash = xstrdup(want->spec_hash);
	strbuf sb = {0};
	manager_meta_format(&sb, &m, false, "");
	manager_meta_free(&m);
	_cleanup_free_ char *xml = sb_take(&sb);
	unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
	if (virDomainIsActive(d) == 1) flags |= VIR_DOMAIN_AFFECT_LIVE;
	if (virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, xml, MANAGER_NS_PREFIX, MANAGER_NS_URI, flags) < 0) {
		*err = xasprintf("cannot update the marker of %s on %s: %s", want->id, h->uri, lv_msg());
		return -EIO;
	}
	return 0;
}

static void manager_close(provider_t *p) {
	if (!p) return;
	for (size_t i = 0; i < p->n_hosts; i++) {
		if (p->hosts[i].conn) virConnectClose(p->hosts[i].conn);
		pthread_mutex_destroy(&p->hosts[i].lock);
		free(p->hosts[i].uri);
		free(p->hosts[i].why);
	}
	free(p->hosts);
	free(p->name);
	free(p->firmware);
	free(p->kernel);
	free(p->initrd);
	free(p->cmdline);
	free(p->domain_type);
	free(p->cpu_model);
	free(p->network);
	free(p->share_dir);
	free(p);
}

static const char *setting_str(const json_t *s, const char *key) {
	return json_string_value(json_object_get(s, key));
}

static int setting_int(const json_t *s, const char *key, int dflt) {
	json_t *v = json_object_get(s, key);
	return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* Connections are made on first use, so a host that is down costs nothing
 * until it is needed and a remote host is never contacted by a call that
 * can be refused without it. */
static int manager_open(const provider_config_t *cfg, provider_t **out, char **err) {
	const json_t *s = cfg->settings;
	json_t *hosts = json_object_get(s, "hosts");
	if (json_array_size(hosts) == 0) {
		*err = xasprintf("provider %s lists no hosts", cfg->name);
		return -EINVAL;
	}
	manager_libvirt_init();
	provider_t *p = xcalloc(1, sizeof *p);
	p->name = xstrdup(cfg->name);
	p->n_hosts = json_array_size(hosts);
	p->hosts = xcalloc(p->n_hosts, sizeof *p->hosts);
	for (size_t i = 0; i < p->n_hosts; i++) {
		p->hosts[i].uri = xstrdup(json_string_value(json_array_get(hosts, i)));
		pthread_mutex_init(&p->hosts[i].lock, NULL);
	}
	p->firmware = xstrdup(setting_str(s, "firmware"));
	p->kernel = xstrdup(setting_str(s, "kernel"));
	p->initrd = xstrdup(setting_str(s, "initrd"));
	p->cmdline = xstrdup(setting_str(s, "cmdline"));
	p->domain_type = xstrdup(setting_str(s, "domainType"));
	p->cpu_model = xstrdup(setting_str(s, "cpuModel"));
	p->network = xstrdup(setting_str(s, "network"));
	const char *share = setting_str(s, "shareDir");
	p->share_dir_explicit = share && *share;
	/* Private keys land below the state directory unless told otherwise. */
	p->share_dir = p->share_dir_explicit ? xstrdup(share)
	               : cfg->state_dir    ? xasprintf("%s/shares", cfg->state_dir)
	                                   : xstrdup(MANAGER_DEFAULT_SHARE_DIR);
	p->vtpm = json_is_true(json_object_get(s, "vtpm"));
	p->insecure = json_is_true(json_object_get(s, "insecureNoSEV"));
	json_t *cap = json_object_get(s, "capacity");
	p->cap_vcpus = setting_int(cap, "vcpus", 0);
	p->cap_memory_gib = setting_int(cap, "memoryGiB", 0);
	p->connect_timeout_s = setting_int(s, "connectTimeout", 10);
	p->call_timeout_s = setting_int(s, "callTimeout", 20);
	if (p->insecure)
		log_warn("provider %s: insecureNoSEV is set: its CVMs run WITHOUT SEV-SNP memory encryption or "
		         "attestation",
		         p->name);
	*out = p;
	return 0;
}

const provider_ops_t manager_provider_ops = {
	.flavor = "manager",
	.open = manager_open,
	.close = manager_close,
	.observe = manager_observe,
	.place = manager_place,
	.create = manager_create,
	.poll = NULL, /* creates complete synchronously */
	.op_free = NULL,
	.remove = manager_remove,
	.start = manager_start,
	.update = manager_update,
};
