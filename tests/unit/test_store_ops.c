/* The store's dispatch layer, with a backend of its own (a fake that only
 * counts what reaches it) and with SQLite: arguments are checked before any
 * backend sees them, a missing op is -ENOSYS, and the test hook
 * store_test_fail_write fails exactly the nth write for any backend, also
 * when armed from $CVMCTL_TEST_FAIL_STORE_WRITE at store_open. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/store.h"
#include "reconciler/store/store_impl.h"

#define INJECTED "injected store write failure (test hook)"

/* ---- a backend that is not SQLite ---- */

typedef struct fake_store {
	struct store base; /* first, as store_impl.h asks */
	int puts, events, commits, gets;
} fake_store_t;

static int fake_put_cvm(store_t *s, const cvm_record_t *r) {
	(void)r;
	((fake_store_t *)s)->puts++;
	return 0;
}

static int fake_add_event(store_t *s, const char *id, const char *kind, const char *msg) {
	(void)id, (void)kind, (void)msg;
	((fake_store_t *)s)->events++;
	return 0;
}

static int fake_commit(store_t *s) {
	((fake_store_t *)s)->commits++;
	return 0;
}

static int fake_get_cvm(store_t *s, const char *id, cvm_record_t *out) {
	(void)id, (void)out;
	((fake_store_t *)s)->gets++;
	return -ENOENT;
}

static void fake_close(store_t *s) {
	store_base_fini(s);
	free(s);
}

/* Only some ops: the others must be refused, not called. */
static const store_ops_t fake_ops = {
	.name = "fake",
	.close = fake_close,
	.commit = fake_commit,
	.put_cvm = fake_put_cvm,
	.get_cvm = fake_get_cvm,
	.add_event = fake_add_event,
};

static fake_store_t *fake_open(void) {
	fake_store_t *f = xcalloc(1, sizeof *f);
	store_base_init(&f->base, &fake_ops, "/nonexistent/fake");
	return f;
}

static void record(cvm_record_t *r, const char *name) {
	memset(r, 0, sizeof *r);
	uuid_generate_v4(r->id);
	r->name = (char *)name;
	r->status = ST_RUNNING;
}

static void test_dispatch_checks_arguments(void **state) {
	(void)state;
	fake_store_t *f = fake_open();
	store_t *s = &f->base;
	cvm_record_t r;
	record(&r, "");
	assert_int_equal(store_put_cvm(s, &r), -EINVAL);
	record(&r, "web");
	r.status = ST__COUNT;
	assert_int_equal(store_put_cvm(s, &r), -EINVAL);
	assert_non_null(strstr(store_errmsg(s), "invalid status"));
	assert_int_equal(store_add_event(s, NULL, "created", NULL), -EINVAL);
	assert_int_equal(f->puts + f->events, 0); /* the backend saw none of it */

	record(&r, "web");
	assert_int_equal(store_put_cvm(s, &r), 0);
	assert_int_equal(f->puts, 1);
	/* Outputs are cleared by the dispatcher, whatever the backend does. */
	cvm_record_t out;
	memset(&out, 0x5a, sizeof out);
	assert_int_equal(store_get_cvm(s, r.id, &out), -ENOENT);
	assert_null(out.name);
	assert_int_equal(f->gets, 1);
	store_close(s);
}

static void test_dispatch_missing_op(void **state) {
	(void)state;
	fake_store_t *f = fake_open();
	store_t *s = &f->base;
	cert_record_t c = {.serial = (char *)"0A", .status = CERT_VALID};
	uuid_generate_v4(c.cvm_id);
	assert_int_equal(store_put_cert(s, &c), -ENOSYS);
	assert_string_equal(store_errmsg(s), "the fake store cannot put_cert");
	char *v = (char *)"sentinel";
	assert_int_equal(store_get_setting(s, "k", &v), -ENOSYS);
	assert_null(v);
	cvm_record_t *list = (cvm_record_t *)&c;
	size_t n = 7;
	assert_int_equal(store_list_cvms(s, NULL, &list, &n), -ENOSYS);
	assert_null(list);
	assert_int_equal(n, 0);
	assert_int_equal(store_begin(s), -ENOSYS);
	assert_int_equal(store_lock(s, 0, NULL), -ENOSYS);
	store_rollback(s); /* no op: nothing to do, no crash */
	store_unlock(s);
	store_close(s);
}

#ifdef CVM_TEST_HOOKS
/* The hook lives in the dispatch layer: a backend that knows nothing of
 * it fails the nth write all the same, and never sees that write. */
static void test_fail_write_any_backend(void **state) {
	(void)state;
	fake_store_t *f = fake_open();
	store_t *s = &f->base;
	cvm_record_t r;
	record(&r, "web");
	store_test_fail_write(s, 3);
	assert_int_equal(store_put_cvm(s, &r), 0);
	cvm_record_t out;
	assert_int_equal(store_get_cvm(s, r.id, &out), -ENOENT); /* a read: not counted */
	assert_int_equal(store_add_event(s, r.id, "created", NULL), 0);
	assert_int_equal(store_commit(s), -EIO);
	assert_string_equal(store_errmsg(s), INJECTED);
	assert_int_equal(f->commits, 0);
	/* Once: the writes after it succeed. */
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_put_cvm(s, &r), 0);
	assert_int_equal(f->puts, 2);
	assert_int_equal(f->events, 1);
	assert_int_equal(f->commits, 1);

	/* A call refused for its arguments is no write. */
	store_test_fail_write(s, 1);
	assert_int_equal(store_add_event(s, NULL, "x", NULL), -EINVAL);
	assert_int_equal(store_add_event(s, r.id, "x", NULL), -EIO);
	/* 0 turns it off. */
	store_test_fail_write(s, 1);
	store_test_fail_write(s, 0);
	assert_int_equal(store_add_event(s, r.id, "x", NULL), 0);
	store_close(s);
}
#endif

/* ---- with SQLite ---- */

typedef struct fixture {
	char dir[64];
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state) {
	fixture *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_store_ops.XXXXXX");
	if (!mkdtemp(f->dir)) return -1;
	unsetenv("CVMCTL_TEST_FAIL_STORE_WRITE");
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fixture *f = *state;
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	unsetenv("CVMCTL_TEST_FAIL_STORE_WRITE");
	return 0;
}

#ifdef CVM_TEST_HOOKS
static store_t *open_ok(const char *dir) {
	store_t *s = NULL;
	int r = store_open(dir, NULL, &s);
	if (r < 0) fail_msg("store_open(%s): %s (%s)", dir, strerror(-r), store_errmsg(NULL));
	return s;
}

static void full(cvm_record_t *r, const char *name) {
	record(r, name);
	r->name = xstrdup(name);
}

/* Each kind of write, as the nth: it fails with -EIO and leaves the state
 * as it was. */
static void test_fail_write_each_kind(void **state) {
	fixture *f = *state;
	store_t *s = open_ok(f->dir);
	cvm_record_t r, out;
	full(&r, "web");
	assert_int_equal(store_put_cvm(s, &r), 0);

	cvm_record_t other;
	full(&other, "db");
	store_test_fail_write(s, 1);
	assert_int_equal(store_put_cvm(s, &other), -EIO);
	assert_string_equal(store_errmsg(s), INJECTED);
	assert_int_equal(store_get_cvm(s, other.id, &out), -ENOENT);

	store_test_fail_write(s, 1);
	assert_int_equal(store_add_event(s, r.id, "created", NULL), -EIO);
	cvm_event_t *ev = NULL;
	size_t n = 0;
	assert_int_equal(store_list_events(s, r.id, &ev, &n), 0);
	assert_int_equal(n, 0);

	cert_record_t c = {.serial = (char *)"0A", .status = CERT_VALID, .revoke_reason = -1};
	memcpy(c.cvm_id, r.id, sizeof c.cvm_id);
	store_test_fail_write(s, 1);
	assert_int_equal(store_put_cert(s, &c), -EIO);
	cert_record_t co;
	assert_int_equal(store_get_cert(s, "0A", &co), -ENOENT);

	store_test_fail_write(s, 1);
	assert_int_equal(store_set_delivered(s, r.id, "0A"), -EIO);
	_cleanup_free_ char *serial = NULL;
	assert_int_equal(store_get_delivered(s, r.id, &serial), 0);
	assert_null(serial);

	store_test_fail_write(s, 1);
	assert_int_equal(store_set_rotation_retry(s, r.id, 1, 99), -EIO);
	int fails = -1;
	int64_t next = -1;
	assert_int_equal(store_get_rotation_retry(s, r.id, &fails, &next), 0);
	assert_int_equal(fails, 0);

	store_test_fail_write(s, 1);
	assert_int_equal(store_put_provider(s, "lab", "manager", "{}"), -EIO);
	char *fl = NULL, *js = NULL;
	assert_int_equal(store_get_provider(s, "lab", &fl, &js), -ENOENT);

	store_test_fail_write(s, 1);
	assert_int_equal(store_set_setting(s, "k", "v"), -EIO);
	char *v = NULL;
	assert_int_equal(store_get_setting(s, "k", &v), -ENOENT);

	/* A failed commit leaves the transaction open; rolling back drops it. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_put_cvm(s, &other), 0);
	store_test_fail_write(s, 1);
	assert_int_equal(store_commit(s), -EIO);
	store_rollback(s);
	assert_int_equal(store_get_cvm(s, other.id, &out), -ENOENT);
	assert_int_equal(store_begin(s), 0); /* no transaction was left behind */
	store_rollback(s);

	cvm_record_free(&r);
	cvm_record_free(&other);
	store_close(s);
}

/* Armed by store_open from the environment: the open's own writes
 * (migrations, the installation id) do not count. */
static void test_fail_write_from_env(void **state) {
	fixture *f = *state;
	setenv("CVMCTL_TEST_FAIL_STORE_WRITE", "2", 1);
	store_t *s = open_ok(f->dir);
	assert_true(uuid_valid(store_installation_id(s)));
	assert_int_equal(store_set_setting(s, "a", "1"), 0);
	assert_int_equal(store_set_setting(s, "b", "2"), -EIO);
	assert_string_equal(store_errmsg(s), INJECTED);
	assert_int_equal(store_set_setting(s, "c", "3"), 0);
	store_close(s);

	/* Every open arms it afresh. */
	s = open_ok(f->dir);
	assert_int_equal(store_set_setting(s, "d", "4"), 0);
	assert_int_equal(store_set_setting(s, "e", "5"), -EIO);
	store_close(s);

	setenv("CVMCTL_TEST_FAIL_STORE_WRITE", "0", 1);
	s = open_ok(f->dir);
	for (int i = 0; i < 5; i++) assert_int_equal(store_set_setting(s, "f", "6"), 0);
	store_close(s);

	/* A value that is not a count is refused loudly, not ignored. */
	setenv("CVMCTL_TEST_FAIL_STORE_WRITE", "two", 1);
	s = NULL;
	assert_int_equal(store_open(f->dir, NULL, &s), -EINVAL);
	assert_null(s);
	assert_string_equal(store_errmsg(NULL), "CVMCTL_TEST_FAIL_STORE_WRITE=two is not a count of writes");
}
#endif

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_checks_arguments),
		cmocka_unit_test(test_dispatch_missing_op),
#ifdef CVM_TEST_HOOKS
		cmocka_unit_test(test_fail_write_any_backend),
		cmocka_unit_test_setup_teardown(test_fail_write_each_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_write_from_env, setup, teardown),
#endif
	};
	(void)setup;
	(void)teardown;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
