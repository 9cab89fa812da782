/* What is delivered into a CVM: the agent's environment file and its default
 * certificate, key and CA bundle. Rendered here, handed to the backend as
 * bytes (the backend knows nothing of specs or the CA). */
#ifndef CVM_DELIVERY_H
#define CVM_DELIVERY_H

#include "providers/provider.h"
#include "reconciler/store.h"
#include "specs/spec.h"

typedef struct delivery {
	char *environment;
	char *cert_pem, *key_pem, *ca_pem; /* NULL until the CVM has a certificate */
	prov_file_t files[4];
	size_t n_files;
} delivery_t;

/* Where the agent finds its files inside the guest, per flavor. */
const char *guest_cert_dir(flavor_t f);

/* Renders the agent environment for CVM `id`. Caller frees. */
char *render_agent_environment(const spec_set_t *s, const cvm_spec_t *c, const char *id, bool with_certs);

/* Fills d with the files for CVM `id`: the environment, and the current
 * default certificate from the store if there is one. Returns 0 or -errno. */
int delivery_build(delivery_t *d, store_t *st, const spec_set_t *s, const cvm_spec_t *c, const char *id);
void delivery_free(delivery_t *d);

#endif
