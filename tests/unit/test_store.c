/* The state store: safe creation, schema versions, installation ids, every
 * record type round-tripped, transactions, and the writer lock across
 * handles and processes. Each test works in its own mkdtemp directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/store.h"
#include "reconciler/store/sqlite/sqlite_priv.h"

typedef struct fixture {
	char base[64];
	char *dir; /* base/a/b/state: the parents do not exist yet */
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state) {
	fixture *f = xcalloc(1, sizeof *f);
	snprintf(f->base, sizeof f->base, "/tmp/test_store.XXXXXX");
	if (!mkdtemp(f->base)) return -1;
	f->dir = xasprintf("%s/a/b/state", f->base);
	unsetenv("CVMCTL_TEST_NOW");
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fixture *f = *state;
	nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	unsetenv("CVMCTL_TEST_NOW");
	return 0;
}

static store_t *open_ok(const char *dir) {
	store_t *s = NULL;
	int r = store_open(dir, NULL, &s);
	if (r < 0) fail_msg("store_open(%s): %s (%s)", dir, strerror(-r), store_errmsg(NULL));
	assert_non_null(s);
	return s;
}

static mode_t mode_of(const char *path) {
	struct stat st;
	if (stat(path, &st) < 0) fail_msg("stat %s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

/* Reads one value with a separate connection, as the sqlite3 shell would. */
static char *sql_text(const char *dir, const char *sql) {
	_cleanup_free_ char *path = xasprintf("%s/state.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int rc = sqlite3_step(st);
	char *out = rc == SQLITE_ROW ? xstrdup((const char *)sqlite3_column_text(st, 0)) : NULL;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* The store's clock (test builds: CVMCTL_TEST_NOW); 0 gives it back. */
static void at(int64_t t) {
	if (!t) {
		unsetenv("CVMCTL_TEST_NOW");
		return;
	}
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", (long long)t);
	setenv("CVMCTL_TEST_NOW", buf, 1);
}

/* updated_at is the store's own: a record put at its updated_at reads
 * back equal. */
static int put_at(store_t *s, const cvm_record_t *r) {
	at(r->updated_at);
	int rc = store_put_cvm(s, r);
	at(0);
	return rc;
}

static int64_t mono_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A record with every field set, each to a value no other field has. */
static void full_record(cvm_record_t *r, const char *name, const char *scope, cvm_status_t status, int64_t t) {
	memset(r, 0, sizeof *r);
	uuid_generate_v4(r->id);
	r->name = xstrdup(name);
	r->scope = xstrdup(scope);
	r->flavor = xasprintf("flavor-%s", name);
	r->provider = xstrdup("manager-hosts");
	r->placement = xstrdup("qemu+ssh://host1/system");
	r->status = status;
	r->url = xasprintf("https://%s.example:7002", name);
	r->spec_hash = xstrdup("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	r->spec_json = xstrdup("{\"name\":\"x\",\"quote\":\"it's \\\"fine\\\"\"}");
	r->attempt = xstrdup("attempt-1");
	r->vcpus = 4;
	r->memory_gib = 16;
	r->created_at = t;
	r->updated_at = t + 5;
	r->last_error = xstrdup("quota exceeded");
}

static void assert_str_eq_or_null(const char *a, const char *b) {
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_record_equal(const cvm_record_t *a, const cvm_record_t *b) {
	assert_string_equal(a->id, b->id);
	assert_str_eq_or_null(a->name, b->name);
	assert_str_eq_or_null(a->scope, b->scope);
	assert_str_eq_or_null(a->flavor, b->flavor);
	assert_str_eq_or_null(a->provider, b->provider);
	assert_str_eq_or_null(a->placement, b->placement);
	assert_int_equal(a->status, b->status);
	assert_str_eq_or_null(a->url, b->url);
	assert_str_eq_or_null(a->spec_hash, b->spec_hash);
	assert_str_eq_or_null(a->spec_json, b->spec_json);
	assert_str_eq_or_null(a->attempt, b->attempt);
	assert_int_equal(a->vcpus, b->vcpus);
	assert_int_equal(a->memory_gib, b->memory_gib);
	assert_int_equal(a->created_at, b->created_at);
#ifdef CVM_TEST_HOOKS /* only test builds can set the store's clock */
	assert_int_equal(a->updated_at, b->updated_at);
#endif
	assert_str_eq_or_null(a->last_error, b->last_error);
	assert_str_eq_or_null(a->handle, b->handle);
}

/* ---- creation, modes, schema ---- */

static void test_create_modes(void **state) {
	fixture *f = *state;
	mode_t old = umask(022); /* a careless caller's umask */
	store_t *s = open_ok(f->dir);
	umask(old);

	assert_int_equal(mode_of(f->dir), 0700);
	_cleanup_free_ char *db = xasprintf("%s/state.db", f->dir);
	assert_int_equal(mode_of(db), 0600);
	/* WAL: a write leaves its -wal and -shm files, with the database's mode. */
	assert_int_equal(store_set_setting(s, "probe", "1"), 0);
	_cleanup_free_ char *wal = xasprintf("%s/state.db-wal", f->dir);
	_cleanup_free_ char *shm = xasprintf("%s/state.db-shm", f->dir);
	assert_int_equal(mode_of(wal), 0600);
	assert_int_equal(mode_of(shm), 0600);
	assert_true(uuid_valid(store_installation_id(s)));
	assert_string_equal(store_dir(s), f->dir);

	_cleanup_free_ char *jm = sql_text(f->dir, "PRAGMA journal_mode");
	assert_non_null(jm);
	assert_string_equal(jm, "wal");
	_cleanup_free_ char *uv = sql_text(f->dir, "PRAGMA user_version");
	char want[16];
	snprintf(want, sizeof want, "%d", sqlite_schema_version());
	assert_true(sqlite_schema_version() >= 1);
	assert_string_equal(uv, want);
	store_close(s);
}

static void test_loose_dir_is_tightened(void **state) {
	fixture *f = *state;
	assert_int_equal(mkdir_p(f->dir, 0755), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(mode_of(f->dir), 0755);
	store_t *s = open_ok(f->dir);
	assert_int_equal(mode_of(f->dir), 0700);
	store_close(s);
}

static void test_not_a_directory(void **state) {
	fixture *f = *state;
	_cleanup_free_ char *file = xasprintf("%s/file", f->base);
	assert_int_equal(write_file_atomic(file, "x", 1, 0600), 0);
	store_t *s = NULL;
	assert_int_equal(store_open(file, NULL, &s), -ENOTDIR);
	assert_null(s);
	assert_non_null(strstr(store_errmsg(NULL), file));
}

static void test_reopen_keeps_installation(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	char id[37];
	snprintf(id, sizeof id, "%s", store_installation_id(s));
	store_close(s);

	s = open_ok(f->dir);
	assert_string_equal(store_installation_id(s), id);
	_cleanup_free_ char *v = NULL;
	assert_int_equal(store_get_setting(s, "installation_id", &v), 0);
	assert_string_equal(v, id);
	store_close(s);

	/* Another new state gets another id. */
	_cleanup_free_ char *other = xasprintf("%s/other", f->base);
	s = open_ok(other);
	assert_string_not_equal(store_installation_id(s), id);
	store_close(s);
}

static void test_installation_given(void **state) {
	fixture *f = *state;
	char want[37], other[37];
	uuid_generate_v4(want);
	uuid_generate_v4(other);

	store_t *s = NULL;
	assert_int_equal(store_open(f->dir, want, &s), 0);
	assert_string_equal(store_installation_id(s), want);
	store_close(s);

	s = NULL;
	assert_int_equal(store_open(f->dir, other, &s), -EEXIST);
	assert_null(s);
	assert_non_null(strstr(store_errmsg(NULL), want));
	assert_non_null(strstr(store_errmsg(NULL), other));

	assert_int_equal(store_open(f->dir, want, &s), 0);
	assert_string_equal(store_installation_id(s), want);
	store_close(s);

	s = NULL;
	assert_int_equal(store_open(f->dir, "not-a-uuid", &s), -EINVAL);
	assert_null(s);
}

static void test_future_schema_refused(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	store_close(s);
	int future = sqlite_schema_version() + 7;
	_cleanup_free_ char *sql = xasprintf("PRAGMA user_version = %d", future);
	free(sql_text(f->dir, sql));
	_cleanup_free_ char *uv = sql_text(f->dir, "PRAGMA user_version");
	assert_int_equal(atoi(uv), future);

	s = NULL;
	assert_int_equal(store_open(f->dir, NULL, &s), -EPROTO);
	assert_null(s);
	_cleanup_free_ char *msg = xasprintf("state schema version %d is newer than this cvmctl understands (%d)",
	                                     future, sqlite_schema_version());
	assert_string_equal(store_errmsg(NULL), msg);
	/* Refusing did not touch it. */
	_cleanup_free_ char *uv2 = sql_text(f->dir, "PRAGMA user_version");
	assert_int_equal(atoi(uv2), future);
}

/* ---- CVM records ---- */

static void test_cvm_round_trip(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t in, out, copy;
	full_record(&in, "web", "team-a", ST_RUNNING, 1700000000);
	assert_int_equal(put_at(s, &in), 0);

	assert_int_equal(store_get_cvm(s, in.id, &out), 0);
	assert_record_equal(&in, &out);
	cvm_record_free(&out);
	assert_int_equal(store_find_cvm(s, in.id, &out), 0);
	assert_record_equal(&in, &out);
	cvm_record_free(&out);
	assert_int_equal(store_find_cvm(s, "web", &out), 0);
	assert_record_equal(&in, &out);

	/* The copy is deep: same contents, its own memory. */
	cvm_record_copy(&copy, &out);
	assert_record_equal(&copy, &out);
	assert_ptr_not_equal(copy.name, out.name);
	assert_ptr_not_equal(copy.spec_json, out.spec_json);
	cvm_record_free(&out);
	assert_string_equal(copy.name, "web");
	cvm_record_free(&copy);
	assert_null(copy.name);

	/* Every status survives by name, and the upsert replaces all fields;
	 * a zero created_at keeps the original, NULLs stay NULL. */
	for (int st = 0; st < ST__COUNT; st++) {
		cvm_record_t upd;
		cvm_record_copy(&upd, &in);
		upd.status = (cvm_status_t)st;
		free(upd.last_error);
		upd.last_error = NULL;
		free(upd.placement);
		upd.placement = NULL;
		free(upd.url);
		upd.url = xasprintf("https://10.0.0.%d:7002", st);
		upd.vcpus = 2 + st;
		upd.created_at = 0;
		upd.updated_at = 1700000100 + st;
		assert_int_equal(put_at(s, &upd), 0);
		assert_int_equal(store_get_cvm(s, in.id, &out), 0);
		upd.created_at = in.created_at;
		assert_record_equal(&upd, &out);
		assert_string_equal(cvm_status_name(out.status), cvm_status_name((cvm_status_t)st));
		cvm_record_free(&out);
		cvm_record_free(&upd);
	}
	/* stored by name: the loop's last status */
	_cleanup_free_ char *status = sql_text(f->dir, "SELECT status FROM cvms");
	assert_string_equal(status, cvm_status_name((cvm_status_t)(ST__COUNT - 1)));

	char missing[37];
	uuid_generate_v4(missing);
	assert_int_equal(store_get_cvm(s, missing, &out), -ENOENT);
	assert_int_equal(store_find_cvm(s, "nope", &out), -ENOENT);
	assert_non_null(strstr(store_errmsg(s), "nope"));

	cvm_record_t bad = {0};
	assert_int_equal(store_put_cvm(s, &bad), -EINVAL);
	cvm_record_free(&in);
	store_close(s);
}

static void test_status_names(void **state) {
	(void)state;
	const char *want[] = {"Creating", "Running", "Stopped", "Unknown", "Failed", "Deleting", "Inactive", "Missing"};
	assert_int_equal(ARRAY_SIZE(want), ST__COUNT);
	for (int i = 0; i < ST__COUNT; i++) {
		assert_string_equal(cvm_status_name((cvm_status_t)i), want[i]);
		assert_int_equal(cvm_status_from_name(want[i]), i);
	}
	assert_int_equal(cvm_status_from_name("running"), -1);
	assert_int_equal(cvm_status_from_name(NULL), -1);
	assert_int_equal(cert_status_from_name(cert_status_name(CERT_SUPERSEDED)), CERT_SUPERSEDED);
	assert_int_equal(cert_status_from_name("expired"), -1);
}

static void put(store_t *s, cvm_record_t *r, const char *name, const char *scope, cvm_status_t st, int64_t created,
                int64_t updated) {
	full_record(r, name, scope, st, created);
	r->updated_at = updated;
	assert_int_equal(put_at(s, r), 0);
}

static void test_find_prefers_active(void **state) {
#ifndef CVM_TEST_HOOKS
	skip(); /* the order is by updated_at, which only a test build can set */
#endif
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t old_inactive, newer_inactive, active_a, active_b, out;

	put(s, &old_inactive, "web", "a", ST_INACTIVE, 100, 200);
	assert_int_equal(store_find_cvm(s, "web", &out), 0);
	assert_string_equal(out.id, old_inactive.id);
	cvm_record_free(&out);

	/* The inactive record was touched last, yet the active one wins. */
	put(s, &active_a, "web", "a", ST_STOPPED, 300, 400);
	put(s, &newer_inactive, "web", "b", ST_INACTIVE, 500, 900);
	assert_int_equal(store_find_cvm(s, "web", &out), 0);
	assert_string_equal(out.id, active_a.id);
	cvm_record_free(&out);

	/* Two active in different scopes: the most recently updated. */
	put(s, &active_b, "web", "b", ST_RUNNING, 350, 450);
	assert_int_equal(store_find_cvm(s, "web", &out), 0);
	assert_string_equal(out.id, active_b.id);
	cvm_record_free(&out);

	/* Once both are Inactive (both touched before newer_inactive was):
	 * the most recent inactive one. */
	active_a.status = ST_INACTIVE;
	active_b.status = ST_INACTIVE;
	active_a.updated_at = 600;
	active_b.updated_at = 650;
	assert_int_equal(put_at(s, &active_a), 0);
	assert_int_equal(put_at(s, &active_b), 0);
	assert_int_equal(store_find_cvm(s, "web", &out), 0);
	assert_string_equal(out.id, newer_inactive.id);
	cvm_record_free(&out);

	/* An id always beats a name, even a name that looks like an id. */
	cvm_record_t tricky;
	put(s, &tricky, active_a.id, "a", ST_RUNNING, 1000, 1000);
	assert_int_equal(store_find_cvm(s, active_a.id, &out), 0);
	assert_string_equal(out.id, active_a.id);
	cvm_record_free(&out);

	cvm_record_free(&tricky);
	cvm_record_free(&old_inactive);
	cvm_record_free(&newer_inactive);
	cvm_record_free(&active_a);
	cvm_record_free(&active_b);
	store_close(s);
}

static void test_list_order_and_scope(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t r[4];
	put(s, &r[0], "zeta", "a", ST_RUNNING, 10, 10);
	put(s, &r[1], "alpha", "b", ST_RUNNING, 30, 30);
	put(s, &r[2], "alpha", "a", ST_INACTIVE, 20, 40);
	put(s, &r[3], "mid", "b", ST_FAILED, 5, 5);

	cvm_record_t *v = NULL;
	size_t n = 0;
	assert_int_equal(store_list_cvms(s, NULL, &v, &n), 0);
	assert_int_equal(n, 4);
	const int order[] = {2, 1, 3, 0}; /* by name, then created_at */
	for (size_t i = 0; i < n; i++) assert_record_equal(&v[i], &r[order[i]]);
	cvm_records_free(v, n);

	assert_int_equal(store_list_cvms(s, "b", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, r[1].id);
	assert_string_equal(v[1].id, r[3].id);
	cvm_records_free(v, n);

	assert_int_equal(store_list_cvms(s, "nobody", &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	for (int i = 0; i < 4; i++) cvm_record_free(&r[i]);
	store_close(s);
}

static void test_defaults(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	setenv("CVMCTL_TEST_NOW", "1234567", 1);
	int64_t t0 = now_s();
	cvm_record_t r = {0}, out;
	uuid_generate_v4(r.id);
	r.name = xstrdup("bare");
	r.status = ST_CREATING;
	assert_int_equal(store_put_cvm(s, &r), 0);
	assert_int_equal(store_get_cvm(s, r.id, &out), 0);
	assert_string_equal(out.scope, "default");
	assert_null(out.flavor);
	assert_null(out.url);
	assert_null(out.last_error);
	assert_true(out.created_at >= t0 && out.created_at <= now_s());
	assert_true(out.updated_at >= t0 && out.updated_at <= now_s());
	cvm_record_free(&out);
	cvm_record_free(&r);
	store_close(s);
}

/* ---- updated_at: moves with every change, and only then ---- */

/* Changes field i of r to a value it did not have (i < N_FIELDS). */
enum { N_FIELDS = 15 };
static void change_field(cvm_record_t *r, int i) {
	char **str[] = {&r->name,     &r->scope,   &r->flavor,     &r->provider, &r->placement, &r->url,
	                &r->spec_hash, &r->spec_json, &r->attempt, &r->last_error, &r->handle};
	if (i < (int)ARRAY_SIZE(str)) {
		_cleanup_free_ char *old = *str[i];
		*str[i] = xasprintf("%s-changed", old ? old : "was-null");
		return;
	}
	switch (i - (int)ARRAY_SIZE(str)) {
	case 0: r->status = r->status == ST_RUNNING ? ST_STOPPED : ST_RUNNING; break;
	case 1: r->vcpus++; break;
	case 2: r->memory_gib++; break;
	default: r->created_at++; break;
	}
}

static int64_t updated_at_of(store_t *s, const char *id) {
	cvm_record_t out;
	assert_int_equal(store_get_cvm(s, id, &out), 0);
	int64_t t = out.updated_at;
	cvm_record_free(&out);
	return t;
}

/* A put that changes any one field moves updated_at to now; the same put
 * again, later, changes nothing and writes no row; the record's own
 * updated_at (a copy of what was read) is never what is stored. */
static void test_updated_at_follows_changes(void **state) {
#ifndef CVM_TEST_HOOKS
	skip(); /* needs the store's clock */
#endif
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t r;
	full_record(&r, "web", "default", ST_RUNNING, 100);
	r.updated_at = 5; /* ignored */
	at(1000);
	assert_int_equal(store_put_cvm(s, &r), 0);
	assert_int_equal(updated_at_of(s, r.id), 1000);
	int64_t t = 1000;
	for (int i = 0; i < N_FIELDS; i++) {
		change_field(&r, i);
		at(t + 10);
		assert_int_equal(store_put_cvm(s, &r), 0);
		assert_int_equal(sqlite3_changes(sq_db(s)), 1);
		if (updated_at_of(s, r.id) != t + 10) fail_msg("changing field %d did not move updated_at", i);
		t += 10;
		at(t + 5);
		r.updated_at = 1; /* a stale copy's value */
		assert_int_equal(store_put_cvm(s, &r), 0);
		if (sqlite3_changes(sq_db(s)) != 0) fail_msg("an identical put after field %d wrote the row", i);
		if (updated_at_of(s, r.id) != t) fail_msg("an identical put after field %d moved updated_at", i);
	}
	/* created_at 0 keeps the stored one: no change either. */
	r.created_at = 0;
	at(t + 7);
	assert_int_equal(store_put_cvm(s, &r), 0);
	assert_int_equal(updated_at_of(s, r.id), t);
	at(0);
	cvm_record_free(&r);
	store_close(s);
}

/* The setters of their own move updated_at too, and not when they set
 * what is already there; events are history, not a change of the record. */
static void test_updated_at_setters(void **state) {
#ifndef CVM_TEST_HOOKS
	skip();
#endif
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t r;
	full_record(&r, "web", "default", ST_RUNNING, 100);
	r.updated_at = 1000;
	assert_int_equal(put_at(s, &r), 0);

	at(2000);
	assert_int_equal(store_set_delivered(s, r.id, "0A"), 0);
	assert_int_equal(updated_at_of(s, r.id), 2000);
	at(2100);
	assert_int_equal(store_set_delivered(s, r.id, "0A"), 0);
	assert_int_equal(updated_at_of(s, r.id), 2000);
	at(2200);
	assert_int_equal(store_set_delivered(s, r.id, NULL), 0);
	assert_int_equal(updated_at_of(s, r.id), 2200);
	_cleanup_free_ char *serial = NULL;
	assert_int_equal(store_get_delivered(s, r.id, &serial), 0);
	assert_null(serial);

	at(3000);
	assert_int_equal(store_set_rotation_retry(s, r.id, 2, 4000), 0);
	assert_int_equal(updated_at_of(s, r.id), 3000);
	at(3100);
	assert_int_equal(store_set_rotation_retry(s, r.id, 2, 4000), 0);
	assert_int_equal(updated_at_of(s, r.id), 3000);
	at(3200);
	assert_int_equal(store_set_rotation_retry(s, r.id, 2, 4100), 0);
	assert_int_equal(updated_at_of(s, r.id), 3200);
	int n = 0;
	int64_t next = 0;
	assert_int_equal(store_get_rotation_retry(s, r.id, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_int_equal(next, 4100);

	at(3300);
	assert_int_equal(store_add_event(s, r.id, "status", "seen"), 0);
	assert_int_equal(updated_at_of(s, r.id), 3200);

	/* Skipping an unchanged row still tells a missing CVM apart. */
	char ghost[37];
	uuid_generate_v4(ghost);
	assert_int_equal(store_set_delivered(s, ghost, NULL), -ENOENT);
	assert_int_equal(store_set_rotation_retry(s, ghost, 0, 0), -ENOENT);
	assert_non_null(strstr(store_errmsg(s), ghost));
	at(0);
	cvm_record_free(&r);
	store_close(s);
}

static off_t size_of(const char *path) {
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A converged pass puts every record again unchanged: no row is written,
 * the WAL does not grow, and no updated_at moves. */
static void test_converged_puts_write_nothing(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	enum { N = 2000 };
	cvm_record_t *v = xcalloc(N, sizeof *v);
	assert_int_equal(store_begin(s), 0);
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof name, "cvm-%05d", i);
		full_record(&v[i], name, "default", ST_RUNNING, 100);
		assert_int_equal(store_put_cvm(s, &v[i]), 0);
	}
	assert_int_equal(store_commit(s), 0);
	cvm_record_t *before = NULL;
	size_t n = 0;
	assert_int_equal(store_list_cvms(s, NULL, &before, &n), 0);
	assert_int_equal(n, N);
	_cleanup_free_ char *wal = xasprintf("%s/state.db-wal", f->dir);
	off_t wal_size = size_of(wal);

	int total = sqlite3_total_changes(sq_db(s));
	at(now_s() + 3600); /* a later pass, where the clock allows */
	assert_int_equal(store_begin(s), 0);
	for (size_t i = 0; i < n; i++) assert_int_equal(store_put_cvm(s, &before[i]), 0);
	assert_int_equal(store_commit(s), 0);
	at(0);
	assert_int_equal(sqlite3_total_changes(sq_db(s)), total);
	assert_int_equal(size_of(wal), wal_size);
	cvm_record_t *after = NULL;
	size_t n2 = 0;
	assert_int_equal(store_list_cvms(s, NULL, &after, &n2), 0);
	assert_int_equal(n2, n);
	for (size_t i = 0; i < n; i++) assert_int_equal(after[i].updated_at, before[i].updated_at);
	cvm_records_free(before, n);
	cvm_records_free(after, n2);
	cvm_records_free(v, N);
	store_close(s);
}

/* ---- events ---- */

static void test_events(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t a, b;
	put(s, &a, "a", "default", ST_RUNNING, 1, 1);
	put(s, &b, "b", "default", ST_RUNNING, 1, 1);

	setenv("CVMCTL_TEST_NOW", "2000", 1);
	int64_t t1 = now_s();
	assert_int_equal(store_add_event(s, a.id, "created", "on host1"), 0);
	assert_int_equal(store_add_event(s, b.id, "created", NULL), 0);
	setenv("CVMCTL_TEST_NOW", "2001", 1);
	int64_t t2 = now_s();
	assert_int_equal(store_add_event(s, a.id, "started", "found shut off; started again"), 0);
	assert_int_equal(store_add_event(s, a.id, "cert-renewed", "serial 0A"), 0);

	cvm_event_t *ev = NULL;
	size_t n = 0;
	assert_int_equal(store_list_events(s, a.id, &ev, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ev[0].kind, "created");
	assert_string_equal(ev[0].message, "on host1");
	assert_int_equal(ev[0].at, t1);
	assert_string_equal(ev[1].kind, "started");
	assert_string_equal(ev[2].kind, "cert-renewed");
	assert_string_equal(ev[2].message, "serial 0A");
	assert_int_equal(ev[2].at, t2);
	assert_true(ev[1].at <= ev[2].at);
	cvm_events_free(ev, n);

#ifdef CVM_TEST_HOOKS
	/* Oldest first by time, not by insertion (the test clock goes back). */
	setenv("CVMCTL_TEST_NOW", "1999", 1);
	assert_int_equal(store_add_event(s, a.id, "adopted", NULL), 0);
	assert_int_equal(store_list_events(s, a.id, &ev, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(ev[0].kind, "adopted");
	assert_int_equal(ev[0].at, 1999);
	assert_string_equal(ev[3].kind, "cert-renewed");
	cvm_events_free(ev, n);
#endif

	assert_int_equal(store_list_events(s, b.id, &ev, &n), 0);
	assert_int_equal(n, 1);
	assert_null(ev[0].message);
	cvm_events_free(ev, n);

	char ghost[37];
	uuid_generate_v4(ghost);
	assert_int_equal(store_add_event(s, ghost, "created", "x"), -ENOENT);
	assert_int_equal(store_list_events(s, ghost, &ev, &n), 0);
	assert_int_equal(n, 0);

	cvm_record_free(&a);
	cvm_record_free(&b);
	store_close(s);
}

/* ---- certificates ---- */

static void cert(cert_record_t *c, const char *serial, const char *cvm_id, int64_t nb) {
	memset(c, 0, sizeof *c);
	c->serial = xstrdup(serial);
	snprintf(c->cvm_id, sizeof c->cvm_id, "%s", cvm_id);
	c->is_default = true;
	c->status = CERT_VALID;
	c->not_before = nb;
	c->not_after = nb + 86400 * 30;
	c->revoked_at = 0;
	c->revoke_reason = -1;
	c->cert_pem = xasprintf("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", serial);
	c->key_path = xasprintf("/var/lib/cvmctl/keys/%s.key", serial);
}

static void assert_cert_equal(const cert_record_t *a, const cert_record_t *b) {
	assert_string_equal(a->serial, b->serial);
	assert_string_equal(a->cvm_id, b->cvm_id);
	assert_int_equal(a->is_default, b->is_default);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->not_before, b->not_before);
	assert_int_equal(a->not_after, b->not_after);
	assert_int_equal(a->revoked_at, b->revoked_at);
	assert_int_equal(a->revoke_reason, b->revoke_reason);
	assert_str_eq_or_null(a->cert_pem, b->cert_pem);
	assert_str_eq_or_null(a->key_path, b->key_path);
}

static void test_certs(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t a, b;
	put(s, &a, "a", "default", ST_RUNNING, 1, 1);
	put(s, &b, "b", "default", ST_RUNNING, 1, 1);

	cert_record_t c1, c2, out;
	cert(&c1, "0A1B2C", a.id, 1000);
	cert(&c2, "FF00", a.id, 500);
	assert_int_equal(store_put_cert(s, &c1), 0);
	assert_int_equal(store_put_cert(s, &c2), 0);
	assert_int_equal(store_get_cert(s, "0A1B2C", &out), 0);
	assert_cert_equal(&c1, &out);
	cert_record_free(&out);

	/* Same serial, same CVM: an update (revocation). */
	c1.status = CERT_REVOKED;
	c1.is_default = false;
	c1.revoked_at = 1500;
	c1.revoke_reason = 1; /* keyCompromise */
	free(c1.key_path);
	c1.key_path = NULL;
	assert_int_equal(store_put_cert(s, &c1), 0);
	assert_int_equal(store_get_cert(s, "0A1B2C", &out), 0);
	assert_cert_equal(&c1, &out);
	cert_record_free(&out);

	/* Same serial for another CVM: refused, in any letter case. */
	cert_record_t steal;
	cert(&steal, "0A1B2C", b.id, 2000);
	assert_int_equal(store_put_cert(s, &steal), -EEXIST);
	assert_non_null(strstr(store_errmsg(s), a.id));
	free(steal.serial);
	steal.serial = xstrdup("0a1b2c");
	assert_int_equal(store_put_cert(s, &steal), -EEXIST);
	cert_record_free(&steal);
	assert_int_equal(store_get_cert(s, "0A1B2C", &out), 0);
	assert_string_equal(out.cvm_id, a.id); /* untouched */
	assert_int_equal(out.status, CERT_REVOKED);
	cert_record_free(&out);

	/* A certificate for no stored CVM is refused. */
	char ghost[37];
	uuid_generate_v4(ghost);
	cert_record_t orphan;
	cert(&orphan, "0D", ghost, 1);
	assert_int_equal(store_put_cert(s, &orphan), -ENOENT);
	assert_int_equal(store_get_cert(s, "0D", &out), -ENOENT);
	cert_record_free(&orphan);

	cert_record_t cb;
	cert(&cb, "0B", b.id, 700);
	assert_int_equal(store_put_cert(s, &cb), 0);

	cert_record_t *v = NULL;
	size_t n = 0;
	assert_int_equal(store_list_certs(s, a.id, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_cert_equal(&v[0], &c2); /* older not_before first */
	assert_cert_equal(&v[1], &c1);
	cert_records_free(v, n);
	assert_int_equal(store_list_certs(s, NULL, &v, &n), 0);
	assert_int_equal(n, 3);
	cert_records_free(v, n);

	cert_record_free(&c1);
	cert_record_free(&c2);
	cert_record_free(&cb);
	cvm_record_free(&a);
	cvm_record_free(&b);
	store_close(s);
}

/* One transaction may record a certificate before its CVM: the reference
 * is checked at commit. */
/* The rotation step's view of every CVM, in one query: the current default
 * certificate (valid, latest notAfter), what was delivered, the retry
 * state; Inactive CVMs are not in it. */
static void test_cert_states(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t a, b, gone;
	put(s, &a, "a", "default", ST_RUNNING, 1, 1);
	put(s, &b, "b", "default", ST_RUNNING, 1, 1);
	put(s, &gone, "gone", "default", ST_INACTIVE, 1, 1);
	cert_record_t old, cur, extra, revoked, g;
	cert(&old, "01", a.id, 1000);
	old.status = CERT_SUPERSEDED;
	cert(&cur, "02", a.id, 2000);
	cert(&extra, "03", a.id, 9000);
	extra.is_default = false; /* an extra certificate is never the default one */
	cert(&revoked, "04", a.id, 8000);
	revoked.status = CERT_REVOKED;
	cert(&g, "05", gone.id, 3000);
	cert_record_t *all[] = {&old, &cur, &extra, &revoked, &g};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) assert_int_equal(store_put_cert(s, all[i]), 0);
	assert_int_equal(store_set_delivered(s, a.id, "01"), 0);
	assert_int_equal(store_set_rotation_retry(s, b.id, 2, 4242), 0);

	cert_state_t *v = NULL;
	size_t n = 0;
	assert_int_equal(store_list_cert_states(s, &v, &n), 0);
	assert_int_equal(n, 2);
	const cert_state_t *sa = strcmp(v[0].cvm_id, a.id) == 0 ? &v[0] : &v[1];
	const cert_state_t *sb = sa == &v[0] ? &v[1] : &v[0];
	assert_true(strcmp(v[0].cvm_id, v[1].cvm_id) < 0); /* ordered by id */
	assert_string_equal(sa->serial, "02");
	assert_int_equal(sa->not_after, cur.not_after);
	assert_string_equal(sa->delivered_serial, "01");
	assert_int_equal(sa->rotate_failures, 0);
	assert_string_equal(sb->cvm_id, b.id);
	assert_null(sb->serial);
	assert_null(sb->delivered_serial);
	assert_int_equal(sb->rotate_failures, 2);
	assert_int_equal(sb->rotate_next_at, 4242);
	cert_states_free(v, n);
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) cert_record_free(all[i]);
	cvm_record_free(&a);
	cvm_record_free(&b);
	cvm_record_free(&gone);
	store_close(s);
}

static void test_cert_before_cvm_in_transaction(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t a;
	full_record(&a, "a", "default", ST_CREATING, 1);
	cert_record_t c;
	cert(&c, "0C", a.id, 1);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_put_cert(s, &c), 0);
	assert_int_equal(put_at(s, &a), 0);
	assert_int_equal(store_commit(s), 0);

	/* Without the CVM, the commit fails and the caller rolls back. */
	cert_record_t d;
	char ghost[37];
	uuid_generate_v4(ghost);
	cert(&d, "0E", ghost, 1);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_put_cert(s, &d), 0);
	assert_int_equal(store_commit(s), -ENOENT);
	store_rollback(s);
	cert_record_t out;
	assert_int_equal(store_get_cert(s, "0E", &out), -ENOENT);
	assert_int_equal(store_get_cert(s, "0C", &out), 0);
	cert_record_free(&out);

	cert_record_free(&c);
	cert_record_free(&d);
	cvm_record_free(&a);
	store_close(s);
}

/* ---- settings, transactions ---- */

static void test_settings(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	char *v = (char *)"sentinel";
	assert_int_equal(store_get_setting(s, "crl_number", &v), -ENOENT);
	assert_null(v);
	assert_int_equal(store_set_setting(s, "crl_number", "1"), 0);
	assert_int_equal(store_set_setting(s, "crl_number", "2"), 0);
	assert_int_equal(store_get_setting(s, "crl_number", &v), 0);
	assert_string_equal(v, "2");
	free(v);
	store_close(s);
}

static void test_transactions(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t a, b, out;
	full_record(&a, "a", "default", ST_CREATING, 1);
	full_record(&b, "b", "default", ST_CREATING, 1);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_begin(s), -EBUSY);
	assert_int_equal(store_put_cvm(s, &a), 0);
	assert_int_equal(store_add_event(s, a.id, "created", NULL), 0);
	assert_int_equal(store_set_setting(s, "k", "rolled back"), 0);
	assert_int_equal(store_get_cvm(s, a.id, &out), 0); /* visible inside */
	cvm_record_free(&out);
	store_rollback(s);
	assert_int_equal(store_get_cvm(s, a.id, &out), -ENOENT);
	char *v = NULL;
	assert_int_equal(store_get_setting(s, "k", &v), -ENOENT);
	assert_int_equal(store_commit(s), -EINVAL);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(put_at(s, &b), 0);
	assert_int_equal(store_set_setting(s, "k", "committed"), 0);
	/* Another connection does not see it before the commit. */
	_cleanup_free_ char *before = sql_text(f->dir, "SELECT count(*) FROM cvms");
	assert_string_equal(before, "0");
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	s = open_ok(f->dir);
	assert_int_equal(store_get_cvm(s, b.id, &out), 0);
	assert_record_equal(&b, &out);
	cvm_record_free(&out);
	assert_int_equal(store_get_setting(s, "k", &v), 0);
	assert_string_equal(v, "committed");
	free(v);
	assert_int_equal(store_get_cvm(s, a.id, &out), -ENOENT);

	/* Closing with a transaction open discards it. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_put_cvm(s, &a), 0);
	store_close(s);
	s = open_ok(f->dir);
	assert_int_equal(store_get_cvm(s, a.id, &out), -ENOENT);
	store_close(s);

	cvm_record_free(&a);
	cvm_record_free(&b);
}

/* ---- the writer lock ---- */

static void test_lock_two_handles(void **state) {
	fixture *f = *state;
	store_t *s1 = open_ok(f->dir), *s2 = open_ok(f->dir);
	char *holder = NULL;
	/* A longer record left by an earlier holder must not show through. */
	_cleanup_free_ char *lockpath = xasprintf("%s/lock", f->dir);
	char stale[300];
	memset(stale, 'x', sizeof stale - 1);
	stale[sizeof stale - 1] = '\n';
	assert_int_equal(write_file_atomic(lockpath, stale, sizeof stale, 0600), 0);

	assert_int_equal(store_lock(s1, 0, &holder), 0);
	assert_null(holder);
	assert_int_equal(store_lock(s1, 0, NULL), 0); /* already ours */
	assert_int_equal(mode_of(lockpath), 0600);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	assert_int_equal(read_file(lockpath, &text, &len), 0);
	assert_null(strchr(text, 'x'));
	assert_ptr_equal(strchr(text, '\n'), text + len - 1); /* one line */

	int64_t t0 = mono_ms();
	assert_int_equal(store_lock(s2, 200, &holder), -EWOULDBLOCK);
	int64_t waited = mono_ms() - t0;
	assert_true(waited >= 190);
	assert_non_null(holder);
	_cleanup_free_ char *pid = xasprintf("pid=%ld ", (long)getpid());
	assert_true(strncmp(holder, pid, strlen(pid)) == 0);
	assert_non_null(strstr(holder, " host="));
	assert_non_null(strstr(holder, " started="));
	assert_int_equal(holder[strlen(holder) - 1] != '\n', 1); /* trimmed */
	assert_non_null(strstr(store_errmsg(s2), holder));
	free(holder);
	holder = NULL;

	/* A zero timeout tries once. */
	t0 = mono_ms();
	assert_int_equal(store_lock(s2, 0, NULL), -EWOULDBLOCK);
	assert_true(mono_ms() - t0 < 1000);

	store_unlock(s1);
	assert_int_equal(access(lockpath, F_OK), 0); /* the file stays */
	assert_int_equal(store_lock(s2, 0, &holder), 0);
	assert_int_equal(store_lock(s1, 0, NULL), -EWOULDBLOCK);
	/* Closing releases it. */
	store_close(s2);
	assert_int_equal(store_lock(s1, 0, NULL), 0);
	store_close(s1);
}

static void test_lock_held_by_child(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir); /* creates the state before the fork */
	int locked[2], release[2];
	assert_int_equal(pipe(locked), 0);
	assert_int_equal(pipe(release), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* Only the child's own handle is used here; the parent's SQLite
		 * connection is not touched across the fork. */
		close(locked[0]);
		close(release[1]); /* so that a parent that dies gives us EOF */
		alarm(30);         /* and never outlive a stuck test */
		store_t *cs = NULL;
		if (store_open(f->dir, NULL, &cs) < 0 || store_lock(cs, 0, NULL) < 0) _exit(1);
		if (write(locked[1], "L", 1) != 1) _exit(2);
		char c;
		if (read(release[0], &c, 1) != 1) _exit(3);
		usleep(300 * 1000);
		_exit(0); /* the kernel drops the flock with the last fd */
	}
	close(locked[1]);
	close(release[0]);
	char c;
	assert_int_equal(read(locked[0], &c, 1), 1);

	char *holder = NULL;
	assert_int_equal(store_lock(s, 100, &holder), -EWOULDBLOCK);
	_cleanup_free_ char *pid = xasprintf("pid=%ld ", (long)child);
	assert_non_null(holder);
	assert_true(strncmp(holder, pid, strlen(pid)) == 0);
	free(holder);

	/* The child lets go 300 ms after we ask; we wait for it. */
	int64_t t0 = mono_ms();
	assert_int_equal(write(release[1], "R", 1), 1);
	assert_int_equal(store_lock(s, 10000, &holder), 0);
	int64_t waited = mono_ms() - t0;
	assert_true(waited >= 250);
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* The lock file now names us. */
	_cleanup_free_ char *lockpath = xasprintf("%s/lock", f->dir);
	_cleanup_free_ char *text = NULL;
	assert_int_equal(read_file(lockpath, &text, NULL), 0);
	_cleanup_free_ char *me = xasprintf("pid=%ld ", (long)getpid());
	assert_true(strncmp(text, me, strlen(me)) == 0);
	assert_non_null(strchr(text, '\n'));
	close(locked[0]);
	close(release[1]);
	store_close(s);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_dir_is_tightened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_installation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_installation_given, setup, teardown),
		cmocka_unit_test_setup_teardown(test_future_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cvm_round_trip, setup, teardown),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test_setup_teardown(test_find_prefers_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_order_and_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_updated_at_follows_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_updated_at_setters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converged_puts_write_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_before_cvm_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_by_child, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
