/* The fake backend: an in-memory cloud for unit tests (test builds only,
 * like libvirt's test driver).
 *
 * What it promises. It implements every operation of providers/provider.h
 * as a real backend must: creates, removes and starts are asynchronous
 * (the resource is RES_PENDING and the operation is polled until latencyMs
 * has elapsed on its world's clock; poll's again_ms is the time left), a
 * create is idempotent per (id, attempt), absent is success for remove, a
 * resource without our markers is never listed or touched, a name is
 * unique in a world, remove, start and update address the zone the target
 * names (its placement, else its handle's; elsewhere it is absent, as a
 * cloud's 404), a zone that does not answer is Unknown to observe() and
 * fails calls into it with -ETIMEDOUT at once (it never blocks), and a
 * listing that fails on any page makes the whole provider Unknown. State
 * lives in a named *world* (the provider's `world` setting, default its
 * name), kept for the life of the process: several providers, passes and
 * open/close cycles see one cloud, and two providers naming one world are
 * two connections to it. Time is the world's clock (clock_real unless the
 * test sets a fake one): the world advances by itself, whether or not
 * anybody polls. Faults are armed per world, fire once or a given number of
 * times, and may be limited to one CVM name, one zone or one call kind.
 * Every call is counted, and every mutating submission (create, remove,
 * start, update) is timestamped so that rate and concurrency limits can be
 * checked. All of it is guarded by one process-wide mutex: providers on any
 * thread, and the test itself, may use it at the same time.
 *
 * How tests use it: open a `type: fake` provider through the prov_* layer
 * with settings {"zones": [...], "latencyMs": L, "world": "t1"}, get the
 * world with fake_world("t1"), give it a fake clock, arm faults, run the
 * code under test, then inspect the world and its counters:
 *
 *	fake_clock_t fc = {0};
 *	clock_src_t clk = fake_clock_src(&fc);
 *	fake_world_t *w = fake_world("t1");
 *	fake_world_reset(w);
 *	fake_world_set_clock(w, &clk);
 *	fake_world_inject(w, &(fake_fault_t){.kind = FAKE_LOST_RESPONSE, .name = "web-1"});
 *	... run apply with a provider whose settings say {"world": "t1", "latencyMs": 500} ...
 *	fake_res_info_t r;
 *	assert_int_equal(fake_world_res(w, "web-1", &r), 0);
 *	assert_int_equal(r.state, RES_RUNNING);
 *	assert_int_equal(fake_world_calls(w, FAKE_CREATE), 2); // the lost reply was retried
 *	fake_res_info_free(&r);
 */
#ifndef CVM_PROVIDERS_FAKE_H
#define CVM_PROVIDERS_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "providers/provider.h"

typedef struct fake_world fake_world_t;

/* ---- worlds ---- */

/* The world of that name, created empty on first use. Never NULL. */
fake_world_t *fake_world(const char *name);
/* The world of that name if it exists, else NULL. */
fake_world_t *fake_world_find(const char *name);
/* Empties a world: resources, faults, counters, zone settings, throttling.
 * Keeps its clock and its open providers. */
void fake_world_reset(fake_world_t *w);
/* Frees every world (for a test's teardown). -EBUSY, and nothing freed,
 * while a provider is still open on one of them. */
int fake_worlds_clear(void);
/* The clock the world's time runs on; NULL: the real clock. The source is
 * copied; what its ctx points at (a fake_clock_t) must outlive its use. */
void fake_world_set_clock(fake_world_t *w, const clock_src_t *clock);

/* ---- zones ---- */

/* Capacity of a zone in vCPUs, counted over every resource in it (foreign
 * ones too) by create() and over what the engine placed plus the foreign
 * resources by place(). < 0: unlimited (the default). */
void fake_world_set_capacity(fake_world_t *w, const char *zone, int vcpus);
/* Makes a zone stop answering (why: the reason observe() reports for it);
 * NULL makes it answer again. */
void fake_world_set_zone_down(fake_world_t *w, const char *zone, const char *why);

/* ---- resources ---- */

typedef struct fake_file {
	char *dir, *name; /* as delivered: "certs"/"cert.pem", "env"/"environment" */
	unsigned char *data;
	size_t len;
} fake_file_t;

/* A copy of one resource, as the cloud holds it. */
typedef struct fake_res_info {
	char id[37];
	char *name, *zone, *handle;
	bool managed; /* carries our markers; false for fake_world_add_foreign() */
	char *scope, *installation, *spec_hash, *attempt; /* markers (NULL when foreign) */
	res_state_t state; /* RES_PENDING while being created, started or deleted */
	int vcpus, memory_gib;
	fake_file_t *files; /* delivered at create, replaced by each update */
	size_t n_files;
} fake_res_info_t;

/* Every resource (foreign ones and ones being deleted included). */
size_t fake_world_count(fake_world_t *w);
/* Copies of every resource, in creation order; *out freed with
 * fake_res_list_free(). Returns the count. */
size_t fake_world_list(fake_world_t *w, fake_res_info_t **out);
void fake_res_list_free(fake_res_info_t *v, size_t n);
/* One resource by id or (if not a UUID) by name: 0, or -ENOENT. */
int fake_world_res(fake_world_t *w, const char *id_or_name, fake_res_info_t *out);
void fake_res_info_free(fake_res_info_t *r);
/* The file delivered as dir/name, or NULL. */
const fake_file_t *fake_res_file(const fake_res_info_t *r, const char *dir, const char *name);

/* Behind our back: deletes a resource at once (0, or -ENOENT). */
int fake_world_vanish(fake_world_t *w, const char *id_or_name);
/* Behind our back: the resource is shut off (RES_STOPPED; 0, or -ENOENT). */
int fake_world_stop(fake_world_t *w, const char *id_or_name);
/* A resource somebody else made: no markers, never listed, never touched,
 * but it holds its name and its vCPUs of the zone's capacity. id_out (may
 * be NULL) receives its id. 0, or -EEXIST when the name is taken. */
int fake_world_add_foreign(fake_world_t *w, const char *zone, const char *name, int vcpus, char id_out[37]);

/* ---- counters ---- */

typedef enum fake_call {
	FAKE_ANY, /* in a fault: any call it applies to; in fake_world_calls(): all calls */
	FAKE_OBSERVE,
	FAKE_LIST_PAGE, /* one page of a listing; observe() makes at least one */
	FAKE_PLACE,
	FAKE_CREATE,
	FAKE_POLL,
	FAKE_REMOVE,
	FAKE_START,
	FAKE_UPDATE,
	FAKE__NCALLS,
} fake_call_t;

/* Calls of that kind since the last reset (rejected and faulted ones too). */
long fake_world_calls(fake_world_t *w, fake_call_t kind);
/* Mutating submissions: create, remove, start and update calls. */
long fake_world_submits(fake_world_t *w);
/* The most mutating submissions made within any window_ms of world time
 * ([t, t + window_ms)): a check of a requests-per-second limit. */
long fake_world_max_submits_within(fake_world_t *w, int64_t window_ms);
/* The most operations in flight at once (resources being created, started
 * or deleted), sampled at each submission: a check of a concurrency limit. */
int fake_world_peak_pending(fake_world_t *w);
void fake_world_reset_counters(fake_world_t *w);

/* ---- faults ---- */

typedef enum fake_fault_kind {
	/* The submission fails (-EIO); nothing happens in the world.
	 * call: FAKE_CREATE, _REMOVE, _START, _UPDATE or FAKE_ANY of them. */
	FAKE_FAIL_SUBMIT = 1,
	/* The submission is accepted; its operation fails when its latency has
	 * elapsed (poll returns -EIO; with latencyMs 0 the submit does). A
	 * failed create leaves nothing, a failed remove or start leaves the
	 * resource as it was. call: create, remove, start or any of them. */
	FAKE_FAIL_OP,
	/* The call is carried out, then its reply is lost: -ETIMEDOUT, no op,
	 * no handle. A retry finds what the call did (same attempt: the same
	 * resource and operation; remove: absent is success). */
	FAKE_LOST_RESPONSE,
	/* 429 with Retry-After: -EAGAIN with call->again_ms = retry_after_ms,
	 * and every mutating submission to the world (any CVM: a per-project
	 * rate limit) gets -EAGAIN with the time left until then. */
	FAKE_THROTTLE,
	/* Page `page` (1-based) of a listing fails: that observe() reports the
	 * whole provider Unknown (all_unknown, every zone with the reason). */
	FAKE_LIST_FAIL,
	/* The resource called `name` is deleted behind our back just before
	 * the next call of kind `call` (FAKE_ANY: the next call of any kind)
	 * is served. `name` is required. */
	FAKE_VANISH,
	/* `zone` (NULL: any) does not answer that call: observe() reports it
	 * Unknown, place() skips it, a mutating call or a poll of an operation
	 * in it fails with -ETIMEDOUT (as fake_world_set_zone_down() does for
	 * as long as it lasts). With FAKE_ANY, whichever call comes first
	 * takes a one-shot fault: say which call is meant. */
	FAKE_ZONE_BLOCKS,
} fake_fault_kind_t;

typedef struct fake_fault {
	fake_fault_kind_t kind;
	fake_call_t call;   /* only calls of this kind; FAKE_ANY: every kind the fault applies to */
	const char *name;   /* only calls about the CVM of that name; NULL: any (copied) */
	const char *zone;   /* only calls into that zone; NULL: any (copied) */
	int times;          /* fires that many times; 0: once; < 0: every time */
	int page;           /* FAKE_LIST_FAIL: the failing page, 1-based (0: the first) */
	int retry_after_ms; /* FAKE_THROTTLE: the Retry-After value */
	int err;            /* a negative errno to return instead of the kind's own */
} fake_fault_t;

/* Arms a fault. Returns its number (>= 0) for fake_world_fault_hits(), or
 * -EINVAL for a fault that cannot fire. Faults fire in the order armed;
 * one call meets at most one fault of each kind. */
int fake_world_inject(fake_world_t *w, const fake_fault_t *f);
/* How often that fault has fired. */
int fake_world_fault_hits(fake_world_t *w, int fault);
void fake_world_clear_faults(fake_world_t *w);

#endif
