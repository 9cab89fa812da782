#include "reconciler/publish.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/delivery.h"
#include "reconciler/provider_record.h"

int publish_cvm(store_t *st, pki_ca_t *ca, const cvm_record_t *r, char **err) {
	provider_config_t cfg;
	json_t *holder = NULL;
	int rc = provider_record_load(st, r->provider, &cfg, &holder);
	if (rc < 0) {
		*err = xasprintf("no recorded settings for provider %s; the next reconcile publishes it", r->provider);
		return rc;
	}
	const provider_ops_t *ops = provider_ops_for(cfg.flavor);
	provider_t *conn = NULL;
	shipment_t sh;
	bool have_ship = false;
	if (!ops) {
		*err = xasprintf("the %s backend is not built into this cvmctl", cfg.flavor);
		rc = -ENOTSUP;
		goto out;
	}
	if ((rc = ops->open(&cfg, &conn, err)) < 0) goto out;
	if ((rc = shipment_build(&sh, st, store_installation_id(st), pki_ca_cert_pem(ca), r, err)) < 0) goto out;
	have_ship = true;
	if ((rc = ops->update(conn, &sh.want, err)) < 0) goto out;
	/* Published but not recorded as delivered: the next reconcile
	 * publishes it again, which is harmless; the command still fails. */
	char *msg = xasprintf("certificate %s published", sh.serial);
	if ((rc = certs_set_delivered(st, r->id, sh.serial)) < 0 ||
	    (rc = store_add_event(st, r->id, "cert-published", msg)) < 0)
		*err = xasprintf("certificate %s reached the CVM, but the state cannot record that "
		                 "(the next reconcile publishes it again): %s",
		                 sh.serial, store_errmsg(st));
	free(msg);
out:
	if (have_ship) shipment_free(&sh);
	if (conn) ops->close(conn);
	provider_record_release(&cfg, holder);
	return rc;
}
