/* What a backend is handed for one CVM: the markers and sizes (from the
 * record and the canonical spec it last applied), and the files delivered
 * into the guest: the agent's environment file and its default
 * certificate, key and CA bundle. Built from the record alone, so apply and
 * the cert commands (which run without the spec tree) publish the same
 * bytes. The backend knows nothing of specs or the CA. */
#ifndef CVM_DELIVERY_H
#define CVM_DELIVERY_H

#include <jansson.h>

#include "providers/provider.h"
#include "reconciler/store/store.h"

typedef struct shipment {
	cvm_desired_t want;  /* points into the fields below and the record */
	char serial[41];     /* the default certificate delivered ("" if none) */
	char *environment;
	char *cert_pem, *key_pem, *ca_pem;
	prov_file_t files[4];
	const char **labels;
	json_t *spec;
} shipment_t;

/* Where the agent finds its certificates inside the guest: the flavor's
 * schema->guest_cert_dir. */
#define GUEST_CERT_DIR_DEFAULT "/etc/cocos/certs"
const char *guest_cert_dir(const char *flavor);

/* Renders the agent environment file. Caller frees. */
char *render_agent_environment(const char *flavor, const char *id, const char *log_level, const char *grpc_url,
                               bool with_certs);

/* Fills s for record r (which must outlive s): sizes, labels and agent
 * settings from r->spec_json; the current default certificate and its key
 * from the store; the CA bundle from the spec's controlPlaneCAFile or else
 * our_ca_pem. Returns 0 or -errno with *err set. */
int shipment_build(shipment_t *s, store_t *st, const char *installation, const char *our_ca_pem,
                   const cvm_record_t *r, char **err);
void shipment_free(shipment_t *s);

#endif
