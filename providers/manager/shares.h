/* Per-CVM share directories on the host: <shareDir>/<id>/certs (9p tag
 * certs_share, /etc/certs in the guest) and <shareDir>/<id>/env (env_share,
 * /etc/cocos). They hold the CVM's private key, so everything is 0700/0600
 * and owned by the hypervisor's user, the only one that needs to read it. */
#ifndef CVM_MANAGER_SHARES_H
#define CVM_MANAGER_SHARES_H

#include <stdbool.h>
#include <sys/types.h>

#include "providers/provider.h"

#define MANAGER_FALLBACK_QEMU_USER "libvirt-qemu"
/* <shareDir>/<id>/console.log: the guest's serial console, beside its
 * shares (not shared into the guest), removed with them. */
#define MANAGER_CONSOLE_LOG "console.log"

/* The hypervisor's user from a host's capabilities XML: the DAC security
 * model's <baselabel type='virt_type'> ("+UID:+GID" or "user:group"), else
 * its first baselabel. 0, or -ENOENT when the host has no DAC model. */
int manager_parse_dac_label(const char *caps_xml, const char *virt_type, uid_t *uid, gid_t *gid);

/* True for URIs that talk to this machine: no host name in the URI (or
 * localhost). Test-driver URIs count as local. */
bool manager_uri_is_local(const char *uri);

/* Malloc'ed "<share_dir>/<id>/<sub>" (sub may be NULL for the CVM's dir). */
char *manager_share_path(const char *share_dir, const char *id, const char *sub);

typedef struct manager_owner {
	bool set; /* false: leave files to the current user */
	uid_t uid;
	gid_t gid;
} manager_owner_t;

/* Creates the directories (if missing) and writes each file atomically
 * (files with a dir other than "certs"/"env", or a name that is not a plain
 * file name, are refused). Returns 0 or -errno with *err set. */
int manager_shares_write(const char *share_dir, const char *id, const prov_file_t *files, size_t n_files,
                         const manager_owner_t *owner, char **err);

/* Removes <share_dir>/<id> and everything below; absent is success. */
int manager_shares_remove(const char *share_dir, const char *id, char **err);

#endif
