/* The libvirt domain XML of one CVM: a pure function of its parameters, so
 * that every variant is pinned by a golden file. */
#ifndef CVM_MANAGER_DOMAIN_XML_H
#define CVM_MANAGER_DOMAIN_XML_H

#include "providers/manager/manager.h"

#include <stdbool.h>

#include "providers/manager/metadata.h"

/* How SEV-SNP is expressed. libvirt learnt <launchSecurity type='sev-snp'>
 * in 10.5.0; before that it rejects the element at parse time, so the
 * guest object is passed to QEMU directly. */
typedef enum manager_launch_form {
	LAUNCH_SNP_NATIVE,   /* <launchSecurity type='sev-snp'> */
	LAUNCH_SNP_FALLBACK, /* <qemu:commandline> -object sev-snp-guest */
	LAUNCH_INSECURE,     /* no SEV at all: development hosts only */
} manager_launch_form_t;

#define MANAGER_LIBVIRT_SNP_VERSION 10005000UL /* 10.5.0 */

manager_launch_form_t manager_launch_form(unsigned long libvirt_version, bool insecure);
const char *manager_launch_form_name(manager_launch_form_t f);

typedef struct manager_domain_params {
	const char *id;   /* UUID: also the libvirt UUID */
	const char *name; /* the CVM name: also the libvirt domain name */
	const char *scope, *installation, *spec_hash, *attempt;
	int vcpus, memory_gib, agent_port;
	const char *domain_type; /* NULL: kvm */
	const char *cpu_model;   /* NULL: the schema default */
	const char *firmware;    /* loaded as rom; NULL: no <loader> */
	const char *kernel, *initrd;
	const char *cmdline; /* NULL: the schema default */
	const char *network; /* NULL: the schema default */
	const char *certs_dir, *env_dir; /* host directories shared over 9p */
	const char *share_root;          /* their root, recorded in the marker; may be NULL */
	const char *console_log;         /* host file the serial console is copied to; NULL: none */
	bool vtpm;
	manager_launch_form_t form;
} manager_domain_params;


/* Caller frees. */
char *manager_domain_xml(const manager_domain_params *p);

#endif
