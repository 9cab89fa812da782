/* The fake backend's insides, shared by world.c (the registry, what tests
 * see) and ops.c/fake.c (what providers do). Every function here expects
 * the caller to hold fake_lock(). */
#ifndef CVM_PROVIDERS_FAKE_WORLD_H
#define CVM_PROVIDERS_FAKE_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "providers/fake/fake.h"

typedef struct fres {
	char id[37];
	char *name, *zone;
	bool managed;
	char *scope, *installation, *spec_hash, *attempt;
	res_state_t state;
	int vcpus, memory_gib, agent_port;
	/* The operation in flight on it, FAKE_ANY when none: FAKE_CREATE,
	 * FAKE_REMOVE or FAKE_START, ending at pending_until, failing with
	 * pending_err (0: succeeding). `before`: the state a failed remove or
	 * start returns it to. */
	fake_call_t pending;
	int64_t pending_until;
	int pending_err;
	res_state_t before;
	fake_file_t *files;
	size_t n_files;
} fres_t;

typedef struct fzone {
	char *name;
	int capacity; /* vCPUs; < 0 unlimited */
	char *down;   /* why it does not answer; NULL: it answers */
} fzone_t;

typedef struct ffault {
	fake_fault_t f; /* name and zone owned */
	int left;       /* < 0: forever */
	int hits;
} ffault_t;

struct fake_world {
	char *name;
	clock_src_t clock;
	fres_t **res; /* creation order */
	size_t n_res;
	fzone_t *zones;
	size_t n_zones;
	ffault_t *faults;
	size_t n_faults;
	long calls[FAKE__NCALLS];
	int64_t *submit_at; /* world time of each mutating submission */
	size_t n_submits;
	int peak_pending;
	int64_t throttled_until; /* a 429's Retry-After, in world time */
	int n_open;              /* providers open on it */
};

void fake_lock(void);
void fake_unlock(void);

/* The world of that name, created when `create`. */
fake_world_t *world_get(const char *name, bool create);
int64_t world_now(const fake_world_t *w);
/* Carries out what the world's time says is done: pending operations whose
 * latency has elapsed end (running, gone, or failed). */
void world_settle(fake_world_t *w);
fres_t *world_find(const fake_world_t *w, const char *id);
fres_t *world_find_name(const fake_world_t *w, const char *name);
fres_t *world_find_any(const fake_world_t *w, const char *id_or_name);
fres_t *world_add(fake_world_t *w, const char *id, const char *name, const char *zone);
void world_drop(fake_world_t *w, fres_t *r);
/* Replaces r's files with copies of these. */
void world_set_files(fres_t *r, const prov_file_t *files, size_t n);
/* NULL when the world has no settings for that zone and !create. */
fzone_t *world_zone(fake_world_t *w, const char *zone, bool create);
/* vCPUs held in a zone: by every resource, or only by foreign ones. */
int world_zone_vcpus(const fake_world_t *w, const char *zone, bool foreign_only);
int world_pending(const fake_world_t *w);
/* The first armed fault of that kind matching the call (page 0: any), now
 * counted as fired; NULL when none matches. */
ffault_t *world_take_fault(fake_world_t *w, fake_fault_kind_t kind, fake_call_t call, const char *name,
                           const char *zone, int page);
/* Fires the FAKE_VANISH faults due before a call of that kind. */
void world_vanish_due(fake_world_t *w, fake_call_t call);
/* Whether `zone` answers a call (persistently down, or a FAKE_ZONE_BLOCKS
 * fault); if not, *why (malloc'ed) says why. */
bool world_zone_answers(fake_world_t *w, const char *zone, fake_call_t call, const char *name, char **why);

/* ---- providers (fake.c, ops.c) ---- */

struct provider {
	char *name;
	fake_world_t *w;
	char **zones; /* the zones this provider places into and lists */
	size_t n_zones;
	int latency_ms, page_size;
};

bool fake_has_zone(const provider_t *p, const char *zone);
int fake_create(provider_t *p, const cvm_desired_t *want, prov_call_t *call);
int fake_poll(provider_t *p, prov_op_t *op, prov_call_t *call);
void fake_op_free(prov_op_t *op);
int fake_remove(provider_t *p, const prov_target_t *t, prov_call_t *call);
int fake_start(provider_t *p, const prov_target_t *t, prov_call_t *call);
int fake_update(provider_t *p, const prov_target_t *t, const cvm_desired_t *want, prov_call_t *call);

#endif
