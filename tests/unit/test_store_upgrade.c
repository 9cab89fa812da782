/* Upgrading a real state of schema version 1 (tests/fixtures/state-v1,
 * made by the cvmctl of commit 31ec882; its README says how). A copy is
 * opened with the current store, which migrates it: every CVM record,
 * event and certificate is still there with the values the sqlite3 shell
 * read from the version 1 database when the fixture was made (asserted
 * literally below), the key files and the CA are still readable, the
 * settings keys of version 1 (delivered:, rotate-retry:, provider:) have
 * become what store_get_delivered, store_get_rotation_retry and
 * store_get_provider return, the provider settings are what
 * provider_record_save writes (so the first pass rewrites nothing), and
 * opening it again changes nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/provider_record.h"
#include "reconciler/store/sqlite/sqlite_priv.h"
#include "reconciler/store/store.h"

#define FIXTURE "tests/fixtures/state-v1"
#define INSTALLATION "b2824cb2-9dbc-4118-b5d7-6956a9c7fe64"
#define OLD1 "8ed7e52a-3d49-43ad-9498-1b7dda08b6bf"
#define WEB1 "afa66456-6c53-447d-ac94-ff7c78be7dcd"
#define WEB2 "c36b7b9b-3c5b-4603-9f14-951fd0585067"
#define SOCK(host) "test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-" host "/run/libvirt-sock"

/* ---- what version 1 held (sqlite3 -json state.db, when it was made) ---- */

static const cvm_record_t want_cvms[] = {
	{
		.id = "8ed7e52a-3d49-43ad-9498-1b7dda08b6bf",
		.name = "old-1",
		.scope = "default",
		.flavor = "manager",
		.provider = "lab-dev",
		.placement = "test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-b/run/libvirt-sock",
		.status = ST_INACTIVE,
		.url = NULL,
		.spec_hash = "ca7585c651bf8d595b0c7f00835dd41bb0ba61154224976ab3971ad572b93f9e",
		.spec_json = "{\"agent\":{\"controlPlaneCAFile\":null,\"controlPlaneURL\":null,\"logLevel\":\"info\",\"port\":7002"
		    "},\"certificates\":{\"renewBefore\":864000,\"validity\":2592000},\"flavor\":\"manager\",\"labels\":{"
		    "},\"memoryGiB\":2,\"provider\":\"lab-dev\",\"vcpus\":1}",
		.attempt = "7c94718c-86b2-46ee-b3e6-bf3c93c9e6c2",
		.vcpus = 1,
		.memory_gib = 2,
		.created_at = 1767225600,
		.updated_at = 1767225600,
		.last_error = NULL,
	},
	{
		.id = "afa66456-6c53-447d-ac94-ff7c78be7dcd",
		.name = "web-1",
		.scope = "default",
		.flavor = "manager",
		.provider = "lab",
		.placement = "test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-a/run/libvirt-sock",
		.status = ST_RUNNING,
		.url = "192.168.122.23:7002",
		.spec_hash = "0da348e491a7698005168308ab524730a0e6ffd09f07e871c58f690274c9a15a",
		.spec_json = "{\"agent\":{\"controlPlaneCAFile\":null,\"controlPlaneURL\":null,\"logLevel\":\"info\",\"port\":7002"
		    "},\"certificates\":{\"renewBefore\":3600,\"validity\":7200},\"flavor\":\"manager\",\"labels\":{},\"me"
		    "moryGiB\":4,\"provider\":\"lab\",\"vcpus\":2}",
		.attempt = "6f3e75fb-6c49-4981-8ccc-ec8df8671b31",
		.vcpus = 2,
		.memory_gib = 4,
		.created_at = 1767225600,
		.updated_at = 1767225600,
		.last_error = "certificate rotation failed (retrying with backoff): share directory /tmp/cvmctl-make-fi"
		    "xture.2jJ73N/shares/afa66456-6c53-447d-ac94-ff7c78be7dcd/certs is not a directory",
	},
	{
		.id = "c36b7b9b-3c5b-4603-9f14-951fd0585067",
		.name = "web-2",
		.scope = "default",
		.flavor = "manager",
		.provider = "lab",
		.placement = "test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-b/run/libvirt-sock",
		.status = ST_RUNNING,
		.url = "192.168.122.43:7002",
		.spec_hash = "26fbdef70a97930c9f9c31712301b88eed19665dbba883aa42b6dd523a7c3ada",
		.spec_json = "{\"agent\":{\"controlPlaneCAFile\":null,\"controlPlaneURL\":null,\"logLevel\":\"info\",\"port\":7002"
		    "},\"certificates\":{\"renewBefore\":864000,\"validity\":2592000},\"flavor\":\"manager\",\"labels\":{"
		    "},\"memoryGiB\":4,\"provider\":\"lab\",\"vcpus\":2}",
		.attempt = "d8789b99-5fde-4cd2-a516-5d9e198c4bf8",
		.vcpus = 2,
		.memory_gib = 4,
		.created_at = 1767225600,
		.updated_at = 1767225600,
		.last_error = NULL,
	},
};

static const struct want_event {
	const char *cvm_id;
	int64_t at;
	const char *kind, *message;
} want_events[] = {
	{"8ed7e52a-3d49-43ad-9498-1b7dda08b6bf", 1767225600, "intent",
	 "create on test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-b/run/lib"
	 "virt-sock (attempt 7c94718c-86b2-46ee-b3e6-bf3c93c9e6c2): new CVM"},
	{"afa66456-6c53-447d-ac94-ff7c78be7dcd", 1767225600, "intent",
	 "create on test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-a/run/lib"
	 "virt-sock (attempt 6f3e75fb-6c49-4981-8ccc-ec8df8671b31): new CVM"},
	{"c36b7b9b-3c5b-4603-9f14-951fd0585067", 1767225600, "intent",
	 "create on test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-b/run/lib"
	 "virt-sock (attempt d8789b99-5fde-4cd2-a516-5d9e198c4bf8): new CVM"},
	{"8ed7e52a-3d49-43ad-9498-1b7dda08b6bf", 1767225600, "created",
	 "new CVM on test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-b/run/li"
	 "bvirt-sock"},
	{"afa66456-6c53-447d-ac94-ff7c78be7dcd", 1767225600, "created",
	 "new CVM on test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-a/run/li"
	 "bvirt-sock"},
	{"c36b7b9b-3c5b-4603-9f14-951fd0585067", 1767225600, "created",
	 "new CVM on test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-b/run/li"
	 "bvirt-sock"},
	{"c36b7b9b-3c5b-4603-9f14-951fd0585067", 1767225660, "cert-issued",
	 "certificate 72612C70D32F4C19644F5F7457FB8A18 issued (renewal)"},
	{"c36b7b9b-3c5b-4603-9f14-951fd0585067", 1767225660, "cert-published",
	 "certificate 72612C70D32F4C19644F5F7457FB8A18 published"},
	{"c36b7b9b-3c5b-4603-9f14-951fd0585067", 1767225690, "cert-issued",
	 "extra certificate 08E46844196FE576C51F352D75FDA12B issued"},
	{"8ed7e52a-3d49-43ad-9498-1b7dda08b6bf", 1767225720, "intent",
	 "spec removed"},
	{"8ed7e52a-3d49-43ad-9498-1b7dda08b6bf", 1767225720, "deleted",
	 "spec removed on test+unix:///default?socket=/tmp/cvmctl-make-fixture.2jJ73N/libvirtd-b/r"
	 "un/libvirt-sock"},
	{"afa66456-6c53-447d-ac94-ff7c78be7dcd", 1767229201, "cert-renewed",
	 "certificate 51D7FEE6744BC5079EA8804976621DAF issued, valid until 1767236401"},
	{"afa66456-6c53-447d-ac94-ff7c78be7dcd", 1767229201, "failed",
	 "certificate rotation failed (retrying with backoff): share directory /tmp/cvmctl-make-fi"
	 "xture.2jJ73N/shares/afa66456-6c53-447d-ac94-ff7c78be7dcd/certs is not a directory"},
};

static const struct want_cert {
	const char *serial, *cvm_id;
	bool is_default;
	cert_status_t status;
	int64_t not_before, not_after, revoked_at;
	int revoke_reason;
	const char *key_path, *pem_sha256, *key_sha256;
} want_certs[] = {
	{"57F75A89A47FBF0B0BFA89440D72BE9D", "8ed7e52a-3d49-43ad-9498-1b7dda08b6bf", true,
	 CERT_REVOKED, 1767225600, 1769817600, 1767225720, 5,
	 "/tmp/cvmctl-state-v1/state/keys/8ed7e52a-3d49-43ad-9498-1b7dda08b6bf/57F75A89A47FBF0B0BF"
	 "A89440D72BE9D.key",
	 "4850903ec85d6295816b758f971ba95b44d4792108f95c7d4186807d30a0fdf0",
	 "7267d78e11c4fef79440d6ffee8b58c92e3921e8399d5a4dd5b9102dfceb2ae8"},
	{"4C65D19E7F2451DA05F5016C0A1B5BAA", "afa66456-6c53-447d-ac94-ff7c78be7dcd", true,
	 CERT_SUPERSEDED, 1767225600, 1767232800, 0, -1,
	 "/tmp/cvmctl-state-v1/state/keys/afa66456-6c53-447d-ac94-ff7c78be7dcd/4C65D19E7F2451DA05F"
	 "5016C0A1B5BAA.key",
	 "893e50e2c72443f244696e9748db1f86cad506df609e5ed0d4fe3a49cb4d24a4",
	 "9be67a21fa5002552aa05ed065f34531defe56c5bfcbd32ce72ab103301a4580"},
	{"51D7FEE6744BC5079EA8804976621DAF", "afa66456-6c53-447d-ac94-ff7c78be7dcd", true,
	 CERT_VALID, 1767229201, 1767236401, 0, -1,
	 "/tmp/cvmctl-state-v1/state/keys/afa66456-6c53-447d-ac94-ff7c78be7dcd/51D7FEE6744BC5079EA"
	 "8804976621DAF.key",
	 "f7380489d368aa377c242c09e63381b03ec601eba5d3c1c0be49b1f168970110",
	 "aca35a2ea40899f9eb525442cc35b01123c5c07622899cfdf28b78d6a81df90f"},
	{"4286980D66CEBBD748A6725D3F5A46FE", "c36b7b9b-3c5b-4603-9f14-951fd0585067", true,
	 CERT_SUPERSEDED, 1767225600, 1769817600, 0, -1,
	 "/tmp/cvmctl-state-v1/state/keys/c36b7b9b-3c5b-4603-9f14-951fd0585067/4286980D66CEBBD748A"
	 "6725D3F5A46FE.key",
	 "dfb1bda29e63d1cbc5b472464cdc95ac480f3994c6abc2e82cdc4520bacff33c",
	 "e5d2b339d47021de47527f5be3bfd8edd4b2c3f303a1b44602436821dee0cae1"},
	{"72612C70D32F4C19644F5F7457FB8A18", "c36b7b9b-3c5b-4603-9f14-951fd0585067", true,
	 CERT_VALID, 1767225660, 1769817660, 0, -1,
	 "/tmp/cvmctl-state-v1/state/keys/c36b7b9b-3c5b-4603-9f14-951fd0585067/72612C70D32F4C19644"
	 "F5F7457FB8A18.key",
	 "c16a2edfc0d31a44d1c9c0d2b4923f4a268c57ae9f2c75a508171d06f6ad680c",
	 "3b078b28e2c5570eaf352c177b4a32fc5b5b145cd23310e5fdbb5967d50f24eb"},
	{"08E46844196FE576C51F352D75FDA12B", "c36b7b9b-3c5b-4603-9f14-951fd0585067", false,
	 CERT_VALID, 1767225690, 1769817690, 0, -1,
	 "/tmp/cvmctl-state-v1/state/keys/c36b7b9b-3c5b-4603-9f14-951fd0585067/08E46844196FE576C51"
	 "F352D75FDA12B.key",
	 "1a31082df20563b755dd695af676dd2a1c7e59a6f786d37b8eecf54b01218763",
	 "160f2131937a34e26c176e25496815db098bdb292bc3e3a8681cd129a37d7823"},
};

/* Delivered serials and rotation retries, from the settings keys
 * delivered:<id> and rotate-retry:<id> ("1 1767229261"). */
static const struct want_facts {
	const char *cvm_id, *delivered;
	int failures;
	int64_t next_at;
} want_facts[] = {
	{OLD1, "57F75A89A47FBF0B0BFA89440D72BE9D", 0, 0},
	{WEB1, "4C65D19E7F2451DA05F5016C0A1B5BAA", 1, 1767229261},
	{WEB2, "72612C70D32F4C19644F5F7457FB8A18", 0, 0},
};

/* The provider:<name> settings, under the YAML names: hosts, vtpm and
 * insecureNoSEV only for the manager, capacity only where set. */
static const struct want_provider {
	const char *name, *flavor, *settings;
} want_providers[] = {
	{"gcp-prod", "gcp",
	 "{\"credentialsFile\":\"/etc/cvmctl/gcp-sa.json\",\"endpoint\":\"https://compute.googleapis.com/compute/v1\","
	 "\"project\":\"acme-cc\",\"zone\":\"europe-west4-a\"}"},
	{"lab", "manager",
	 "{\"capacity\":{\"memoryGiB\":64,\"vcpus\":64},\"cpuModel\":\"EPYC-Milan\",\"domainType\":\"kvm\","
	 "\"firmware\":\"/usr/share/ovmf/OVMF.amdsev.fd\",\"hosts\":[\"" SOCK("a") "\",\"" SOCK("b") "\"],"
	 "\"initrd\":\"/srv/cvm-guest/rootfs.cpio.gz\",\"insecureNoSEV\":false,\"kernel\":\"/srv/cvm-guest/bzImage\","
	 "\"network\":\"default\",\"shareDir\":\"/tmp/cvmctl-make-fixture.2jJ73N/shares\",\"vtpm\":false}"},
	{"lab-dev", "manager",
	 "{\"capacity\":{\"vcpus\":16},\"cmdline\":\"console=ttyS0\",\"cpuModel\":\"EPYC\",\"domainType\":\"qemu\","
	 "\"hosts\":[\"" SOCK("b") "\"],\"initrd\":\"/srv/cvm-guest/rootfs.cpio.gz\",\"insecureNoSEV\":true,"
	 "\"kernel\":\"/srv/cvm-guest/bzImage\",\"shareDir\":\"/tmp/cvmctl-make-fixture.2jJ73N/dev-shares\","
	 "\"vtpm\":true}"},
};

/* What is left of the settings table. */
static const char want_settings[] = "crl_number=2\ncrl_pending=0\ncrl_this_update=1767225720\n"
                                    "installation_id=" INSTALLATION "\n";

/* ---- a private copy of the fixture ---- */

typedef struct fixture {
	char base[64];
	char *dir; /* base/state */
} fixture;

static const char *srcdir(void) {
	const char *s = getenv("CVMCTL_SRCDIR");
	if (!s) s = getenv("SRCDIR"); /* set by tests/run-tests.sh */
	return s ? s : ".";
}

/* Copies the fixture tree src to dst (not its README and script):
 * directories 0700, files 0600, as a state directory is (git keeps no such
 * modes). */
static void copy_tree(const char *src, const char *dst) {
	if (mkdir(dst, 0700) < 0) fail_msg("mkdir %s: %s", dst, strerror(errno));
	DIR *d = opendir(src);
	if (!d) fail_msg("opendir %s: %s", src, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
		_cleanup_free_ char *from = xasprintf("%s/%s", src, e->d_name);
		_cleanup_free_ char *to = xasprintf("%s/%s", dst, e->d_name);
		struct stat st;
		assert_int_equal(lstat(from, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(from, to);
		} else if (S_ISREG(st.st_mode) && strcmp(e->d_name, "README.md") != 0 &&
		           strcmp(e->d_name, "make-fixture.sh") != 0) {
			_cleanup_free_ char *data = NULL;
			size_t len = 0;
			assert_int_equal(read_file(from, &data, &len), 0);
			assert_int_equal(write_file_atomic(to, data, len, 0600), 0);
		}
	}
	closedir(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state) {
	fixture *f = xcalloc(1, sizeof *f);
	snprintf(f->base, sizeof f->base, "/tmp/test_store_upgrade.XXXXXX");
	if (!mkdtemp(f->base)) return -1;
	f->dir = xasprintf("%s/state", f->base);
	_cleanup_free_ char *src = xasprintf("%s/" FIXTURE, srcdir());
	copy_tree(src, f->dir);
	unsetenv("CVMCTL_TEST_NOW");
	unsetenv("CVMCTL_TEST_FAIL_STORE_WRITE");
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fixture *f = *state;
	nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	return 0;
}

/* ---- reading the database the way the sqlite3 shell would ---- */

static sqlite3 *raw_open(const char *dir) {
	_cleanup_free_ char *path = xasprintf("%s/state.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

/* Every row of every query in sql, one line each, columns joined by '='. */
static char *raw_rows(const char *dir, const char *sql) {
	sqlite3 *db = raw_open(dir);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	char *out = xstrdup("");
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			char *next = xasprintf("%s%s%s", out, i ? "=" : "", v ? v : "NULL");
			free(out);
			out = next;
		}
		char *next = xasprintf("%s\n", out);
		free(out);
		out = next;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* Everything the state holds, as text: schema, version and every row. */
static char *raw_dump(const char *dir) {
	static const char *const queries[] = {
		"SELECT type, name, sql FROM sqlite_master ORDER BY type, name",
		"PRAGMA user_version",
		"SELECT * FROM cvms ORDER BY id",
		"SELECT * FROM events ORDER BY seq",
		"SELECT * FROM certs ORDER BY serial",
		"SELECT * FROM settings ORDER BY key",
		"SELECT * FROM providers ORDER BY name",
		"SELECT * FROM conditions ORDER BY cvm_id, type",
	};
	char *out = xstrdup("");
	for (size_t i = 0; i < ARRAY_SIZE(queries); i++) {
		_cleanup_free_ char *rows = raw_rows(dir, queries[i]);
		char *next = xasprintf("%s-- %s\n%s", out, queries[i], rows);
		free(out);
		out = next;
	}
	return out;
}

static store_t *open_ok(const char *dir) {
	store_t *s = NULL;
	int r = store_open(dir, NULL, &s);
	if (r < 0) fail_msg("store_open(%s): %s (%s)", dir, strerror(-r), store_errmsg(NULL));
	return s;
}

static void assert_str_eq_or_null(const char *want, const char *got) {
	if (!want || !got)
		assert_ptr_equal(want, got);
	else
		assert_string_equal(want, got);
}

/* ---- the tests ---- */

/* The copy is the version 1 state the README describes. */
static void test_fixture_is_version_1(void **state) {
	fixture *f = *state;
	_cleanup_free_ char *uv = raw_rows(f->dir, "PRAGMA user_version");
	assert_string_equal(uv, "1\n");
	_cleanup_free_ char *keys = raw_rows(f->dir,
	                                     "SELECT count(*) FROM settings WHERE key LIKE 'delivered:%' "
	                                     "OR key LIKE 'rotate-retry:%' OR key LIKE 'provider:%'");
	assert_string_equal(keys, "7\n");
	_cleanup_free_ char *counts =
		raw_rows(f->dir, "SELECT (SELECT count(*) FROM cvms), (SELECT count(*) FROM events), "
		                 "(SELECT count(*) FROM certs)");
	assert_string_equal(counts, "3=13=6\n");
}

static void test_records_kept(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	assert_string_equal(store_installation_id(s), INSTALLATION);
	cvm_record_t *v = NULL;
	size_t n = 0;
	assert_int_equal(store_list_cvms(s, NULL, &v, &n), 0);
	assert_int_equal(n, ARRAY_SIZE(want_cvms));
	for (size_t i = 0; i < n; i++) {
		const cvm_record_t *w = &want_cvms[i], *g = &v[i];
		assert_string_equal(w->id, g->id);
		assert_string_equal(w->name, g->name);
		assert_string_equal(w->scope, g->scope);
		assert_string_equal(w->flavor, g->flavor);
		assert_string_equal(w->provider, g->provider);
		assert_string_equal(w->placement, g->placement);
		assert_int_equal(w->status, g->status);
		assert_str_eq_or_null(w->url, g->url);
		assert_string_equal(w->spec_hash, g->spec_hash);
		assert_string_equal(w->spec_json, g->spec_json);
		assert_string_equal(w->attempt, g->attempt);
		assert_int_equal(w->vcpus, g->vcpus);
		assert_int_equal(w->memory_gib, g->memory_gib);
		assert_int_equal(w->created_at, g->created_at);
		assert_int_equal(w->updated_at, g->updated_at);
		assert_str_eq_or_null(w->last_error, g->last_error);
		assert_null(g->handle); /* new in version 2: not known yet */
	}
	cvm_record_t one;
	assert_int_equal(store_find_cvm(s, "old-1", &one), 0);
	assert_string_equal(one.id, OLD1);
	assert_int_equal(one.status, ST_INACTIVE);
	cvm_record_free(&one);
	cvm_records_free(v, n);
	store_close(s);
}

static void test_events_kept(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	size_t total = 0;
	for (size_t c = 0; c < ARRAY_SIZE(want_cvms); c++) {
		cvm_event_t *ev = NULL;
		size_t n = 0;
		assert_int_equal(store_list_events(s, want_cvms[c].id, &ev, &n), 0);
		size_t k = 0;
		for (size_t i = 0; i < ARRAY_SIZE(want_events); i++) {
			const struct want_event *w = &want_events[i];
			if (strcmp(w->cvm_id, want_cvms[c].id) != 0) continue;
			assert_true(k < n);
			assert_int_equal(ev[k].at, w->at);
			assert_string_equal(ev[k].kind, w->kind);
			assert_string_equal(ev[k].message, w->message);
			k++;
		}
		assert_int_equal(k, n);
		total += n;
		cvm_events_free(ev, n);
	}
	assert_int_equal(total, 13);
	store_close(s);
}

static void assert_key_file(const fixture *f, const struct want_cert *w) {
	_cleanup_free_ char *path = xasprintf("%s/keys/%s/%s.key", f->dir, w->cvm_id, w->serial);
	struct stat st;
	if (stat(path, &st) < 0) fail_msg("key file %s: %s", path, strerror(errno));
	assert_int_equal(st.st_mode & 07777, 0600);
	_cleanup_free_ char *key = NULL;
	size_t len = 0;
	assert_int_equal(read_file(path, &key, &len), 0);
	assert_true(strncmp(key, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	char hex[65];
	sha256_hex(key, len, hex);
	assert_string_equal(hex, w->key_sha256);
	/* The record still names it where version 1 wrote it. */
	_cleanup_free_ char *tail = xasprintf("/keys/%s/%s.key", w->cvm_id, w->serial);
	assert_non_null(strstr(w->key_path, tail));
	memset(key, 0, len);
}

static void test_certificates_and_keys_kept(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cert_record_t *v = NULL;
	size_t n = 0;
	assert_int_equal(store_list_certs(s, NULL, &v, &n), 0);
	assert_int_equal(n, ARRAY_SIZE(want_certs));
	for (size_t i = 0; i < n; i++) {
		const struct want_cert *w = &want_certs[i];
		assert_string_equal(v[i].serial, w->serial);
		assert_string_equal(v[i].cvm_id, w->cvm_id);
		assert_int_equal(v[i].is_default, w->is_default);
		assert_int_equal(v[i].status, w->status);
		assert_int_equal(v[i].not_before, w->not_before);
		assert_int_equal(v[i].not_after, w->not_after);
		assert_int_equal(v[i].revoked_at, w->revoked_at);
		assert_int_equal(v[i].revoke_reason, w->revoke_reason);
		assert_string_equal(v[i].key_path, w->key_path);
		assert_true(strncmp(v[i].cert_pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
		char hex[65];
		sha256_hex(v[i].cert_pem, strlen(v[i].cert_pem), hex);
		assert_string_equal(hex, w->pem_sha256);
		assert_key_file(f, w);
	}
	cert_records_free(v, n);

	/* The CA beside it still loads. */
	pki_ca_t *ca = NULL;
	char *err = NULL;
	if (certs_open_ca(s, false, &ca, &err) < 0) fail_msg("CA: %s", err);
	assert_non_null(strstr(pki_ca_cert_pem(ca), "-----BEGIN CERTIFICATE-----"));
	pki_ca_free(ca);
	store_close(s);
}

static void test_settings_moved(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	for (size_t i = 0; i < ARRAY_SIZE(want_facts); i++) {
		const struct want_facts *w = &want_facts[i];
		_cleanup_free_ char *serial = NULL;
		assert_int_equal(store_get_delivered(s, w->cvm_id, &serial), 0);
		assert_str_eq_or_null(w->delivered, serial);
		int failures = -1;
		int64_t next = -1;
		assert_int_equal(store_get_rotation_retry(s, w->cvm_id, &failures, &next), 0);
		assert_int_equal(failures, w->failures);
		assert_int_equal(next, w->next_at);
	}
	for (size_t i = 0; i < ARRAY_SIZE(want_providers); i++) {
		const struct want_provider *w = &want_providers[i];
		_cleanup_free_ char *flavor = NULL, *settings = NULL;
		assert_int_equal(store_get_provider(s, w->name, &flavor, &settings), 0);
		assert_string_equal(flavor, w->flavor);
		assert_string_equal(settings, w->settings);
	}
	store_close(s);

	_cleanup_free_ char *left = raw_rows(f->dir, "SELECT key, value FROM settings ORDER BY key");
	assert_string_equal(left, want_settings);
	_cleanup_free_ char *uv = raw_rows(f->dir, "PRAGMA user_version");
	_cleanup_free_ char *want_uv = xasprintf("%d\n", sqlite_schema_version());
	assert_string_equal(uv, want_uv);
}

/* The provider settings read back into a config the backends take, and
 * saving that config again writes nothing new: the migration wrote what
 * the code writes. */
static const char *setting(const provider_config_t *c, const char *key) {
	return json_string_value(json_object_get(c->settings, key));
}

static void test_providers_as_the_code_writes_them(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	provider_config_t c;
	provider_holder_t holder;
	assert_int_equal(provider_record_load(s, "lab-dev", &c, &holder), 0);
	assert_string_equal(c.name, "lab-dev");
	assert_string_equal(c.flavor, "manager");
	json_t *hosts = json_object_get(c.settings, "hosts");
	assert_int_equal(json_array_size(hosts), 1);
	assert_string_equal(json_string_value(json_array_get(hosts, 0)), SOCK("b"));
	assert_true(json_is_true(json_object_get(c.settings, "vtpm")));
	assert_true(json_is_true(json_object_get(c.settings, "insecureNoSEV")));
	json_t *cap = json_object_get(c.settings, "capacity");
	assert_int_equal(json_integer_value(json_object_get(cap, "vcpus")), 16);
	assert_null(json_object_get(cap, "memoryGiB"));
	assert_string_equal(setting(&c, "cmdline"), "console=ttyS0");
	assert_string_equal(setting(&c, "domainType"), "qemu");
	assert_string_equal(setting(&c, "cpuModel"), "EPYC");
	assert_string_equal(setting(&c, "shareDir"), "/tmp/cvmctl-make-fixture.2jJ73N/dev-shares");
	assert_null(setting(&c, "firmware"));
	assert_null(setting(&c, "network"));
	provider_record_release(&c, &holder);

	_cleanup_free_ char *before = raw_rows(f->dir, "SELECT * FROM providers ORDER BY name");
	setenv("CVMCTL_TEST_NOW", "2000000000", 1); /* a save that changed anything would show */
	for (size_t i = 0; i < ARRAY_SIZE(want_providers); i++) {
		assert_int_equal(provider_record_load(s, want_providers[i].name, &c, &holder), 0);
		assert_int_equal(provider_record_save(s, &c), 0);
		provider_record_release(&c, &holder);
	}
	unsetenv("CVMCTL_TEST_NOW");
	_cleanup_free_ char *after = raw_rows(f->dir, "SELECT * FROM providers ORDER BY name");
	assert_string_equal(before, after);

	assert_int_equal(provider_record_load(s, "gcp-prod", &c, &holder), 0);
	assert_string_equal(c.flavor, "gcp");
	assert_string_equal(setting(&c, "project"), "acme-cc");
	assert_string_equal(setting(&c, "zone"), "europe-west4-a");
	assert_string_equal(setting(&c, "credentialsFile"), "/etc/cvmctl/gcp-sa.json");
	assert_null(json_object_get(c.settings, "hosts"));
	provider_record_release(&c, &holder);
	store_close(s);
}

/* Version 3: an upgraded state has the conditions table, empty (no pass
 * has judged anything yet), and its records take conditions whose
 * transition time moves only with their status. */
static void test_conditions_after_upgrade(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	_cleanup_free_ char *none = raw_rows(f->dir, "SELECT count(*) FROM conditions");
	assert_string_equal(none, "0\n");
	cvm_condition_t *v = NULL;
	size_t n = 0;
	assert_int_equal(store_list_conditions(s, want_cvms[0].id, &v, &n), 0);
	assert_int_equal(n, 0);
	cvm_condition_t c = {.type = "Ready", .status = COND_TRUE, .reason = "Running", .spec_hash = "h1",
	                     .observed_at = 1000};
	assert_int_equal(store_put_condition(s, want_cvms[0].id, &c), 0);
	c.observed_at = 2000; /* same status: the transition stays at 1000 */
	c.message = "still running";
	assert_int_equal(store_put_condition(s, want_cvms[0].id, &c), 0);
	assert_int_equal(store_list_conditions(s, want_cvms[0].id, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].last_transition, 1000);
	assert_int_equal(v[0].observed_at, 2000);
	assert_string_equal(v[0].message, "still running");
	cvm_conditions_free(v, n);
	c.status = COND_UNKNOWN; /* a new status moves it */
	c.reason = "Unobservable";
	c.observed_at = 3000;
	assert_int_equal(store_put_condition(s, want_cvms[0].id, &c), 0);
	assert_int_equal(store_list_conditions(s, want_cvms[0].id, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].status, COND_UNKNOWN);
	assert_int_equal(v[0].last_transition, 3000);
	assert_string_equal(v[0].reason, "Unobservable");
	cvm_conditions_free(v, n);
	/* a condition must name a stored CVM */
	assert_int_equal(store_put_condition(s, "00000000-0000-4000-8000-000000000000", &c), -ENOENT);
	store_close(s);
}

/* Version 4: upgraded records are not suspended and have deletionPolicy
 * Delete; the flags are set by their own setters and left alone by put. */
static void test_lifecycle_after_upgrade(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	const char *id = want_cvms[0].id;
	cvm_record_t r;
	assert_int_equal(store_get_cvm(s, id, &r), 0);
	assert_false(r.suspended);
	assert_false(r.spec_suspended);
	assert_false(r.orphan);
	assert_int_equal(store_set_suspended(s, id, true), 0);
	assert_int_equal(store_set_lifecycle(s, id, true, true), 0);
	r.vcpus++; /* a put of the record read before keeps the flags */
	assert_int_equal(store_put_cvm(s, &r), 0);
	cvm_record_free(&r);
	assert_int_equal(store_get_cvm(s, id, &r), 0);
	assert_true(r.suspended);
	assert_true(r.spec_suspended);
	assert_true(r.orphan);
	cvm_record_free(&r);
	_cleanup_free_ char *q = xasprintf("SELECT suspended, spec_suspended, deletion_policy FROM cvms WHERE id = '%s'", id);
	_cleanup_free_ char *row = raw_rows(f->dir, q);
	assert_string_equal(row, "1=1=Orphan\n");
	assert_int_equal(store_set_suspended(s, "00000000-0000-4000-8000-000000000000", true), -ENOENT);
	store_close(s);
}

/* Once migrated, opening again (and again) changes nothing at all. */
static void test_second_open_is_a_no_op(void **state) {
	fixture *f = *state;
	store_close(open_ok(f->dir));
	_cleanup_free_ char *first = raw_dump(f->dir);
	for (int i = 0; i < 2; i++) {
		setenv("CVMCTL_TEST_NOW", "2000000000", 1);
		store_t *s = open_ok(f->dir);
		assert_string_equal(store_installation_id(s), INSTALLATION);
		store_close(s);
		unsetenv("CVMCTL_TEST_NOW");
		_cleanup_free_ char *again = raw_dump(f->dir);
		assert_string_equal(first, again);
	}
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixture_is_version_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificates_and_keys_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_providers_as_the_code_writes_them, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_open_is_a_no_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conditions_after_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_after_upgrade, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
