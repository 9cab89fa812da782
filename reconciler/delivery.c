#include "reconciler/delivery.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/trust.h"
#include "common/util.h"
#include "reconciler/certs.h"

/* The backend says where its guests look (manager guests mount a 9p share
 * at /etc/certs, cloud guests get cloud-init files). A record of a flavor
 * this cvmctl does not know gets the agent's own default. */
const char *guest_cert_dir(const char *flavor) {
	const backend_schema_t *b = provider_schema_for(flavor);
	return b && b->guest_cert_dir ? b->guest_cert_dir : GUEST_CERT_DIR_DEFAULT;
}

char *render_agent_environment(const char *flavor, const char *id, const char *log_level, const char *grpc_url,
                               bool with_certs) {
	strbuf sb = {0};
	sb_addf(&sb, "AGENT_LOG_LEVEL=%s\n", log_level ? log_level : "info");
	sb_addf(&sb, "AGENT_CVM_ID=%s\n", id);
	if (grpc_url) sb_addf(&sb, "AGENT_CVM_GRPC_URL=%s\n", grpc_url);
	if (with_certs) {
		const char *dir = guest_cert_dir(flavor);
		sb_addf(&sb, "AGENT_CVM_GRPC_CLIENT_CERT=%s/cert.pem\n", dir);
		sb_addf(&sb, "AGENT_CVM_GRPC_CLIENT_KEY=%s/key.pem\n", dir);
		sb_addf(&sb, "AGENT_CVM_GRPC_SERVER_CA_CERTS=%s/ca.pem\n", dir);
	}
	return sb_take(&sb);
}

void shipment_free(shipment_t *s) {
	free(s->environment);
	free(s->cert_pem);
	free_secret(s->key_pem); /* key material does not linger in freed heap */
	free(s->ca_pem);
	free(s->labels);
	json_decref(s->spec);
	memset(s, 0, sizeof *s);
}

static const char *spec_str(json_t *spec, const char *obj, const char *key) {
	json_t *o = obj ? json_object_get(spec, obj) : spec;
	return json_string_value(json_object_get(o, key));
}

int shipment_build(shipment_t *s, store_t *st, const char *installation, const char *our_ca_pem,
                   const cvm_record_t *r, char **err) {
	memset(s, 0, sizeof *s);
	s->spec = r->spec_json ? json_loads(r->spec_json, 0, NULL) : NULL;
	if (!s->spec) s->spec = json_object(); /* adopted without a spec: defaults */

	json_t *labels = json_object_get(s->spec, "labels");
	s->labels = xcalloc(2 * json_object_size(labels) + 2, sizeof(char *));
	size_t nl = 0;
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v) {
		s->labels[2 * nl] = k;
		s->labels[2 * nl + 1] = json_string_value(v);
		nl++;
	}

	cert_record_t c = {0};
	int rc = certs_current_default(st, r->id, &c);
	if (rc == 0) {
		_cleanup_free_ char *why = NULL;
		int kr = certs_read_key(&c, &s->key_pem, &why);
		if (kr < 0) {
			*err = xasprintf("cannot read the key of certificate %s: %s", c.serial, why ? why : strerror(-kr));
			cert_record_free(&c);
			shipment_free(s);
			return kr;
		}
		snprintf(s->serial, sizeof s->serial, "%s", c.serial);
		s->cert_pem = xstrdup(c.cert_pem);
		cert_record_free(&c);
		const char *ca_file = spec_str(s->spec, "agent", "controlPlaneCAFile");
		if (ca_file) {
			int fr = read_file(ca_file, &s->ca_pem, NULL);
			if (fr < 0) {
				*err = xasprintf("cannot read controlPlaneCAFile %s: %s", ca_file, strerror(-fr));
				shipment_free(s);
				return fr;
			}
		} else {
			s->ca_pem = xstrdup(our_ca_pem ? our_ca_pem : "");
		}
	} else if (rc != -ENOENT) {
		*err = xasprintf("cannot read the certificates of %s: %s", r->name, store_errmsg(st));
		shipment_free(s);
		return rc;
	}

	s->environment = render_agent_environment(r->flavor, r->id, spec_str(s->spec, "agent", "logLevel"),
	                                          spec_str(s->spec, "agent", "controlPlaneURL"), s->cert_pem != NULL);
	size_t nf = 0;
	s->files[nf++] = (prov_file_t){"env", "environment", (const unsigned char *)s->environment, strlen(s->environment)};
	if (s->cert_pem) {
		s->files[nf++] = (prov_file_t){"certs", "cert.pem", (const unsigned char *)s->cert_pem, strlen(s->cert_pem)};
		s->files[nf++] = (prov_file_t){"certs", "key.pem", (const unsigned char *)s->key_pem, strlen(s->key_pem)};
		s->files[nf++] = (prov_file_t){"certs", "ca.pem", (const unsigned char *)s->ca_pem, strlen(s->ca_pem)};
	}
	json_t *agent = json_object_get(s->spec, "agent");
	s->want = (cvm_desired_t){
		.id = r->id,
		.name = r->name,
		.scope = r->scope,
		.installation = installation,
		.spec_hash = r->spec_hash,
		.attempt = r->attempt,
		.placement = r->placement,
		.vcpus = r->vcpus,
		.memory_gib = r->memory_gib,
		.agent_port = json_integer_value(json_object_get(agent, "port")) ? (int)json_integer_value(json_object_get(agent, "port"))
		                                                                 : CVM_DEFAULT_AGENT_PORT,
		.labels = s->labels,
		.n_labels = nl,
		.files = s->files,
		.n_files = nf,
	};
	return 0;
}
