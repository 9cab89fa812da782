/* What the manager backend declares about itself (common/schema.h): its
 * Provider fields with their defaults and what a change does to running
 * CVMs, its sizes, and where the guest finds its files. The one place each
 * manager default lives. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/schema.h"
#include "common/util.h"
#include "providers/manager/manager.h"
#include "providers/provider.h"

static const char *const domain_types[] = {"kvm", "qemu", NULL};

static const field_def_t capacity_fields[] = {
	{.name = "vcpus", .type = FT_INT, .min = 1, .max = 1 << 20, .doc = "vCPUs a host offers to CVMs (default: libvirt's node info)"},
	{.name = "memoryGiB", .type = FT_INT, .min = 1, .max = 1 << 20, .doc = "GiB of memory a host offers to CVMs (default: node info)"},
	{0},
};

/* A measured launch covers firmware, kernel, initrd and command line; a
 * changed CPU model, network, vTPM or share directory needs a new domain
 * definition, and 9p shares are mounted at boot: all of these replace. */
static const field_def_t manager_fields[] = {
	{.name = "hosts", .type = FT_STRINGS, .required = true, .effect = FX_NONE, .noun = "host",
	 .what = "a list of libvirt URIs", .doc = "libvirt URIs of the SEV-SNP hosts; CVMs are placed across them"},
	{.name = "firmware", .type = FT_PATH, .effect = FX_REPLACE,
	 .doc = "OVMF AmdSev build, loaded as rom (required unless insecureNoSEV)"},
	{.name = "kernel", .type = FT_PATH, .required = true, .effect = FX_REPLACE, .doc = "guest kernel (bzImage)"},
	{.name = "initrd", .type = FT_PATH, .required = true, .effect = FX_REPLACE, .doc = "guest initramfs (RAM-only root)"},
	{.name = "cmdline", .type = FT_STRING, .dflt = "\"quiet console=null\"", .effect = FX_REPLACE,
	 .doc = "kernel command line"},
	{.name = "domainType", .type = FT_STRING, .dflt = "\"kvm\"", .effect = FX_REPLACE, .values = domain_types,
	 .doc = "libvirt domain type: kvm, or qemu (TCG, development only)"},
	{.name = "cpuModel", .type = FT_STRING, .dflt = "\"EPYC-Milan\"", .effect = FX_REPLACE, .doc = "guest CPU model"},
	{.name = "network", .type = FT_STRING, .dflt = "\"default\"", .effect = FX_REPLACE,
	 .doc = "libvirt network the guest joins; its DHCP lease gives the CVM's URL"},
	{.name = "vtpm", .type = FT_BOOL, .dflt = "false", .effect = FX_REPLACE, .doc = "attach an emulated TPM"},
	{.name = "capacity", .type = FT_OBJECT, .fields = capacity_fields, .effect = FX_NONE,
	 .doc = "per-host capacity override for placement"},
	{.name = "shareDir", .type = FT_PATH, .effect = FX_REPLACE,
	 .doc = "host directory for per-CVM shares (default: <state dir>/shares; required for remote hosts)"},
	{.name = "insecureNoSEV", .type = FT_BOOL, .dflt = "false", .effect = FX_REPLACE,
	 .doc = "run without SEV-SNP (development hosts only; loud warnings)"},
	{.name = "connectTimeout", .type = FT_DURATION, .dflt = "10", .min = 1, .max = 300, .effect = FX_NONE,
	 .doc = "how long connecting to a host may take before it is Unknown for the pass"},
	{.name = "callTimeout", .type = FT_DURATION, .dflt = "20", .min = 1, .max = 600, .effect = FX_NONE,
	 .doc = "how long one libvirt call may block before its host is Unknown"},
	{0},
};

static void manager_check(const json_t *s, schema_report_fn report, void *ctx) {
	if (!json_is_true(json_object_get(s, "insecureNoSEV")) && !json_object_get(s, "firmware"))
		report(ctx, "firmware", "required unless insecureNoSEV is set (a measured launch needs the AmdSev firmware)");
}

static int manager_default_memory(int vcpus) {
	(void)vcpus;
	return 16;
}

#define MANAGER_MAX_MEMORY_GIB 30 /* the guest runs from RAM; the hosts are shared */

static int manager_check_size(int vcpus, int memory_gib, const char **field, char *msg, size_t n) {
	(void)vcpus; /* within min_vcpus..max_vcpus: any count will do */
	if (memory_gib > MANAGER_MAX_MEMORY_GIB) {
		*field = "memoryGiB";
		snprintf(msg, n, "memoryGiB %d is above the manager maximum of %d", memory_gib, MANAGER_MAX_MEMORY_GIB);
		return -EINVAL;
	}
	return 0;
}

static const char *const manager_replace_fields[] = {"spec.vcpus", "spec.memoryGiB", NULL};

const backend_schema_t manager_schema = {
	.flavor = "manager",
	.place_noun = "host",
	.fields = manager_fields,
	.check = manager_check,
	.min_vcpus = 1,
	.max_vcpus = 64,
	.default_vcpus = 8,
	.default_memory_gib = manager_default_memory,
	.check_size = manager_check_size,
	.size_name = NULL,
	.replace_fields = manager_replace_fields,
	/* libvirt has no API quota; each host's worker serialises its own
	 * calls, so many operations may wait in its queue at once. */
	.default_concurrency = 64,
	.default_requests_per_second = 1000,
	.guest_cert_dir = "/etc/certs",
	.guest_env_file = "/etc/cocos/environment",
};

/* ---- the defaults, read back from the table ----
 * The table above is the one place a manager default is written; the
 * backend and the domain XML generator ask here for a setting that a
 * record from an older cvmctl (or a test) does not carry. */

static json_t *defaults; /* field name -> default; built once, lives as long as the process */

static void build_defaults(void) {
	defaults = json_object();
	for (const field_def_t *f = manager_fields; f->name; f++)
		if (f->dflt) json_object_set_new(defaults, f->name, json_loads(f->dflt, JSON_DECODE_ANY, NULL));
}

static const json_t *manager_default(const char *key) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, build_defaults);
	return json_object_get(defaults, key);
}

const char *manager_default_str(const char *key) {
	return json_string_value(manager_default(key));
}

int manager_default_int(const char *key) {
	return (int)json_integer_value(manager_default(key));
}
