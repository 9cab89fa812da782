/* Our ownership marker on a libvirt domain: the <instance> element in the
 * cvmctl namespace under <metadata>. Written by us (prefixed, inside the
 * domain XML; or unprefixed, for virDomainSetMetadata) and read back from
 * virDomainGetMetadata, which re-serialises it in libvirt's own style. */
#ifndef CVM_MANAGER_METADATA_H
#define CVM_MANAGER_METADATA_H

#include <stdbool.h>

#include "common/util.h"

#define MANAGER_NS_URI "https://cvmctl.dev/xmlns/instance/1"
#define MANAGER_NS_PREFIX "cvm"
#define MANAGER_MANAGED_BY "cvmctl"

typedef struct manager_meta {
	char *managed_by;
	char *id, *name, *scope, *installation, *spec_hash, *attempt;
	char *share_root; /* the share directory root the domain mounts (<share-root>) */
	int port, vcpus, memory_gib;
	bool insecure_no_sev;
} manager_meta_t;

/* Appends the <instance> element. `prefixed`: "<cvm:instance xmlns:cvm=…>"
 * with prefixed children (domain XML); otherwise "<instance>" with bare
 * children (virDomainSetMetadata adds the namespace itself). `indent` is
 * the indentation of the opening tag; children get two more spaces. */
void manager_meta_format(strbuf *sb, const manager_meta_t *m, bool prefixed, const char *indent);

/* Parses the element as virDomainGetMetadata returns it (or as we wrote
 * it): any prefix, any quoting and whitespace. Unknown child elements are
 * ignored. Returns 0, or -EINVAL if it is not an <instance> element. */
int manager_meta_parse(const char *xml, manager_meta_t *out);
void manager_meta_free(manager_meta_t *m);

/* True when the element says cvmctl manages the domain. */
bool manager_meta_is_ours(const manager_meta_t *m);

#endif
