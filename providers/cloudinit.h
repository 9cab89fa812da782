/* cloud-init user data for CVMs on GCP and Azure, and the delivery document
 * that carries renewed certificates and agent settings afterwards.
 *
 * cloud-init applies user data only at first boot, so the #cloud-config also
 * installs /usr/local/sbin/cvmctl-refresh (and a systemd unit running it),
 * which follows the cloud's updatable channel and rewrites the files
 * atomically, restarting cocos-agent.service when one changed:
 *   GCP:   instance metadata key "cvmctl-delivery" (plain text),
 *          followed with wait_for_change/last_etag hanging GETs;
 *   Azure: VM userData (base64 of the delivery document), IMDS polled every 60 s.
 *
 * Delivery document (text, one item per line, LF line ends):
 *   cvmctl-delivery 1
 *   cert.pem <base64>
 *   key.pem <base64>
 *   ca.pem <base64>
 *   environment <base64>
 * Base64 is RFC 4648 on one line; an empty file is the bare name. Absent
 * certificates have no line (the guest keeps what it has); readers ignore
 * names they do not know.
 *
 * Pure code: bytes in, bytes out, no I/O. */
#ifndef CVM_PROVIDERS_CLOUDINIT_H
#define CVM_PROVIDERS_CLOUDINIT_H

#include <stddef.h>

#include "providers/provider.h"

typedef enum cloud_kind {
	CLOUD_GCP,
	CLOUD_AZURE,
} cloud_kind_t;

/* GCP instance metadata key of the delivery document. */
#define CLOUDINIT_GCP_DELIVERY_KEY "cvmctl-delivery"

/* Size limits of the channels (cloud-apis.md A5, B5): GCP metadata values
 * 256 KiB; Azure customData 65,535 decoded bytes, userData 64 KiB base64. */
#define CLOUDINIT_GCP_VALUE_MAX 262144
#define CLOUDINIT_AZURE_CUSTOMDATA_MAX 65535
#define CLOUDINIT_AZURE_USERDATA_MAX 65536

typedef struct cloudinit_params {
	cloud_kind_t cloud;
	const char *cvm_id, *cvm_name; /* named in a comment; [A-Za-z0-9._-] only */
	/* The agent env file, KEY=VALUE lines, already rendered. Required. */
	const char *environment;
	/* NULL: that file is not written (nor delivered). */
	const char *cert_pem, *key_pem, *ca_pem;
	/* Byte counts of the four contents above; 0 means strlen(). Set them
	 * when a content is not NUL-terminated (cloudinit_params_set_files). */
	size_t environment_len, cert_len, key_len, ca_len;
} cloudinit_params_t;

/* Points p's contents at the files of a cvm_desired_t ("certs"/cert.pem,
 * key.pem, ca.pem; "env"/environment); other files are ignored. The data
 * stays owned by the caller. */
void cloudinit_params_set_files(cloudinit_params_t *p, const prov_file_t *files, size_t n);

/* The #cloud-config document (GCP: metadata "user-data" as is; Azure:
 * customData after cloudinit_base64). Returns 0, or -EINVAL (bad
 * parameters) / -E2BIG (over the cloud's limit) with *err set. */
int cloudinit_render(const cloudinit_params_t *p, char **out, size_t *len, char **err);

/* The delivery document above (GCP: metadata value as is; Azure: userData
 * after cloudinit_base64). Same returns as cloudinit_render. */
int cloudinit_render_delivery(const cloudinit_params_t *p, char **out, size_t *len, char **err);

/* The refresher script installed by cloudinit_render for that cloud. */
int cloudinit_render_refresher(cloud_kind_t cloud, char **out, size_t *len);

/* The systemd unit that runs the refresher. */
const char *cloudinit_refresher_unit(void);

/* RFC 4648 base64 on one line, NUL-terminated; never fails. */
char *cloudinit_base64(const void *data, size_t len);

#endif
