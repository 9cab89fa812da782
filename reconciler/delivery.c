#include "reconciler/delivery.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"

const char *guest_cert_dir(flavor_t f) {
	/* Manager guests mount the certs_share 9p tag at /etc/certs (cocos
	 * images); cloud guests get the files from cloud-init. */
	return f == FLAVOR_MANAGER ? "/etc/certs" : "/etc/cocos/certs";
}

char *render_agent_environment(const spec_set_t *s, const cvm_spec_t *c, const char *id, bool with_certs) {
	strbuf sb = {0};
	sb_addf(&sb, "AGENT_LOG_LEVEL=%s\n", agent_log_level_name(c->agent.log_level));
	sb_addf(&sb, "AGENT_CVM_ID=%s\n", id);
	const char *url = cvm_control_plane_url(s, c);
	if (url) sb_addf(&sb, "AGENT_CVM_GRPC_URL=%s\n", url);
	if (with_certs) {
		const char *dir = guest_cert_dir(c->flavor);
		sb_addf(&sb, "AGENT_CVM_GRPC_CLIENT_CERT=%s/cert.pem\n", dir);
		sb_addf(&sb, "AGENT_CVM_GRPC_CLIENT_KEY=%s/key.pem\n", dir);
		sb_addf(&sb, "AGENT_CVM_GRPC_SERVER_CA_CERTS=%s/ca.pem\n", dir);
	}
	return sb_take(&sb);
}

void delivery_free(delivery_t *d) {
	free(d->environment);
	free(d->cert_pem);
	if (d->key_pem) {
		/* key material does not linger in freed heap */
		memset(d->key_pem, 0, strlen(d->key_pem));
		free(d->key_pem);
	}
	free(d->ca_pem);
	memset(d, 0, sizeof *d);
}

static void add_file(delivery_t *d, const char *dir, const char *name, const char *data) {
	d->files[d->n_files++] = (prov_file_t){.dir = dir, .name = name, .data = (const unsigned char *)data, .len = strlen(data)};
}

int delivery_build(delivery_t *d, store_t *st, const spec_set_t *s, const cvm_spec_t *c, const char *id) {
	memset(d, 0, sizeof *d);
	(void)st;
	d->environment = render_agent_environment(s, c, id, d->cert_pem != NULL);
	add_file(d, "env", "environment", d->environment);
	return 0;
}
