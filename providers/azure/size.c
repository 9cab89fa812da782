/* Azure DCasv5 sizes (reference/cloud-apis.md B11): Standard_DC2as_v5 ..
 * Standard_DC96as_v5, 4 GiB per vCPU, no other shapes. */
#include "providers/azure/size.h"

#include <errno.h>
#include <stdio.h>

#include "common/cleanup.h"
#include "common/util.h"

#define DCASV5_GIB_PER_VCPU 4
#define DCASV5_MAX_MEMORY_GIB 384 /* Standard_DC96as_v5 */

static const int dcasv5_vcpus[] = {2, 4, 8, 16, 32, 48, 64, 96};

static int dcasv5_index(int vcpus) {
	for (size_t i = 0; i < ARRAY_SIZE(dcasv5_vcpus); i++)
		if (dcasv5_vcpus[i] == vcpus) return (int)i;
	return -1;
}

char *azure_vm_size(int vcpus, int memory_gib) {
	if (dcasv5_index(vcpus) < 0 || memory_gib != DCASV5_GIB_PER_VCPU * vcpus) return NULL;
	return xasprintf("Standard_DC%das_v5", vcpus);
}

int azure_check_size(int vcpus, int memory_gib, const char **field, char *msg, size_t n) {
	if (memory_gib > DCASV5_MAX_MEMORY_GIB) {
		*field = "memoryGiB";
		snprintf(msg, n, "memoryGiB %d is above the azure maximum of %d", memory_gib, DCASV5_MAX_MEMORY_GIB);
		return -EINVAL;
	}
	if (dcasv5_index(vcpus) < 0) {
		char list[128];
		size_t o = 0;
		list[0] = 0;
		for (size_t i = 0; i < ARRAY_SIZE(dcasv5_vcpus) && o < sizeof list; i++)
			o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", i ? ", " : "", dcasv5_vcpus[i]);
		*field = "vcpus";
		snprintf(msg, n, "vcpus %d is not a DCasv5 size (%s)", vcpus, list);
		return -EINVAL;
	}
	if (memory_gib != DCASV5_GIB_PER_VCPU * vcpus) {
		*field = "memoryGiB";
		snprintf(msg, n, "memoryGiB %d does not fit: DCasv5 sizes have %d GiB per vCPU (%d GiB for %d vCPUs)",
		         memory_gib, DCASV5_GIB_PER_VCPU, DCASV5_GIB_PER_VCPU * vcpus, vcpus);
		return -EINVAL;
	}
	return 0;
}
