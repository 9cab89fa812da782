/* What the state believes a provider holds, in the shape observe() takes
 * (providers/provider.h): a backend may trust the markers of a resource it
 * finds under a known id in the known state, so a converged pass costs a
 * few calls per place instead of calls per resource. Only records whose
 * resource was last seen running or stopped are offered: anything in
 * flight (Creating, Deleting, Failed, Unknown) is looked at afresh. */
#ifndef CVM_RECONCILER_KNOWN_H
#define CVM_RECONCILER_KNOWN_H

#include <stddef.h>

#include "providers/provider.h"
#include "reconciler/store/store.h"

/* *o as the state believes r's resource is, in `state`; the strings point
 * into r and `installation` (borrowed: never free them through o). */
void known_from_record(observed_t *o, const cvm_record_t *r, const char *installation, res_state_t state);

/* The strings point into the records (and `installation`), which must
 * outlive the array; free the array alone with free(). */
observed_t *known_for_provider(const cvm_record_t *v, size_t n, const char *provider, const char *installation,
                               size_t *n_out);

#endif
