#include "reconciler/publish.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/delivery.h"
#include "reconciler/provider_record.h"

int publish_cvm(store_t *st, pki_ca_t *ca, const cvm_record_t *r, char **err) {
	provider_config_t cfg;
	provider_holder_t holder;
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
	if ((rc = prov_open(ops, &cfg, &conn, err)) < 0) goto out;
	if ((rc = shipment_build(&sh, st, store_installation_id(st), pki_ca_cert_pem(ca), r, err)) < 0) goto out;
	have_ship = true;
	prov_call_t c = {0};
	prov_target_t t = {.id = r->id, .name = r->name, .placement = r->placement, .handle = r->handle};
	rc = prov_update(ops, conn, &t, &sh.want, &c);
	/* A backend whose update goes on asynchronously is waited for. */
	while (rc >= 0 && c.op) {
		prov_op_t *op = TAKE_PTR(c.op);
		int again = c.again_ms > 0 ? c.again_ms : 50;
		struct timespec ts = {again / 1000, (long)(again % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		c.again_ms = 0;
		rc = prov_poll(ops, conn, op, &c);
		if (rc == 0) c.op = op;
		else prov_op_free(ops, op);
	}
	*err = TAKE_PTR(c.err);
	prov_call_clear(&c);
	if (rc < 0) goto out;
	rc = 0;
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
	provider_record_release(&cfg, &holder);
	return rc;
}
