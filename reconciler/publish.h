/* Publishing a CVM's files outside a pass (cert revoke / renew): reach its
 * backend with the provider settings the last reconcile recorded. */
#ifndef CVM_PUBLISH_H
#define CVM_PUBLISH_H

#include "pki/pki.h"
#include "reconciler/store/store.h"

/* Rewrites the delivery channel of CVM r with its current default
 * certificate. Returns 0 or -errno with *err set. */
int publish_cvm(store_t *st, pki_ca_t *ca, const cvm_record_t *r, char **err);

#endif
