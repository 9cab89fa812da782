/* The manager backend against libvirt's in-process test driver
 * (test:///default). The test holds one connection open for the whole run,
 * so the driver's state outlives the backend's own connections. Placement
 * across several hosts is tested as pure arithmetic here; real multi-host
 * runs are end-to-end tests with private libvirtd daemons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/manager/manager.h"
#include "providers/manager/metadata.h"
#include "providers/manager/placement.h"
#include "providers/manager/shares.h"
#include "providers/provider.h"

#define HOST "test:///default"
#define DEAD_HOST "test+unix:///default?socket=/nonexistent/sock"
#define FOREIGN_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f" /* the driver's built-in "test" domain */

static virConnectPtr holder;
static char share_dir[] = "/tmp/cvmctl-manager-test-XXXXXX";

DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int group_setup(void **state) {
	(void)state;
	manager_libvirt_init();
	holder = virConnectOpen(HOST);
	if (!holder || !mkdtemp(share_dir)) return -1;
	return 0;
}

static int group_teardown(void **state) {
	(void)state;
	virConnectClose(holder);
	nftw(share_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* The Provider's settings as the spec loader hands them to the backend. */
static json_t *settings_for(const char *const *hosts, size_t n, const char *share, bool insecure) {
	json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:b}", "firmware", "/usr/share/ovmf/OVMF.fd", "kernel",
	                      "/srv/guest/bzImage", "initrd", "/srv/guest/rootfs.cpio.gz", "domainType", "qemu",
	                      "insecureNoSEV", insecure);
	json_t *h = json_array();
	for (size_t i = 0; i < n; i++) json_array_append_new(h, json_string(hosts[i]));
	json_object_set_new(s, "hosts", h);
	if (share) json_object_set_new(s, "shareDir", json_string(share));
	return s;
}

static provider_t *open_settings(const char *name, json_t *settings) {
	provider_config_t cfg = {.name = name, .flavor = "manager", .settings = settings, .state_dir = share_dir};
	provider_t *p = NULL;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(manager_provider_ops.open(&cfg, &p, &err), 0);
	assert_non_null(p);
	json_decref(settings);
	return p;
}

static provider_t *open_provider(const char *const *hosts, size_t n, bool insecure) {
	return open_settings("lab", settings_for(hosts, n, share_dir, insecure));
}

/* How many submits came back with an operation to poll, and how many polls
 * said "not yet": the calls are asynchronous. */
static int n_async, n_not_yet;

/* The engine's loop: poll until done, no sooner than again_ms. */
static int finish(provider_t *p, int r, prov_call_t *c) {
	if (r < 0 || !c->op) return r;
	n_async++;
	prov_op_t *op = TAKE_PTR(c->op);
	for (;;) {
		c->again_ms = 0;
		r = manager_provider_ops.poll(p, op, c);
		if (r != 0) break;
		n_not_yet++;
		assert_true(c->again_ms > 0 && c->again_ms <= 1000);
		usleep((useconds_t)c->again_ms * 1000);
	}
	manager_provider_ops.op_free(op);
	return r < 0 ? r : 0;
}

/* The calls as the engine makes them, results unpacked. */
static char *last_handle;

static int m_create(provider_t *p, const cvm_desired_t *w, prov_op_t **op, char **err) {
	prov_call_t c = {0};
	int r = finish(p, manager_provider_ops.create(p, w, &c), &c);
	*op = c.op;
	*err = TAKE_PTR(c.err);
	free(last_handle);
	last_handle = TAKE_PTR(c.handle);
	prov_call_clear(&c);
	return r;
}

static int m_remove_at(provider_t *p, const char *id, const char *placement, const char *handle, char **err) {
	prov_call_t c = {0};
	prov_target_t t = {.id = id, .placement = placement, .handle = handle};
	int r = finish(p, manager_provider_ops.remove(p, &t, &c), &c);
	*err = TAKE_PTR(c.err);
	prov_call_clear(&c);
	return r;
}

static int m_remove(provider_t *p, const char *id, const char *placement, prov_op_t **op, char **err) {
	*op = NULL;
	return m_remove_at(p, id, placement, NULL, err);
}

static int m_start(provider_t *p, const char *id, const char *placement, char **err) {
	prov_call_t c = {0};
	prov_target_t t = {.id = id, .placement = placement};
	int r = finish(p, manager_provider_ops.start(p, &t, &c), &c);
	*err = TAKE_PTR(c.err);
	prov_call_clear(&c);
	return r;
}

static int m_update_at(provider_t *p, const cvm_desired_t *w, const char *handle, char **err) {
	prov_call_t c = {0};
	prov_target_t t = {.id = w->id, .name = w->name, .placement = w->placement, .handle = handle};
	int r = finish(p, manager_provider_ops.update(p, &t, w, &c), &c);
	*err = TAKE_PTR(c.err);
	prov_call_clear(&c);
	return r;
}

static int m_update(provider_t *p, const cvm_desired_t *w, char **err) {
	return m_update_at(p, w, NULL, err);
}

static int m_observe(provider_t *p, observation_t *o, char **err) {
	return manager_provider_ops.observe(p, NULL, 0, o, err);
}

static const unsigned char cert_pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
static const unsigned char key_pem[] = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n";
static const unsigned char env_v1[] = "AGENT_LOG_LEVEL=info\nAGENT_CVM_ID=x\n";
static const unsigned char env_v2[] = "AGENT_LOG_LEVEL=debug\nAGENT_CVM_ID=x\n";

static prov_file_t files_v1[] = {
	{"certs", "cert.pem", cert_pem, sizeof cert_pem - 1},
	{"certs", "key.pem", key_pem, sizeof key_pem - 1},
	{"env", "environment", env_v1, sizeof env_v1 - 1},
};

static cvm_desired_t want_for(const char *id, const char *name) {
	return (cvm_desired_t){
		.id = id,
		.name = name,
		.scope = "default",
		.installation = "0d1e2f30-4152-4637-8899-aabbccddeeff",
		.spec_hash = "hash-1",
		.attempt = "attempt-1",
		.placement = HOST,
		.vcpus = 2,
		.memory_gib = 1,
		.agent_port = 7002,
		.files = files_v1,
		.n_files = ARRAY_SIZE(files_v1),
	};
}

static void create_ok(provider_t *p, const cvm_desired_t *w) {
	prov_op_t *op = (prov_op_t *)1;
	_cleanup_free_ char *err = NULL;
	int r = m_create(p, w, &op, &err);
	if (r < 0) fail_msg("create %s: %s", w->name, err);
	assert_null(op);
}

static void remove_ok(provider_t *p, const char *id) {
	prov_op_t *op = (prov_op_t *)1;
	_cleanup_free_ char *err = NULL;
	int r = m_remove(p, id, HOST, &op, &err);
	if (r < 0) fail_msg("remove %s: %s", id, err);
	assert_null(op);
}

static size_t count_named(const char *name) {
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(holder, &doms, 0);
	assert_true(n >= 0);
	size_t c = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(virDomainGetName(doms[i]), name) == 0) c++;
		virDomainFree(doms[i]);
	}
	free(doms);
	return c;
}

static const observed_t *find_obs(const observation_t *o, const char *id) {
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->v[i].id, id) == 0) return &o->v[i];
	return NULL;
}

static void check_file(const char *path, const unsigned char *want, size_t len, uid_t uid) {
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, uid);
	_cleanup_free_ char *got = NULL;
	size_t n;
	assert_int_equal(read_file(path, &got, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got, want, len);
}

static void check_dir(const char *path, uid_t uid) {
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, uid);
}

/* The test driver has no DAC model: as root the files go to libvirt-qemu
 * when that user exists; otherwise they stay ours. */
static uid_t expected_owner(void) {
	struct passwd *pw = getpwnam(MANAGER_FALLBACK_QEMU_USER);
	return geteuid() == 0 && pw ? pw->pw_uid : geteuid();
}

static void test_create_defines_and_starts(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *id = "11111111-1111-4111-8111-111111111111";
	cvm_desired_t w = want_for(id, "cvm-create");
	create_ok(p, &w);

	_cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByUUIDString(holder, id);
	assert_non_null(d);
	assert_string_equal(virDomainGetName(d), "cvm-create");
	assert_int_equal(virDomainIsActive(d), 1);
	assert_int_equal(virDomainIsPersistent(d), 1);
	_cleanup_free_ char *meta = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, MANAGER_NS_URI, 0);
	assert_non_null(meta);
	manager_meta_t m;
	assert_int_equal(manager_meta_parse(meta, &m), 0);
	assert_true(manager_meta_is_ours(&m));
	assert_string_equal(m.id, id);
	assert_string_equal(m.name, "cvm-create");
	assert_string_equal(m.scope, "default");
	assert_string_equal(m.installation, w.installation);
	assert_string_equal(m.spec_hash, "hash-1");
	assert_string_equal(m.attempt, "attempt-1");
	assert_int_equal(m.port, 7002);
	assert_int_equal(m.vcpus, 2);
	assert_int_equal(m.memory_gib, 1);
	assert_false(m.insecure_no_sev);
	manager_meta_free(&m);

	/* The 9p shares point at this CVM's directories. */
	_cleanup_free_ char *xml = virDomainGetXMLDesc(d, 0);
	_cleanup_free_ char *certs = manager_share_path(share_dir, id, "certs");
	_cleanup_free_ char *env = manager_share_path(share_dir, id, "env");
	_cleanup_free_ char *certs_src = xasprintf("<source dir='%s'/>", certs);
	assert_non_null(strstr(xml, certs_src));
	assert_non_null(strstr(xml, "<target dir='certs_share'/>"));
	assert_non_null(strstr(xml, "<target dir='env_share'/>"));

	uid_t uid = expected_owner();
	_cleanup_free_ char *top = manager_share_path(share_dir, id, NULL);
	check_dir(top, uid);
	check_dir(certs, uid);
	check_dir(env, uid);
	_cleanup_free_ char *cert = xasprintf("%s/cert.pem", certs);
	_cleanup_free_ char *key = xasprintf("%s/key.pem", certs);
	_cleanup_free_ char *envf = xasprintf("%s/environment", env);
	check_file(cert, cert_pem, sizeof cert_pem - 1, uid);
	check_file(key, key_pem, sizeof key_pem - 1, uid);
	check_file(envf, env_v1, sizeof env_v1 - 1, uid);

	remove_ok(p, id);
	manager_provider_ops.close(p);
}

static void test_create_idempotent(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *id = "22222222-2222-4222-8222-222222222222";
	cvm_desired_t w = want_for(id, "cvm-twice");
	create_ok(p, &w);
	create_ok(p, &w);
	assert_int_equal(count_named("cvm-twice"), 1);

	/* A retry after a crash between define and start starts it. */
	_cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByUUIDString(holder, id);
	assert_int_equal(virDomainDestroy(d), 0);
	assert_int_equal(virDomainIsActive(d), 0);
	create_ok(p, &w);
	assert_int_equal(virDomainIsActive(d), 1);
	assert_int_equal(count_named("cvm-twice"), 1);

	/* Another attempt must not silently take over the old one. */
	cvm_desired_t w2 = w;
	w2.attempt = "attempt-2";
	prov_op_t *op = NULL;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_create(p, &w2, &op, &err), -EEXIST);
	assert_non_null(strstr(err, "attempt-1"));
	assert_int_equal(count_named("cvm-twice"), 1);

	remove_ok(p, id);
	manager_provider_ops.close(p);
}

static void test_observe_lists_only_ours(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *id = "33333333-3333-4333-8333-333333333333";
	cvm_desired_t w = want_for(id, "cvm-observe");
	create_ok(p, &w);

	observation_t o;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_observe(p, &o, &err), 0);
	assert_int_equal(o.n_unknown, 0);
	assert_false(o.all_unknown);
	assert_null(find_obs(&o, FOREIGN_UUID));
	const observed_t *ob = find_obs(&o, id);
	assert_non_null(ob);
	assert_string_equal(ob->name, "cvm-observe");
	assert_string_equal(ob->scope, "default");
	assert_string_equal(ob->installation, w.installation);
	assert_string_equal(ob->spec_hash, "hash-1");
	assert_string_equal(ob->attempt, "attempt-1");
	assert_string_equal(ob->placement, HOST);
	assert_int_equal(ob->state, RES_RUNNING);
	assert_int_equal(ob->vcpus, 2);
	assert_int_equal(ob->memory_gib, 1);
	/* The test driver makes up a lease for every interface. */
	assert_non_null(ob->url);
	assert_non_null(strstr(ob->url, ":7002"));
	for (size_t i = 0; i < o.n; i++) assert_string_not_equal(o.v[i].id, FOREIGN_UUID);
	observation_free(&o);

	remove_ok(p, id);
	manager_provider_ops.close(p);
}

static void test_foreign_untouched(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	_cleanup_(virDomainFreep) virDomainPtr foreign = virDomainLookupByUUIDString(holder, FOREIGN_UUID);
	assert_non_null(foreign);
	assert_int_equal(virDomainIsActive(foreign), 1);

	prov_op_t *op = NULL;
	_cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;
	assert_int_equal(m_remove(p, FOREIGN_UUID, HOST, &op, &e1), -EPERM);
	assert_non_null(strstr(e1, "does not own"));
	assert_int_equal(m_remove(p, FOREIGN_UUID, NULL, &op, &e2), -EPERM);
	assert_int_equal(m_start(p, FOREIGN_UUID, HOST, &e3), -EPERM);

	/* A create under its UUID, or under its name, is refused. */
	cvm_desired_t w = want_for(FOREIGN_UUID, "some-cvm");
	assert_int_equal(m_create(p, &w, &op, &e4), -EEXIST);
	assert_non_null(strstr(e4, "does not own"));
	cvm_desired_t w2 = want_for("44444444-4444-4444-8444-444444444444", "test");
	assert_int_equal(m_create(p, &w2, &op, &e5), -EEXIST);
	assert_string_equal(e5, "a domain named test that cvmctl does not own already exists on " HOST);

	_cleanup_(virDomainFreep) virDomainPtr again = virDomainLookupByUUIDString(holder, FOREIGN_UUID);
	assert_non_null(again);
	assert_string_equal(virDomainGetName(again), "test");
	assert_int_equal(virDomainIsActive(again), 1);
	char *md = virDomainGetMetadata(again, VIR_DOMAIN_METADATA_ELEMENT, MANAGER_NS_URI, 0);
	assert_null(md);
	assert_null(virDomainLookupByUUIDString(holder, w2.id));
	/* Nothing was written for the refused creates either. */
	_cleanup_free_ char *top = manager_share_path(share_dir, w2.id, NULL);
	assert_int_equal(access(top, F_OK), -1);
	manager_provider_ops.close(p);
}

static void test_remove_ours(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *id = "55555555-5555-4555-8555-555555555555";
	cvm_desired_t w = want_for(id, "cvm-remove");
	create_ok(p, &w);
	remove_ok(p, id);
	assert_null(virDomainLookupByUUIDString(holder, id));
	assert_int_equal(virGetLastErrorCode(), VIR_ERR_NO_DOMAIN);
	_cleanup_free_ char *top = manager_share_path(share_dir, id, NULL);
	assert_int_equal(access(top, F_OK), -1);
	/* Absent is success, on the host or anywhere. */
	remove_ok(p, id);
	prov_op_t *op = NULL;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_remove(p, id, NULL, &op, &err), 0);

	/* A shut-off domain is removed too. */
	create_ok(p, &w);
	_cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByUUIDString(holder, id);
	assert_int_equal(virDomainDestroy(d), 0);
	remove_ok(p, id);
	assert_int_equal(count_named("cvm-remove"), 0);
	manager_provider_ops.close(p);
}

static void test_stopped_then_start(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *id = "66666666-6666-4666-8666-666666666666";
	cvm_desired_t w = want_for(id, "cvm-stopped");
	create_ok(p, &w);
	_cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByUUIDString(holder, id);
	assert_int_equal(virDomainDestroy(d), 0);

	observation_t o;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_observe(p, &o, &err), 0);
	const observed_t *ob = find_obs(&o, id);
	assert_non_null(ob);
	assert_int_equal(ob->state, RES_STOPPED);
	assert_null(ob->url);
	observation_free(&o);

	assert_int_equal(m_start(p, id, HOST, &err), 0);
	assert_int_equal(virDomainIsActive(d), 1);
	assert_int_equal(m_observe(p, &o, &err), 0);
	assert_int_equal(find_obs(&o, id)->state, RES_RUNNING);
	observation_free(&o);
	/* Starting a running domain is a no-op; starting nothing is an error. */
	assert_int_equal(m_start(p, id, HOST, &err), 0);
	_cleanup_free_ char *e2 = NULL;
	assert_int_equal(m_start(p, "77777777-7777-4777-8777-777777777777", HOST, &e2), -ENOENT);
	assert_non_null(e2);

	remove_ok(p, id);
	manager_provider_ops.close(p);
}

static void test_update(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *id = "88888888-8888-4888-8888-888888888888";
	cvm_desired_t w = want_for(id, "cvm-update");
	create_ok(p, &w);

	prov_file_t files_v2[] = {{"env", "environment", env_v2, sizeof env_v2 - 1}};
	cvm_desired_t w2 = w;
	w2.spec_hash = "hash-2";
	w2.files = files_v2;
	w2.n_files = 1;
	_cleanup_free_ char *err = NULL;
	int r = m_update(p, &w2, &err);
	if (r < 0) fail_msg("update: %s", err);

	_cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByUUIDString(holder, id);
	const unsigned flags[] = {VIR_DOMAIN_AFFECT_LIVE, VIR_DOMAIN_AFFECT_CONFIG};
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		_cleanup_free_ char *meta = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, MANAGER_NS_URI, flags[i]);
		assert_non_null(meta);
		manager_meta_t m;
		assert_int_equal(manager_meta_parse(meta, &m), 0);
		assert_string_equal(m.spec_hash, "hash-2");
		assert_string_equal(m.attempt, "attempt-1"); /* the rest of the marker is kept */
		assert_string_equal(m.id, id);
		assert_int_equal(m.port, 7002);
		assert_true(manager_meta_is_ours(&m));
		manager_meta_free(&m);
	}
	_cleanup_free_ char *envf = xasprintf("%s/%s/env/environment", share_dir, id);
	check_file(envf, env_v2, sizeof env_v2 - 1, expected_owner());

	/* A file outside certs/ and env/ is refused. */
	prov_file_t bad[] = {{"certs", "../../escape", env_v2, 3}};
	w2.files = bad;
	_cleanup_free_ char *e2 = NULL;
	assert_int_equal(m_update(p, &w2, &e2), -EINVAL);
	_cleanup_free_ char *escaped = xasprintf("%s/escape", share_dir);
	assert_int_equal(access(escaped, F_OK), -1);

	remove_ok(p, id);
	manager_provider_ops.close(p);
}

static void test_insecure_marker(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, true);
	const char *id = "99999999-9999-4999-8999-999999999999";
	cvm_desired_t w = want_for(id, "cvm-insecure");
	create_ok(p, &w);
	_cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByUUIDString(holder, id);
	_cleanup_free_ char *meta = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, MANAGER_NS_URI, 0);
	manager_meta_t m;
	assert_int_equal(manager_meta_parse(meta, &m), 0);
	assert_true(m.insecure_no_sev);
	manager_meta_free(&m);
	remove_ok(p, id);
	manager_provider_ops.close(p);
}

static void test_unreachable_host_is_unknown(void **state) {
	(void)state;
	const char *hosts[] = {HOST, DEAD_HOST};
	provider_t *p = open_provider(hosts, 2, false);
	const char *id = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
	cvm_desired_t w = want_for(id, "cvm-partial");
	create_ok(p, &w);

	observation_t o;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_observe(p, &o, &err), 0);
	assert_non_null(find_obs(&o, id));
	assert_int_equal(o.n_unknown, 1);
	assert_string_equal(o.unknown[0].placement, DEAD_HOST);
	assert_non_null(strstr(o.unknown[0].why, "/nonexistent/sock"));
	assert_false(o.all_unknown);
	observation_free(&o);

	/* Placement never picks it, and creating there fails cleanly. */
	_cleanup_free_ char *where = NULL;
	assert_int_equal(manager_provider_ops.place(p, &w, NULL, 0, &where, &err), 0);
	assert_string_equal(where, HOST);
	cvm_desired_t w2 = want_for("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "cvm-dead");
	w2.placement = DEAD_HOST;
	prov_op_t *op = NULL;
	_cleanup_free_ char *e2 = NULL;
	assert_int_equal(m_create(p, &w2, &op, &e2), -EHOSTUNREACH);
	assert_non_null(strstr(e2, "/nonexistent/sock"));
	/* Removing with no placement cannot prove absence with a host down. */
	_cleanup_free_ char *e3 = NULL;
	assert_int_equal(m_remove(p, w2.id, NULL, &op, &e3), -EHOSTUNREACH);

	remove_ok(p, id);
	manager_provider_ops.close(p);

	const char *dead[] = {DEAD_HOST};
	p = open_provider(dead, 1, false);
	assert_int_equal(m_observe(p, &o, &err), 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.n_unknown, 1);
	assert_true(o.all_unknown);
	observation_free(&o);
	manager_provider_ops.close(p);
}

static void test_remote_host_needs_shared_dir(void **state) {
	(void)state;
	const char *hosts[] = {"qemu+ssh://snp-host.invalid/system"};
	provider_t *p = open_settings("remote", settings_for(hosts, 1, NULL, false));
	_cleanup_free_ char *err = NULL;
	cvm_desired_t w = want_for("cccccccc-cccc-4ccc-8ccc-cccccccccccc", "cvm-remote");
	w.placement = hosts[0];
	prov_op_t *op = NULL;
	assert_int_equal(m_create(p, &w, &op, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err, "shareDir"));
	manager_provider_ops.close(p);
}

static void test_place_on_test_driver(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	virNodeInfo ni;
	assert_int_equal(virNodeGetInfo(holder, &ni), 0);
	int node_gib = (int)(ni.memory / (1024 * 1024));
	cvm_desired_t w = want_for("dddddddd-dddd-4ddd-8ddd-dddddddddddd", "cvm-place");
	w.memory_gib = node_gib;
	_cleanup_free_ char *where = NULL, *err = NULL, *err2 = NULL;
	assert_int_equal(manager_provider_ops.place(p, &w, NULL, 0, &where, &err), 0);
	assert_string_equal(where, HOST);
	/* What cvmctl already put there counts against the node. */
	placement_use_t used[] = {{HOST, 1, 1}};
	char *none = NULL;
	assert_int_equal(manager_provider_ops.place(p, &w, used, 1, &none, &err2), -ENOSPC);
	assert_null(none);
	_cleanup_free_ char *free_msg = xasprintf("%s %d vCPUs and %d GiB free", HOST, (int)ni.cpus - 1, node_gib - 1);
	assert_non_null(strstr(err2, free_msg));
	manager_provider_ops.close(p);

	/* The Provider's capacity override replaces the node's numbers. */
	json_t *big = settings_for(hosts, 1, share_dir, false);
	json_object_set_new(big, "capacity", json_pack("{s:i, s:i}", "vcpus", 64, "memoryGiB", 256));
	p = open_settings("big", big);
	_cleanup_free_ char *e3 = NULL, *where2 = NULL;
	w.memory_gib = 200;
	w.vcpus = 60;
	assert_int_equal(manager_provider_ops.place(p, &w, used, 1, &where2, &e3), 0);
	assert_string_equal(where2, HOST);
	manager_provider_ops.close(p);
}


/* ---- asynchronous operations, handles, shares, errors, cost ---- */

static double mono_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *meta_of(const char *id) {
	_cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByUUIDString(holder, id);
	assert_non_null(d);
	return virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, MANAGER_NS_URI, 0);
}

/* A create returns an operation at once; done, its handle is the share
 * root, which the marker records and observe reports. */
static void test_async_create_handle(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *id = "a1a1a1a1-0000-4000-8000-000000000001";
	cvm_desired_t w = want_for(id, "cvm-async");
	int before = n_async;
	create_ok(p, &w);
	assert_int_equal(n_async, before + 1);
	assert_non_null(last_handle);
	assert_string_equal(last_handle, share_dir);
	_cleanup_free_ char *meta = meta_of(id);
	manager_meta_t m;
	assert_int_equal(manager_meta_parse(meta, &m), 0);
	assert_non_null(m.share_root);
	assert_string_equal(m.share_root, share_dir);
	manager_meta_free(&m);
	observation_t o;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_observe(p, &o, &err), 0);
	assert_non_null(find_obs(&o, id));
	assert_string_equal(find_obs(&o, id)->handle, share_dir);
	observation_free(&o);
	remove_ok(p, id);
	manager_provider_ops.close(p);
}

static bool exists(const char *root, const char *id, const char *rest) {
	_cleanup_free_ char *path = xasprintf("%s/%s%s", root, id, rest);
	return access(path, F_OK) == 0;
}

/* After the Provider's shareDir moved, deliveries still go where the
 * running domain mounts (the handle, else its marker's root), and remove
 * clears both roots, keys included. */
static void test_shares_follow_handle(void **state) {
	(void)state;
	_cleanup_free_ char *old_root = xasprintf("%s/old", share_dir);
	_cleanup_free_ char *new_root = xasprintf("%s/new", share_dir);
	const char *hosts[] = {HOST};
	const char *id = "a2a2a2a2-0000-4000-8000-000000000002";
	cvm_desired_t w = want_for(id, "cvm-moved");
	provider_t *p = open_settings("lab", settings_for(hosts, 1, old_root, false));
	create_ok(p, &w);
	manager_provider_ops.close(p);

	p = open_settings("lab", settings_for(hosts, 1, new_root, false));
	prov_file_t files_v2[] = {{"env", "environment", env_v2, sizeof env_v2 - 1}};
	cvm_desired_t w2 = w;
	w2.files = files_v2;
	w2.n_files = 1;
	_cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
	assert_int_equal(m_update_at(p, &w2, old_root, &e1), 0);
	_cleanup_free_ char *envf = xasprintf("%s/%s/env/environment", old_root, id);
	check_file(envf, env_v2, sizeof env_v2 - 1, expected_owner());
	assert_false(exists(new_root, id, ""));
	/* Without a handle, the marker says where. */
	assert_int_equal(m_update(p, &w, &e2), 0);
	check_file(envf, env_v1, sizeof env_v1 - 1, expected_owner());
	assert_false(exists(new_root, id, ""));

	/* A key left at today's root too: remove takes both. */
	manager_owner_t me = {0};
	assert_int_equal(manager_shares_write(new_root, id, files_v1, ARRAY_SIZE(files_v1), &me, &e3), 0);
	assert_true(exists(new_root, id, "/certs/key.pem"));
	assert_int_equal(m_remove_at(p, id, HOST, old_root, &e4), 0);
	assert_false(exists(old_root, id, ""));
	assert_false(exists(new_root, id, ""));
	assert_null(virDomainLookupByUUIDString(holder, id));
	manager_provider_ops.close(p);
}


/* Share directories are written through directory descriptors: a
 * symlink swapped in for a CVM's directory (the hypervisor's user owns it)
 * is refused and nothing lands where it points; temp files a killed
 * delivery left are removed by the next one; a share root others may
 * write is refused. */
static void test_shares_no_symlink_swap(void **state) {
	(void)state;
	_cleanup_free_ char *root = xasprintf("%s/swap", share_dir);
	_cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere", share_dir);
	const char *id = "a3a3a3a3-0000-4000-8000-000000000003";
	manager_owner_t me = {0};
	_cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
	assert_int_equal(manager_shares_write(root, id, files_v1, ARRAY_SIZE(files_v1), &me, &e1), 0);

	/* A leftover temp file beside the key goes with the next delivery. */
	_cleanup_free_ char *stale = xasprintf("%s/%s/certs/key.pem.tmp.abcdef", root, id);
	FILE *f = fopen(stale, "w");
	assert_non_null(f);
	fputs("stale key", f);
	fclose(f);
	assert_int_equal(manager_shares_write(root, id, files_v1, ARRAY_SIZE(files_v1), &me, &e2), 0);
	assert_int_equal(access(stale, F_OK), -1);

	/* certs/ swapped for a symlink to another directory. */
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	_cleanup_free_ char *certs = xasprintf("%s/%s/certs", root, id);
	_cleanup_free_ char *cmd = xasprintf("rm -rf %s", certs);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(symlink(elsewhere, certs), 0);
	assert_int_equal(manager_shares_write(root, id, files_v1, ARRAY_SIZE(files_v1), &me, &e3), -ENOTDIR);
	assert_non_null(strstr(e3, "not a directory (a symlink?)"));
	assert_false(exists(elsewhere, "key.pem", ""));
	assert_int_equal(unlink(certs), 0);

	/* A share root others may write. */
	assert_int_equal(chmod(root, 0777), 0);
	assert_int_equal(manager_shares_write(root, id, files_v1, ARRAY_SIZE(files_v1), &me, &e4), -EPERM);
	assert_non_null(strstr(e4, "writable by nobody else"));
	assert_int_equal(chmod(root, 0711), 0);

	/* Removal unlinks a swapped-in symlink; it never follows it. */
	_cleanup_free_ char *keep = xasprintf("%s/keep", elsewhere), *e5 = NULL;
	f = fopen(keep, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(symlink(elsewhere, certs), 0);
	assert_int_equal(manager_shares_remove(root, id, &e5), 0);
	assert_false(exists(root, id, ""));
	assert_int_equal(access(keep, F_OK), 0);
}

/* The sentence carries libvirt's own words, not "no error" (the error is
 * copied before any other libvirt call resets it). */
static void test_libvirt_error_captured(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_start(p, "a3a3a3a3-0000-4000-8000-000000000003", HOST, &err), -ENOENT);
	assert_non_null(err);
	assert_non_null(strstr(err, "Domain not found"));
	assert_null(strstr(err, "no error"));
	manager_provider_ops.close(p);
}

static manager_test_calls_t calls_since(const manager_test_calls_t *b) {
	manager_test_calls_t n = manager_test_calls;
	return (manager_test_calls_t){n.connect - b->connect, n.list - b->list, n.metadata - b->metadata,
	                              n.lease - b->lease, n.other - b->other};
}

/* Handed what the state recorded, a converged observe reads no marker and
 * no address of a known domain: one listing per host. */
static void test_observe_known_is_cheap(void **state) {
	(void)state;
	const char *hosts[] = {HOST};
	provider_t *p = open_provider(hosts, 1, false);
	const char *ids[] = {"a4a4a4a4-0000-4000-8000-000000000001", "a4a4a4a4-0000-4000-8000-000000000002",
	                     "a4a4a4a4-0000-4000-8000-000000000003"};
	const char *names[] = {"cvm-k1", "cvm-k2", "cvm-k3"};
	for (size_t i = 0; i < 3; i++) {
		cvm_desired_t w = want_for(ids[i], names[i]);
		create_ok(p, &w);
	}
	observation_t cold, warm;
	_cleanup_free_ char *err = NULL;
	assert_int_equal(m_observe(p, &cold, &err), 0);
	manager_test_calls_t b = manager_test_calls;
	assert_int_equal(manager_provider_ops.observe(p, cold.v, cold.n, &warm, &err), 0);
	manager_test_calls_t d = calls_since(&b);
	assert_int_equal(d.connect, 0); /* the pass's connection, reused */
	assert_int_equal(d.list, 1);
	assert_int_equal(d.metadata, 1); /* the driver's own "test" domain: foreign, never known */
	assert_int_equal(d.lease, 0);
	assert_int_equal(d.other, 0);
	assert_int_equal(warm.n, cold.n);
	for (size_t i = 0; i < 3; i++) {
		const observed_t *c = find_obs(&cold, ids[i]), *k = find_obs(&warm, ids[i]);
		assert_non_null(k);
		assert_string_equal(k->spec_hash, c->spec_hash);
		assert_string_equal(k->installation, c->installation);
		assert_string_equal(k->url, c->url);
		assert_string_equal(k->handle, share_dir);
		assert_int_equal(k->state, RES_RUNNING);
	}
	observation_free(&warm);

	/* One stopped behind our back: only its marker is read again. */
	_cleanup_(virDomainFreep) virDomainPtr dom = virDomainLookupByUUIDString(holder, ids[1]);
	assert_int_equal(virDomainDestroy(dom), 0);
	b = manager_test_calls;
	assert_int_equal(manager_provider_ops.observe(p, cold.v, cold.n, &warm, &err), 0);
	d = calls_since(&b);
	assert_int_equal(d.metadata, 2);
	assert_int_equal(d.lease, 0);
	assert_int_equal(find_obs(&warm, ids[1])->state, RES_STOPPED);
	observation_free(&warm);
	observation_free(&cold);
	for (size_t i = 0; i < 3; i++) remove_ok(p, ids[i]);
	manager_provider_ops.close(p);
}

/* The name check of a create uses what observe saw on the other hosts: no
 * call to them. */
static void test_name_clash_from_observe(void **state) {
	(void)state;
	const char *other_id = "a5a5a5a5-0000-4000-8000-000000000005";
	_cleanup_free_ char *xml_path = xasprintf("%s/host2.xml", share_dir);
	_cleanup_free_ char *xml = xasprintf(
		"<node><domain type='test'><name>cvm-clash</name><uuid>%s</uuid><memory>1048576</memory>"
		"<vcpu>1</vcpu><os><type>hvm</type></os><metadata><cvm:instance xmlns:cvm='%s'>"
		"<cvm:managed-by>cvmctl</cvm:managed-by><cvm:id>%s</cvm:id><cvm:name>cvm-clash</cvm:name>"
		"</cvm:instance></metadata></domain></node>\n",
		other_id, MANAGER_NS_URI, other_id);
	assert_int_equal(write_file_atomic(xml_path, xml, strlen(xml), 0600), 0);
	_cleanup_free_ char *host2 = xasprintf("test://%s", xml_path);
	const char *hosts[] = {HOST, host2};
	provider_t *p = open_provider(hosts, 2, false);
	observation_t o;
	_cleanup_free_ char *err = NULL, *e2 = NULL;
	assert_int_equal(m_observe(p, &o, &err), 0);
	assert_int_equal(o.n_unknown, 0);
	assert_non_null(find_obs(&o, other_id));
	observation_free(&o);
	manager_test_calls_t b = manager_test_calls;
	cvm_desired_t w = want_for("a5a5a5a5-0000-4000-8000-000000000006", "cvm-clash");
	prov_op_t *op;
	assert_int_equal(m_create(p, &w, &op, &e2), -EEXIST);
	_cleanup_free_ char *want_msg = xasprintf("a domain named cvm-clash already exists on %s (cvmctl CVM %s)", host2, other_id);
	assert_string_equal(e2, want_msg);
	manager_test_calls_t d = calls_since(&b);
	assert_int_equal(d.connect + d.list + d.metadata, 0);
	assert_int_equal(count_named("cvm-clash"), 0);
	manager_provider_ops.close(p);
}

/* A host that accepts the connection and never answers (a stopped
 * libvirtd): observe names it Unknown within connectTimeout + callTimeout,
 * later calls on it fail at once, the other host is served, and a new
 * provider does not start another connect while the first one hangs. */
static void test_silent_host_bounded(void **state) {
	(void)state;
	_cleanup_free_ char *sock = xasprintf("%s/silent.sock", share_dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 16), 0);
	_cleanup_free_ char *silent = xasprintf("test+unix:///default?socket=%s", sock);
	const char *hosts[] = {HOST, silent};
	json_t *s = settings_for(hosts, 2, share_dir, false);
	json_object_set_new(s, "connectTimeout", json_integer(1));
	json_object_set_new(s, "callTimeout", json_integer(1));
	provider_t *p = open_settings("lab", json_incref(s));

	observation_t o;
	_cleanup_free_ char *err = NULL, *e2 = NULL;
	double t0 = mono_s();
	assert_int_equal(m_observe(p, &o, &err), 0);
	double took = mono_s() - t0;
	assert_true(took >= 1.5 && took < 10);
	assert_int_equal(o.n_unknown, 1);
	assert_string_equal(o.unknown[0].placement, silent);
	assert_non_null(strstr(o.unknown[0].why, "did not answer within 2 s"));
	observation_free(&o);

	cvm_desired_t w = want_for("a6a6a6a6-0000-4000-8000-000000000001", "cvm-beside");
	cvm_desired_t w2 = want_for("a6a6a6a6-0000-4000-8000-000000000002", "cvm-silent");
	w2.placement = silent;
	prov_op_t *op;
	t0 = mono_s();
	assert_int_equal(m_create(p, &w2, &op, &e2), -ETIMEDOUT);
	assert_true(mono_s() - t0 < 0.5);
	create_ok(p, &w);
	t0 = mono_s();
	manager_provider_ops.close(p);
	assert_true(mono_s() - t0 < 1);

	/* The next pass: no second connect while the first hangs. */
	p = open_settings("lab", json_incref(s));
	t0 = mono_s();
	assert_int_equal(m_observe(p, &o, &err), 0);
	assert_true(mono_s() - t0 < 1);
	assert_int_equal(o.n_unknown, 1);
	assert_non_null(strstr(o.unknown[0].why, "has not answered a call made"));
	observation_free(&o);
	remove_ok(p, w.id);
	manager_provider_ops.close(p);

	/* The host goes away for good: the hung connect fails, and the one
	 * after it is refused instead of waited for. */
	close(fd);
	unlink(sock);
	bool refused = false;
	for (int i = 0; i < 100 && !refused; i++) {
		p = open_settings("lab", json_incref(s));
		assert_int_equal(m_observe(p, &o, &err), 0);
		refused = o.n_unknown == 1 && strstr(o.unknown[0].why, "cannot connect");
		observation_free(&o);
		manager_provider_ops.close(p);
		if (!refused) usleep(50000);
	}
	assert_true(refused);
	json_decref(s);
}

/* ---- placement arithmetic ---- */

static void test_choose_host(void **state) {
	(void)state;
	manager_host_capacity_t h[] = {
		{.uri = "a", .reachable = true, .vcpus = 64, .memory_gib = 256},
		{.uri = "b", .reachable = true, .vcpus = 64, .memory_gib = 512},
		{.uri = "c", .reachable = false, .why = "connection refused", .vcpus = 0, .memory_gib = 0},
		{.uri = "d", .reachable = true, .vcpus = 16, .memory_gib = 512},
	};
	size_t chosen = 99;
	char *err = NULL;
	/* b and d tie on memory and used vCPUs: config order. */
	assert_int_equal(manager_choose_host(h, 4, NULL, 0, 8, 16, &chosen, &err), 0);
	assert_int_equal(chosen, 1);
	/* b has used vCPUs, d has none: d. */
	placement_use_t u1[] = {{"b", 8, 0}};
	assert_int_equal(manager_choose_host(h, 4, u1, 1, 8, 16, &chosen, &err), 0);
	assert_int_equal(chosen, 3);
	/* Memory used on b: d has more free. Uses of other hosts do not count. */
	placement_use_t u2[] = {{"b", 0, 100}, {"zzz", 64, 999}};
	assert_int_equal(manager_choose_host(h, 4, u2, 2, 8, 16, &chosen, &err), 0);
	assert_int_equal(chosen, 3);
	/* d lacks vCPUs for 32: the most memory among the rest. */
	assert_int_equal(manager_choose_host(h, 4, u2, 2, 32, 16, &chosen, &err), 0);
	assert_int_equal(chosen, 1);
	/* Exactly full still fits. */
	placement_use_t u3[] = {{"a", 56, 240}, {"b", 64, 0}, {"d", 16, 0}};
	assert_int_equal(manager_choose_host(h, 4, u3, 3, 8, 16, &chosen, &err), 0);
	assert_int_equal(chosen, 0);
	/* Nothing fits: every host named with its free capacity. */
	assert_int_equal(manager_choose_host(h, 4, u3, 3, 8, 17, &chosen, &err), -ENOSPC);
	assert_non_null(err);
	assert_non_null(strstr(err, "8 vCPUs and 17 GiB"));
	assert_non_null(strstr(err, "a 8 vCPUs and 16 GiB free"));
	assert_non_null(strstr(err, "b 0 vCPUs and 512 GiB free"));
	assert_non_null(strstr(err, "c unreachable (connection refused)"));
	assert_non_null(strstr(err, "d 0 vCPUs and 512 GiB free"));
	free(err);
	err = NULL;
	/* Unknown hosts are never chosen, however empty. */
	manager_host_capacity_t only_dead[] = {{.uri = "c", .reachable = false, .vcpus = 999, .memory_gib = 999}};
	assert_int_equal(manager_choose_host(only_dead, 1, NULL, 0, 1, 1, &chosen, &err), -ENOSPC);
	free(err);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose_host),
		cmocka_unit_test(test_create_defines_and_starts),
		cmocka_unit_test(test_create_idempotent),
		cmocka_unit_test(test_observe_lists_only_ours),
		cmocka_unit_test(test_foreign_untouched),
		cmocka_unit_test(test_remove_ours),
		cmocka_unit_test(test_stopped_then_start),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_insecure_marker),
		cmocka_unit_test(test_unreachable_host_is_unknown),
		cmocka_unit_test(test_remote_host_needs_shared_dir),
		cmocka_unit_test(test_place_on_test_driver),
		cmocka_unit_test(test_async_create_handle),
		cmocka_unit_test(test_shares_follow_handle),
		cmocka_unit_test(test_shares_no_symlink_swap),
		cmocka_unit_test(test_libvirt_error_captured),
		cmocka_unit_test(test_observe_known_is_cheap),
		cmocka_unit_test(test_name_clash_from_observe),
		cmocka_unit_test(test_silent_host_bounded),
	};
	int r = cmocka_run_group_tests(tests, group_setup, group_teardown);
	free(last_handle);
	return r;
}
