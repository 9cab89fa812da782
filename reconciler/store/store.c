/* The store's dispatch layer: each public store_* function checks its
 * arguments the same way for every backend, counts writes for the test
 * hook, and calls the backend's op. Opening picks the backend (SQLite). */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/store/sqlite/sqlite_store.h"
#include "reconciler/store/store_impl.h"

/* Why the last store_open failed: there is no handle to hold it. */
static _Thread_local char open_err[STORE_ERR_MAX];

int store_fail(store_t *s, int r, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	return r;
}

void store_open_failed(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(open_err, sizeof open_err, fmt, ap);
	va_end(ap);
}

void store_base_init(store_t *s, const store_ops_t *ops, const char *dir) {
	s->ops = ops;
	s->dir = xstrdup(dir);
	s->installation[0] = 0;
	s->err[0] = 0;
	s->fail_write_in = 0;
}

void store_base_fini(store_t *s) {
	free(s->dir);
	s->dir = NULL;
}

/* An op the backend lacks is an error of its own, not a crash. */
#define OP(s, op)                                                                                     \
	do {                                                                                          \
		if (!(s)->ops->op)                                                                    \
			return store_fail((s), -ENOSYS, "the %s store cannot " #op, (s)->ops->name); \
	} while (0)

/* Every write passes here first. In test builds the write the hook
 * counts down to fails as a full disk would, before the backend sees it. */
static int write_allowed(store_t *s) {
#ifdef CVM_TEST_HOOKS
	if (s->fail_write_in > 0 && --s->fail_write_in == 0)
		return store_fail(s, -EIO, "injected store write failure (test hook)");
#else
	(void)s;
#endif
	return 0;
}

#define WRITE(s, op)                                   \
	do {                                           \
		OP(s, op);                             \
		int w_ = write_allowed(s);             \
		if (w_ < 0) return w_;                 \
	} while (0)

#ifdef CVM_TEST_HOOKS
void store_test_fail_write(store_t *s, int nth) {
	s->fail_write_in = nth > 0 ? nth : 0;
}

static int arm_from_env(store_t *s) {
	const char *v = getenv("CVMCTL_TEST_FAIL_STORE_WRITE");
	if (!v || !*v) return 0;
	char *end = NULL;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n > 1000000000L)
		return store_fail(s, -EINVAL, "CVMCTL_TEST_FAIL_STORE_WRITE=%s is not a count of writes", v);
	store_test_fail_write(s, (int)n);
	return 0;
}
#endif

int store_open(const char *dir, const char *installation, store_t **out) {
	*out = NULL;
	open_err[0] = 0;
	if (!dir || !*dir) {
		store_open_failed("no state directory given");
		return -EINVAL;
	}
	if (installation && !uuid_valid(installation)) {
		store_open_failed("installation id \"%s\" is not a lower-case UUID", installation);
		return -EINVAL;
	}
	store_t *s = NULL;
	int r = sqlite_store_open(dir, installation, &s);
	if (r < 0) return r;
#ifdef CVM_TEST_HOOKS
	if ((r = arm_from_env(s)) < 0) {
		store_open_failed("%s", s->err);
		store_close(s);
		return r;
	}
#endif
	*out = s;
	return 0;
}

int store_check_dir(const char *dir, const char *installation) {
	open_err[0] = 0;
	_cleanup_free_ char *err = NULL;
	int r = sqlite_check_dir(dir, installation, &err);
	if (r < 0) store_open_failed("%s", err);
	return r;
}

void store_close(store_t *s) {
	if (s) s->ops->close(s);
}

const char *store_errmsg(store_t *s) {
	return s ? s->err : open_err;
}

const char *store_dir(store_t *s) {
	return s->dir;
}

const char *store_installation_id(store_t *s) {
	return s->installation;
}

int store_lock(store_t *s, int timeout_ms, char **holder) {
	if (holder) *holder = NULL;
	OP(s, lock);
	return s->ops->lock(s, timeout_ms, holder);
}

void store_unlock(store_t *s) {
	if (s->ops->unlock) s->ops->unlock(s);
}

int store_begin(store_t *s) {
	OP(s, begin);
	return s->ops->begin(s);
}

int store_commit(store_t *s) {
	WRITE(s, commit);
	return s->ops->commit(s);
}

void store_rollback(store_t *s) {
	if (s->ops->rollback) s->ops->rollback(s);
}

/* ---- CVM records and events ---- */

int store_put_cvm(store_t *s, const cvm_record_t *r) {
	if (!r || !r->id[0] || !r->name || !*r->name)
		return store_fail(s, -EINVAL, "a CVM record needs an id and a name");
	if ((unsigned)r->status >= ST__COUNT)
		return store_fail(s, -EINVAL, "CVM %s has an invalid status %d", r->id, (int)r->status);
	WRITE(s, put_cvm);
	return s->ops->put_cvm(s, r);
}

int store_get_cvm(store_t *s, const char *id, cvm_record_t *out) {
	memset(out, 0, sizeof *out);
	if (!id) return store_fail(s, -EINVAL, "no CVM id given");
	OP(s, get_cvm);
	return s->ops->get_cvm(s, id, out);
}

int store_find_cvm(store_t *s, const char *name_or_id, cvm_record_t *out) {
	memset(out, 0, sizeof *out);
	if (!name_or_id) return store_fail(s, -EINVAL, "no CVM name or id given");
	OP(s, find_cvm);
	return s->ops->find_cvm(s, name_or_id, out);
}

int store_list_cvms(store_t *s, const char *scope, cvm_record_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	OP(s, list_cvms);
	return s->ops->list_cvms(s, scope, out, n);
}

int store_add_event(store_t *s, const char *cvm_id, const char *kind, const char *message) {
	if (!cvm_id || !kind) return store_fail(s, -EINVAL, "an event needs a CVM id and a kind");
	WRITE(s, add_event);
	return s->ops->add_event(s, cvm_id, kind, message);
}

int store_list_events(store_t *s, const char *cvm_id, cvm_event_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	if (!cvm_id) return store_fail(s, -EINVAL, "no CVM id given");
	OP(s, list_events);
	return s->ops->list_events(s, cvm_id, out, n);
}

/* ---- certificates ---- */

int store_put_cert(store_t *s, const cert_record_t *c) {
	if (!c || !c->serial || !*c->serial || !c->cvm_id[0])
		return store_fail(s, -EINVAL, "a certificate record needs a serial and a CVM id");
	if ((unsigned)c->status > CERT_SUPERSEDED)
		return store_fail(s, -EINVAL, "certificate %s has an invalid status %d", c->serial, (int)c->status);
	WRITE(s, put_cert);
	return s->ops->put_cert(s, c);
}

int store_get_cert(store_t *s, const char *serial, cert_record_t *out) {
	memset(out, 0, sizeof *out);
	if (!serial) return store_fail(s, -EINVAL, "no certificate serial given");
	OP(s, get_cert);
	return s->ops->get_cert(s, serial, out);
}

int store_list_key_paths(store_t *s, char ***out, size_t *n) {
	*out = NULL;
	*n = 0;
	OP(s, list_key_paths);
	return s->ops->list_key_paths(s, out, n);
}

int store_list_certs(store_t *s, const char *cvm_id, cert_record_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	OP(s, list_certs);
	return s->ops->list_certs(s, cvm_id, out, n);
}

int store_list_cert_states(store_t *s, cert_state_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	OP(s, list_cert_states);
	return s->ops->list_cert_states(s, out, n);
}

void cert_states_free(cert_state_t *v, size_t n) {
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].serial);
		free(v[i].delivered_serial);
	}
	free(v);
}

/* ---- per-CVM facts with setters of their own ---- */

int store_set_delivered(store_t *s, const char *cvm_id, const char *serial) {
	if (!cvm_id) return store_fail(s, -EINVAL, "no CVM id given");
	WRITE(s, set_delivered);
	return s->ops->set_delivered(s, cvm_id, serial);
}

int store_get_delivered(store_t *s, const char *cvm_id, char **serial) {
	*serial = NULL;
	if (!cvm_id) return store_fail(s, -EINVAL, "no CVM id given");
	OP(s, get_delivered);
	return s->ops->get_delivered(s, cvm_id, serial);
}

int store_set_suspended(store_t *s, const char *cvm_id, bool suspended) {
	if (!cvm_id) return store_fail(s, -EINVAL, "no CVM id given");
	WRITE(s, set_suspended);
	return s->ops->set_suspended(s, cvm_id, suspended);
}

int store_set_lifecycle(store_t *s, const char *cvm_id, bool spec_suspended, bool orphan) {
	if (!cvm_id) return store_fail(s, -EINVAL, "no CVM id given");
	WRITE(s, set_lifecycle);
	return s->ops->set_lifecycle(s, cvm_id, spec_suspended, orphan);
}

int store_put_condition(store_t *s, const char *cvm_id, const cvm_condition_t *c) {
	if (!cvm_id || !c || !c->type || !c->reason || (unsigned)c->status > COND_UNKNOWN)
		return store_fail(s, -EINVAL, "a condition needs a CVM id, a type, a status and a reason");
	WRITE(s, put_condition);
	return s->ops->put_condition(s, cvm_id, c);
}

int store_list_conditions(store_t *s, const char *cvm_id, cvm_condition_t **out, size_t *n) {
	*out = NULL;
	*n = 0;
	if (!cvm_id) return store_fail(s, -EINVAL, "no CVM id given");
	OP(s, list_conditions);
	return s->ops->list_conditions(s, cvm_id, out, n);
}

int store_set_rotation_retry(store_t *s, const char *cvm_id, int failures, int64_t next_at) {
	if (!cvm_id || failures < 0)
		return store_fail(s, -EINVAL, "a rotation retry needs a CVM id and a failure count of 0 or more");
	WRITE(s, set_rotation_retry);
	return s->ops->set_rotation_retry(s, cvm_id, failures, next_at);
}

int store_get_rotation_retry(store_t *s, const char *cvm_id, int *failures, int64_t *next_at) {
	*failures = 0;
	*next_at = 0;
	if (!cvm_id) return store_fail(s, -EINVAL, "no CVM id given");
	OP(s, get_rotation_retry);
	return s->ops->get_rotation_retry(s, cvm_id, failures, next_at);
}

/* ---- provider settings ---- */

int store_put_provider(store_t *s, const char *name, const char *flavor, const char *settings_json) {
	if (!name || !*name || !flavor || !settings_json)
		return store_fail(s, -EINVAL, "a provider record needs a name, a flavor and settings");
	/* Every backend stores an object that readers can parse. */
	json_t *o = json_loads(settings_json, JSON_REJECT_DUPLICATES, NULL);
	bool is_object = json_is_object(o);
	json_decref(o);
	if (!is_object) return store_fail(s, -EINVAL, "the settings of provider %s are not a JSON object", name);
	WRITE(s, put_provider);
	return s->ops->put_provider(s, name, flavor, settings_json);
}

int store_get_provider(store_t *s, const char *name, char **flavor, char **settings_json) {
	*flavor = NULL;
	*settings_json = NULL;
	if (!name) return store_fail(s, -EINVAL, "no provider name given");
	OP(s, get_provider);
	return s->ops->get_provider(s, name, flavor, settings_json);
}

/* ---- settings ---- */

int store_get_setting(store_t *s, const char *key, char **value) {
	*value = NULL;
	if (!key) return store_fail(s, -EINVAL, "no setting key given");
	OP(s, get_setting);
	return s->ops->get_setting(s, key, value);
}

int store_set_setting(store_t *s, const char *key, const char *value) {
	if (!key || !value) return store_fail(s, -EINVAL, "setting without a key or a value");
	WRITE(s, set_setting);
	return s->ops->set_setting(s, key, value);
}
