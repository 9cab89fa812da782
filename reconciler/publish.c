#include "reconciler/publish.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/delivery.h"
#include "reconciler/provider_record.h"
#include "reconciler/sched.h"

typedef struct pub {
	const cvm_record_t *r;
	shipment_t *sh;
} pub_t;

static int pub_submit(void *ctx, sched_task_t *t, const sched_step_t *s, prov_call_t *call) {
	(void)t;
	(void)s;
	sched_backend_t *b = ((sched_backend_t **)ctx)[0];
	pub_t *pb = ((pub_t **)ctx)[1];
	prov_target_t tg = {.id = pb->r->id, .name = pb->r->name, .placement = pb->r->placement, .handle = pb->r->handle};
	return prov_update(b->ops, b->conn, &tg, &pb->sh->want, call);
}

static void pub_done(void *ctx, sched_task_t *t, const sched_step_t *s, prov_call_t *call) {
	(void)ctx, (void)t, (void)s, (void)call;
}

static int pub_local(void *ctx, sched_task_t *t, const sched_step_t *s, char **err) {
	(void)ctx, (void)t, (void)s;
	*err = xstrdup("no local steps here");
	return -EINVAL;
}

/* One update through the scheduler: a backend whose update goes on
 * asynchronously is polled as apply polls it (Retry-After, backoff). */
static int update_once(const provider_ops_t *ops, provider_t *conn, const char *name, const cvm_record_t *r,
                       shipment_t *sh, char **err) {
	sched_backend_t b = {.name = name, .ops = ops, .conn = conn};
	sched_backend_limits(&b, 0, 0, 0);
	pub_t pb = {r, sh};
	void *ctx[2] = {&b, &pb};
	sched_task_t task = {.steps = {{SK_UPDATE, 0, 0}}, .n_steps = 1};
	sched_task_t *tasks[] = {&task};
	sched_t s = {.backends = &b, .n_backends = 1, .tasks = tasks, .n_tasks = 1,
	             .hooks = {pub_submit, pub_done, pub_local, ctx}};
	sched_run(&s);
	if (task.rc < 0) *err = TAKE_PTR(task.err);
	free(task.err);
	return task.rc;
}

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
	if ((rc = update_once(ops, conn, cfg.name, r, &sh, err)) < 0) goto out;
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
