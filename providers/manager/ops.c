/* The operations, as they run on a host's worker with its connection:
 * create (define + start), remove (destroy + undefine + shares), start,
 * update (shares + marker), and locate (which host holds an id). A domain
 * without our marker is never started, changed or removed. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "providers/manager/backend.h"
#include "providers/manager/domain_xml.h"
#include "providers/manager/metadata.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)
#define _cleanup_dom_ _cleanup_(virDomainFreep)

#ifdef CVM_TEST_HOOKS
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

/* CVMCTL_TEST_AFTER_DEFINE=CMD (test builds only): between define and
 * start, `sh -c CMD sh SHARE NAME` runs with the document just defined on
 * its standard input, and the start waits for it. An end-to-end test keeps
 * the very XML that booted, and can change a share before the guest reads
 * it (its negative control). */
static void test_after_define(const char *xml, const char *share, const char *name) {
	const char *cmd = getenv("CVMCTL_TEST_AFTER_DEFINE");
	if (!cmd || !*cmd) return;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_warn("test hook: pipe: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	char *argv[] = {"sh", "-c", (char *)cmd, "sh", (char *)share, (char *)name, NULL};
	pid_t pid;
	int r = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	for (size_t off = 0, n = strlen(xml); r == 0 && off < n;) {
		ssize_t w = write(fds[1], xml + off, n - off);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) break; /* the hook need not read it all */
		off += (size_t)w;
	}
	close(fds[1]);
	int st = 0;
	if (r != 0) log_warn("test hook: cannot run %s: %s", cmd, strerror(r));
	else if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		log_warn("test hook %s failed (status %d)", cmd, st);
}
#else
static void test_after_define(const char *xml, const char *share, const char *name) {
	(void)xml, (void)share, (void)name;
}
#endif

/* What the last observe saw changes with our own creates and removes, so
 * that later name checks in the pass see them. */
static void seen_update(mhost_t *h, const char *name, const char *id, bool add) {
	pthread_mutex_lock(&h->p->lock);
	for (size_t k = 0; !add && k < h->n_seen; k++) {
		if (strcmp(h->seen[k].name, name) != 0) continue;
		free(h->seen[k].name);
		free(h->seen[k].id);
		h->seen[k--] = h->seen[--h->n_seen];
	}
	if (add) {
		h->seen = xrealloc(h->seen, (h->n_seen + 1) * sizeof *h->seen);
		h->seen[h->n_seen].name = xstrdup(name);
		h->seen[h->n_seen].id = xstrdup(id);
		h->n_seen++;
	}
	pthread_mutex_unlock(&h->p->lock);
}

/* 0 with *d, -ENOENT when no such domain, -EIO (e set) otherwise. */
static int lookup_uuid(virConnectPtr c, const char *id, virDomainPtr *d, lv_error_t *e) {
	LV_COUNT(other);
	*d = virDomainLookupByUUIDString(c, id);
	if (*d) return 0;
	lv_capture(e);
	return e->code == VIR_ERR_NO_DOMAIN ? -ENOENT : -EIO;
}

/* The owned domain `id` on this host, its marker in *m. -ENOENT when absent
 * (*err: libvirt's own words), -EPERM when foreign, -EIO. */
static int find_owned(mhost_t *h, virConnectPtr c, const char *id, virDomainPtr *dout, manager_meta_t *m,
                      char **err) {
	_cleanup_lverr_ lv_error_t e = {0};
	_cleanup_dom_ virDomainPtr d = NULL;
	int r = lookup_uuid(c, id, &d, &e);
	if (r == -ENOENT) *err = xasprintf("no domain %s on %s: %s", id, h->uri, e.msg);
	if (r < 0 && r != -ENOENT) *err = xasprintf("cannot look up %s on %s: %s", id, h->uri, e.msg);
	if (r < 0) return r;
	const char *name = virDomainGetName(d);
	int own = read_marker(d, name, m, &e);
	if (own < 0) {
		*err = xasprintf("cannot read metadata of %s on %s: %s", id, h->uri, e.msg);
		return -EIO;
	}
	if (own == 0) {
		*err = xasprintf("refusing to touch domain %s (%s) on %s: cvmctl does not own it", name, id, h->uri);
		return -EPERM;
	}
	*dout = TAKE_PTR(d);
	return 0;
}

/* Who QEMU runs as on that host: the DAC base label, else libvirt-qemu.
 * Read once per host and pass. */
static const manager_owner_t *hypervisor_owner(mhost_t *h, virConnectPtr c) {
	if (h->owner_read) return &h->owner;
	h->owner_read = true;
	manager_owner_t *o = &h->owner;
	memset(o, 0, sizeof *o);
	LV_COUNT(other);
	_cleanup_free_ char *caps = virConnectGetCapabilities(c);
	const char *vt = h->p->domain_type ? h->p->domain_type : manager_default_str("domainType");
	if (caps && manager_parse_dac_label(caps, vt, &o->uid, &o->gid) == 0) {
		o->set = true;
		return o;
	}
	struct passwd pw, *res = NULL;
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	_cleanup_free_ char *buf = xmalloc(sz > 0 ? (size_t)sz : 16384);
	if (getpwnam_r(MANAGER_FALLBACK_QEMU_USER, &pw, buf, sz > 0 ? (size_t)sz : 16384, &res) == 0 && res) {
		o->set = true;
		o->uid = pw.pw_uid;
		o->gid = pw.pw_gid;
		return o;
	}
	log_debug("%s names no DAC label and there is no %s user: share files keep their current owner", h->uri,
	          MANAGER_FALLBACK_QEMU_USER);
	return o;
}

static int write_shares(mhost_t *h, virConnectPtr c, const char *root, const cvm_desired_t *want, char **err) {
	return manager_shares_write(root, want->id, want->files, want->n_files, hypervisor_owner(h, c), err);
}

static int ensure_running(mhost_t *h, virDomainPtr d, const char *id, char **err) {
	int st, reason;
	_cleanup_lverr_ lv_error_t e = {0};
	LV_COUNT(other);
	if (virDomainGetState(d, &st, &reason, 0) < 0) {
		lv_capture(&e);
		*err = xasprintf("cannot read state of %s on %s: %s", id, h->uri, e.msg);
		return -EIO;
	}
	if (st == VIR_DOMAIN_RUNNING) return 0;
	LV_COUNT(other);
	if ((st == VIR_DOMAIN_PAUSED ? virDomainResume(d) : virDomainCreate(d)) < 0) {
		lv_capture(&e);
		*err = xasprintf("cannot start %s on %s: %s", id, h->uri, e.msg);
		return -EIO;
	}
	return 0;
}

/* A CVM's name is unique in its provider: a domain of that name on any
 * host is a clash, never a reason to create a second one elsewhere. The
 * other hosts are judged from what the last observe saw of them (a host
 * not observed, or down, is skipped as placement skips it); this one is
 * asked. */
static int name_taken(mhost_t *h, virConnectPtr c, const char *name, char **err, bool listed_absent_here) {
	provider_t *p = h->p;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_hosts && !*err; i++) {
		const mhost_t *o = &p->hosts[i];
		for (size_t k = 0; o != h && k < o->n_seen && !*err; k++) {
			if (strcmp(o->seen[k].name, name) != 0) continue;
			*err = o->seen[k].id ? xasprintf("a domain named %s already exists on %s (cvmctl CVM %s)", name,
			                                 o->uri, o->seen[k].id)
			                     : xasprintf("a domain named %s that cvmctl does not own already exists on %s",
			                                 name, o->uri);
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (*err) return -EEXIST;
	if (listed_absent_here) return 0;
	LV_COUNT(other);
	_cleanup_dom_ virDomainPtr other = virDomainLookupByName(c, name);
	_cleanup_lverr_ lv_error_t e = {0};
	if (!other) {
		lv_capture(&e);
		if (e.code == VIR_ERR_NO_DOMAIN) return 0;
		*err = xasprintf("cannot look up domain %s on %s: %s", name, h->uri, e.msg);
		return -EIO;
	}
	manager_meta_t m;
	if (read_marker(other, name, &m, &e) == 1) {
		*err = xasprintf("a domain named %s already exists on %s (cvmctl CVM %s)", name, h->uri, m.id ? m.id : "?");
		manager_meta_free(&m);
	} else {
		*err = xasprintf("a domain named %s that cvmctl does not own already exists on %s", name, h->uri);
	}
	return -EEXIST;
}

static int define_and_start(mhost_t *h, virConnectPtr c, const cvm_desired_t *want, const char *root, char **err) {
	provider_t *p = h->p;
	_cleanup_lverr_ lv_error_t e = {0};
	/* Once per connection: it decides the launch form of every domain. */
	if (!h->libver) {
		LV_COUNT(other);
		if (virConnectGetLibVersion(c, &h->libver) < 0) {
			lv_capture(&e);
			h->libver = 0;
			*err = xasprintf("cannot read the libvirt version of %s: %s", h->uri, e.msg);
			return -EIO;
		}
	}
	unsigned long libver = h->libver;
	_cleanup_free_ char *certs = manager_share_path(root, want->id, "certs");
	_cleanup_free_ char *env = manager_share_path(root, want->id, "env");
	_cleanup_free_ char *console = manager_share_path(root, want->id, MANAGER_CONSOLE_LOG);
	manager_domain_params dp = {
		.id = want->id, .name = want->name, .scope = want->scope, .installation = want->installation,
		.spec_hash = want->spec_hash, .attempt = want->attempt, .vcpus = want->vcpus,
		.memory_gib = want->memory_gib, .agent_port = want->agent_port, .domain_type = p->domain_type,
		.cpu_model = p->cpu_model, .firmware = p->firmware, .kernel = p->kernel, .initrd = p->initrd,
		.cmdline = p->cmdline, .network = p->network, .certs_dir = certs, .env_dir = env, .share_root = root,
		.console_log = console, .vtpm = p->vtpm, .form = manager_launch_form(libver, p->insecure),
	};
	if (dp.form == LAUNCH_INSECURE)
		log_warn("provider %s: creating CVM %s on %s WITHOUT SEV-SNP (insecureNoSEV): its memory is not "
		         "encrypted and it cannot be attested",
		         p->name, want->name, h->uri);
	log_debug("defining %s on %s (libvirt %lu, %s)", want->name, h->uri, libver, manager_launch_form_name(dp.form));
	_cleanup_free_ char *xml = manager_domain_xml(&dp);
	LV_COUNT(other);
	_cleanup_dom_ virDomainPtr d = virDomainDefineXML(c, xml);
	if (!d) {
		lv_capture(&e);
		*err = xasprintf("cannot define domain %s on %s: %s", want->name, h->uri, e.msg);
		return -EIO;
	}
	crash_point("after-define");
	_cleanup_free_ char *share = manager_share_path(root, want->id, NULL);
	test_after_define(xml, share, want->name);
	LV_COUNT(other);
	if (virDomainCreate(d) < 0) {
		/* Left defined: the retry finds it by UUID and starts it. */
		lv_capture(&e);
		*err = xasprintf("cannot start domain %s on %s: %s", want->name, h->uri, e.msg);
		return -EIO;
	}
	crash_point("after-start");
	return 0;
}

/* Whether this pass's listing of the host (every domain, ours or not)
 * showed neither the id nor the name: then a create need not ask again
 * before defining. libvirt itself refuses a second domain of either. */
static bool listed_absent(mhost_t *h, const char *id, const char *name) {
	pthread_mutex_lock(&h->p->lock);
	bool absent = h->observed;
	for (size_t k = 0; absent && k < h->n_seen; k++)
		if (strcmp(h->seen[k].name, name) == 0 || (h->seen[k].id && strcmp(h->seen[k].id, id) == 0)) absent = false;
	pthread_mutex_unlock(&h->p->lock);
	return absent;
}

/* Idempotent per (id, attempt): a retry of the same attempt finds its
 * domain and carries on; j->out_handle is the share root it mounts. A
 * create whose id and name the pass's listing of this host did not show
 * costs two calls (define, start), as it would in a virsh session. */
int create_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	const cvm_desired_t *want = j->want;
	const char *root = h->p->share_dir;
	_cleanup_lverr_ lv_error_t e = {0};
	_cleanup_dom_ virDomainPtr d = NULL;
	bool fresh = listed_absent(h, want->id, want->name);
	int r = fresh ? -ENOENT : lookup_uuid(c, want->id, &d, &e);
	if (r == -ENOENT) {
		if ((r = name_taken(h, c, want->name, err, fresh)) < 0) return r;
		if ((r = write_shares(h, c, root, want, err)) < 0) return r;
		if ((r = define_and_start(h, c, want, root, err)) < 0) return r;
		seen_update(h, want->name, want->id, true);
		j->out_handle = xstrdup(root);
		return 0;
	}
	if (r < 0) {
		*err = xasprintf("cannot look up %s on %s: %s", want->id, h->uri, e.msg);
		return r;
	}
	manager_meta_t m;
	int own = read_marker(d, want->name, &m, &e);
	if (own < 0) {
		*err = xasprintf("cannot read metadata of %s on %s: %s", want->id, h->uri, e.msg);
		return -EIO;
	}
	if (own == 0) {
		*err = xasprintf("a domain with UUID %s that cvmctl does not own already exists on %s", want->id, h->uri);
		return -EEXIST;
	}
	if (!streq_or_empty(m.attempt, want->attempt)) {
		*err = xasprintf("domain %s on %s belongs to create attempt %s, not %s: remove it first", want->id, h->uri,
		                 m.attempt ? m.attempt : "(none)", want->attempt ? want->attempt : "(none)");
		manager_meta_free(&m);
		return -EEXIST;
	}
	/* A retry of this very attempt (a crash after define or start): the
	 * files go where that domain looks. */
	j->out_handle = xstrdup(m.share_root ? m.share_root : root);
	manager_meta_free(&m);
	if ((r = write_shares(h, c, j->out_handle, want, err)) < 0) return r;
	return ensure_running(h, d, want->id, err);
}

static int undefine(virDomainPtr d, lv_error_t *e) {
	LV_COUNT(other);
	if (virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM) == 0) return 0;
	lv_capture(e);
	if (e->code == VIR_ERR_NO_DOMAIN) return 0;
	/* Drivers without NVRAM/TPM state reject the flags. */
	if (e->code != VIR_ERR_INVALID_ARG && e->code != VIR_ERR_NO_SUPPORT) return -EIO;
	LV_COUNT(other);
	if (virDomainUndefine(d) == 0) return 0;
	lv_capture(e);
	return e->code == VIR_ERR_NO_DOMAIN ? 0 : -EIO;
}

/* Share directories go with the domain, keys included: at the root it
 * mounts (the handle, or its marker's), and at today's shareDir. */
static int remove_shares(provider_t *p, const char *id, const char *a, const char *b, char **err) {
	int r = manager_shares_remove(p->share_dir, id, err);
	if (r == 0 && a && strcmp(a, p->share_dir) != 0) r = manager_shares_remove(a, id, err);
	if (r == 0 && b && strcmp(b, p->share_dir) != 0 && !streq_or_empty(a, b)) r = manager_shares_remove(b, id, err);
	return r;
}

int remove_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	_cleanup_dom_ virDomainPtr d = NULL;
	manager_meta_t m = {0};
	int r = find_owned(h, c, j->id, &d, &m, err);
	if (r == -ENOENT) {
		free(TAKE_PTR(*err)); /* absent is success */
		return remove_shares(h->p, j->id, j->handle, NULL, err);
	}
	if (r < 0) return r;
	_cleanup_free_ char *root = TAKE_PTR(m.share_root);
	manager_meta_free(&m);
	_cleanup_lverr_ lv_error_t e = {0};
	LV_COUNT(other);
	if (virDomainIsActive(d) == 1 && (LV_COUNT(other), virDomainDestroy(d)) < 0) {
		lv_capture(&e);
		if (e.code != VIR_ERR_OPERATION_INVALID && e.code != VIR_ERR_NO_DOMAIN) {
			*err = xasprintf("cannot stop domain %s on %s: %s", j->id, h->uri, e.msg);
			return -EIO;
		}
	}
	if (undefine(d, &e) < 0) {
		*err = xasprintf("cannot undefine domain %s on %s: %s", j->id, h->uri, e.msg);
		return -EIO;
	}
	seen_update(h, virDomainGetName(d), NULL, false);
	return remove_shares(h->p, j->id, j->handle, root, err);
}

int start_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	_cleanup_dom_ virDomainPtr d = NULL;
	manager_meta_t m = {0};
	int r = find_owned(h, c, j->id, &d, &m, err);
	manager_meta_free(&m);
	if (r < 0) return r;
	return ensure_running(h, d, j->id, err);
}

/* The marker with the new spec hash; the rest of it is kept. */
static int set_marker(mhost_t *h, virDomainPtr d, const mjob_t *j, manager_meta_t *m, const char *root, char **err) {
	free(m->spec_hash);
	m->spec_hash = xstrdup(j->want->spec_hash);
	if (!m->share_root) m->share_root = xstrdup(root);
	strbuf sb = {0};
	manager_meta_format(&sb, m, false, "");
	_cleanup_free_ char *xml = sb_take(&sb);
	unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
	LV_COUNT(other);
	if (virDomainIsActive(d) == 1) flags |= VIR_DOMAIN_AFFECT_LIVE;
	LV_COUNT(other);
	if (virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, xml, MANAGER_NS_PREFIX, MANAGER_NS_URI, flags) < 0) {
		_cleanup_lverr_ lv_error_t e = {0};
		lv_capture(&e);
		*err = xasprintf("cannot update the marker of %s on %s: %s", j->id, h->uri, e.msg);
		return -EIO;
	}
	return 0;
}

/* The files go where the running domain reads them: the share root it was
 * created with (the handle, else its marker's), not necessarily today's
 * shareDir. */
int update_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	_cleanup_dom_ virDomainPtr d = NULL;
	manager_meta_t m = {0};
	int r = find_owned(h, c, j->id, &d, &m, err);
	if (r < 0) return r;
	const char *root = j->handle ? j->handle : m.share_root ? m.share_root : h->p->share_dir;
	r = write_shares(h, c, root, j->want, err);
	if (r == 0) r = set_marker(h, d, j, &m, root, err);
	manager_meta_free(&m);
	return r;
}

int locate_job(mhost_t *h, virConnectPtr c, mjob_t *j, char **err) {
	_cleanup_dom_ virDomainPtr d = NULL;
	manager_meta_t m = {0};
	int r = find_owned(h, c, j->id, &d, &m, err);
	manager_meta_free(&m);
	return r;
}
