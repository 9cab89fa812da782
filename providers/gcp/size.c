/* GCP N2D machine types (reference/cloud-apis.md A11): predefined shapes
 * standard / highmem / highcpu at fixed GiB per vCPU, and custom types
 * between 0.5 and 8 GiB per vCPU up to 96 vCPUs. */
#include "providers/gcp/size.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/util.h"

#define N2D_MAX_MEMORY_GIB 896 /* n2d-standard-224 */
#define N2D_CUSTOM_MAX_VCPUS 96

static const int n2d_predefined[] = {2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224};
static const struct {
	const char *kind;
	int gib_per_vcpu;
	int max_vcpus;
} n2d_shapes[] = {{"standard", 4, 224}, {"highmem", 8, 96}, {"highcpu", 1, 224}};

static bool n2d_vcpus_ok(int vcpus) {
	for (size_t i = 0; i < ARRAY_SIZE(n2d_predefined); i++)
		if (n2d_predefined[i] == vcpus) return true;
	return false;
}

char *gcp_machine_type(int vcpus, int memory_gib) {
	if (!n2d_vcpus_ok(vcpus)) return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(n2d_shapes); i++)
		if (vcpus <= n2d_shapes[i].max_vcpus && memory_gib == n2d_shapes[i].gib_per_vcpu * vcpus)
			return xasprintf("n2d-%s-%d", n2d_shapes[i].kind, vcpus);
	/* Custom: 0.5 to 8 GB per vCPU in 256 MB steps (whole GiB always are). */
	if (vcpus <= N2D_CUSTOM_MAX_VCPUS && 2 * memory_gib >= vcpus && memory_gib <= 8 * vcpus)
		return xasprintf("n2d-custom-%d-%d", vcpus, memory_gib * 1024);
	return NULL;
}

/* "standard 32, highmem 64, highcpu 8, custom 4-64": the memory sizes a
 * vCPU count allows, for the message. */
static void allowed_memory(int vcpus, char *list, size_t n) {
	size_t o = 0;
	list[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(n2d_shapes) && o < n; i++)
		if (vcpus <= n2d_shapes[i].max_vcpus)
			o += (size_t)snprintf(list + o, n - o, "%s%s %d", o ? ", " : "", n2d_shapes[i].kind,
			                      n2d_shapes[i].gib_per_vcpu * vcpus);
	if (vcpus <= N2D_CUSTOM_MAX_VCPUS && o < n)
		snprintf(list + o, n - o, ", custom %d-%d", (vcpus + 1) / 2, 8 * vcpus);
}

int gcp_check_size(int vcpus, int memory_gib, const char **field, char *msg, size_t n) {
	char list[128];
	*field = "memoryGiB";
	if (memory_gib > N2D_MAX_MEMORY_GIB) {
		snprintf(msg, n, "memoryGiB %d is above the gcp maximum of %d", memory_gib, N2D_MAX_MEMORY_GIB);
		return -EINVAL;
	}
	if (!n2d_vcpus_ok(vcpus)) {
		*field = "vcpus";
		size_t o = 0;
		list[0] = 0;
		for (size_t i = 0; i < ARRAY_SIZE(n2d_predefined) && o < sizeof list; i++)
			o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", i ? ", " : "", n2d_predefined[i]);
		snprintf(msg, n, "vcpus %d is not an N2D machine size (%s)", vcpus, list);
		return -EINVAL;
	}
	char *type = gcp_machine_type(vcpus, memory_gib);
	if (type) {
		free(type);
		return 0;
	}
	allowed_memory(vcpus, list, sizeof list);
	snprintf(msg, n, "no N2D machine type has %d vCPUs and %d GiB (GiB allowed: %s)", vcpus, memory_gib, list);
	return -EINVAL;
}
