/* The one place that knows each flavor's sizes: the limit table, the GCP N2D
 * machine types and the Azure DCasv5 sizes (reference/cloud-apis.md A11, B11).
 * The validator, the plan and the backends all ask here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "specs/spec.h"

static const char *const flavor_names[FLAVOR__COUNT] = {"gcp", "azure", "manager"};

const char *flavor_name(flavor_t f) {
	if (f < 0 || f >= FLAVOR__COUNT) return "invalid";
	return flavor_names[f];
}

flavor_t flavor_from_name(const char *s) {
	for (int i = 0; s && i < FLAVOR__COUNT; i++)
		if (strcmp(s, flavor_names[i]) == 0) return (flavor_t)i;
	return FLAVOR_INVALID;
}

static const flavor_limits_t limits[FLAVOR__COUNT] = {
	/* N2D: n2d-standard-2 .. n2d-standard-224 (896 GB) */
	[FLAVOR_GCP] = {.min_vcpus = 2, .max_vcpus = 224, .default_vcpus = 2, .max_memory_gib = 896, .default_memory_gib = 8},
	/* DCasv5: Standard_DC2as_v5 .. Standard_DC96as_v5 (384 GiB) */
	[FLAVOR_AZURE] = {.min_vcpus = 2, .max_vcpus = 96, .default_vcpus = 2, .max_memory_gib = 384, .default_memory_gib = 8},
	[FLAVOR_MANAGER] = {.min_vcpus = 1, .max_vcpus = 64, .default_vcpus = 8, .max_memory_gib = 30, .default_memory_gib = 16},
};

const flavor_limits_t *flavor_limits(flavor_t f) {
	if (f < 0 || f >= FLAVOR__COUNT) return NULL;
	return &limits[f];
}

const char *agent_log_level_name(enum agent_log_level l) {
	switch (l) {
	case AGENT_LOG_DEBUG: return "debug";
	case AGENT_LOG_INFO: return "info";
	case AGENT_LOG_WARN: return "warn";
	case AGENT_LOG_ERROR: return "error";
	}
	return "info";
}

int agent_log_level_from_name(const char *s, enum agent_log_level *out) {
	static const enum agent_log_level all[] = {AGENT_LOG_DEBUG, AGENT_LOG_INFO, AGENT_LOG_WARN, AGENT_LOG_ERROR};
	for (size_t i = 0; s && i < ARRAY_SIZE(all); i++)
		if (strcmp(s, agent_log_level_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -EINVAL;
}

int flavor_default_memory_gib(flavor_t f, int vcpus) {
	/* The clouds' standard shapes have 4 GiB per vCPU; the default memory
	 * follows the vCPUs so that "vcpus: 16" alone is a valid size. */
	if (f == FLAVOR_GCP || f == FLAVOR_AZURE) return 4 * vcpus;
	const flavor_limits_t *l = flavor_limits(f);
	return l ? l->default_memory_gib : 0;
}

/* ---- GCP N2D ---- */

static const int n2d_predefined[] = {2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224};
static const struct {
	const char *kind;
	int gib_per_vcpu;
	int max_vcpus;
} n2d_shapes[] = {{"standard", 4, 224}, {"highmem", 8, 96}, {"highcpu", 1, 224}};
#define N2D_CUSTOM_MAX_VCPUS 96

static bool n2d_vcpus_ok(int vcpus) {
	for (size_t i = 0; i < ARRAY_SIZE(n2d_predefined); i++)
		if (n2d_predefined[i] == vcpus) return true;
	return false;
}

const char *gcp_machine_type(int vcpus, int memory_gib, char *buf, size_t n) {
	if (!n2d_vcpus_ok(vcpus)) return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(n2d_shapes); i++)
		if (vcpus <= n2d_shapes[i].max_vcpus && memory_gib == n2d_shapes[i].gib_per_vcpu * vcpus) {
			snprintf(buf, n, "n2d-%s-%d", n2d_shapes[i].kind, vcpus);
			return buf;
		}
	/* Custom: 0.5 to 8 GB per vCPU in 256 MB steps (whole GiB always are). */
	if (vcpus <= N2D_CUSTOM_MAX_VCPUS && 2 * memory_gib >= vcpus && memory_gib <= 8 * vcpus) {
		snprintf(buf, n, "n2d-custom-%d-%d", vcpus, memory_gib * 1024);
		return buf;
	}
	return NULL;
}

/* ---- Azure DCasv5 ---- */

static const int dcasv5_vcpus[] = {2, 4, 8, 16, 32, 48, 64, 96};
#define DCASV5_GIB_PER_VCPU 4

const char *azure_vm_size(int vcpus, int memory_gib, char *buf, size_t n) {
	for (size_t i = 0; i < ARRAY_SIZE(dcasv5_vcpus); i++)
		if (dcasv5_vcpus[i] == vcpus && memory_gib == DCASV5_GIB_PER_VCPU * vcpus) {
			snprintf(buf, n, "Standard_DC%das_v5", vcpus);
			return buf;
		}
	return NULL;
}

static void list_ints(char *buf, size_t n, const int *v, size_t count) {
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < count && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%d", i ? ", " : "", v[i]);
}

int flavor_check_size(flavor_t f, int vcpus, int memory_gib, const char **field, char *msg, size_t n) {
	const flavor_limits_t *l = flavor_limits(f);
	char list[128], tmp[64];
	if (!l) {
		*field = "flavor";
		snprintf(msg, n, "unknown flavor");
		return -EINVAL;
	}
	*field = "vcpus";
	if (vcpus < l->min_vcpus) {
		snprintf(msg, n, "vcpus %d is below the %s minimum of %d", vcpus, flavor_name(f), l->min_vcpus);
		return -EINVAL;
	}
	if (vcpus > l->max_vcpus) {
		snprintf(msg, n, "vcpus %d is above the %s maximum of %d", vcpus, flavor_name(f), l->max_vcpus);
		return -EINVAL;
	}
	*field = "memoryGiB";
	if (memory_gib < 1) {
		snprintf(msg, n, "memoryGiB %d is below the %s minimum of 1", memory_gib, flavor_name(f));
		return -EINVAL;
	}
	if (memory_gib > l->max_memory_gib) {
		snprintf(msg, n, "memoryGiB %d is above the %s maximum of %d", memory_gib, flavor_name(f),
		         l->max_memory_gib);
		return -EINVAL;
	}
	switch (f) {
	case FLAVOR_GCP:
		if (!n2d_vcpus_ok(vcpus)) {
			*field = "vcpus";
			list_ints(list, sizeof list, n2d_predefined, ARRAY_SIZE(n2d_predefined));
			snprintf(msg, n, "vcpus %d is not an N2D machine size (%s)", vcpus, list);
			return -EINVAL;
		}
		if (!gcp_machine_type(vcpus, memory_gib, tmp, sizeof tmp)) {
			size_t o = 0;
			list[0] = 0;
			for (size_t i = 0; i < ARRAY_SIZE(n2d_shapes); i++)
				if (vcpus <= n2d_shapes[i].max_vcpus)
					o += (size_t)snprintf(list + o, sizeof list - o, "%s%s %d", o ? ", " : "",
					                      n2d_shapes[i].kind, n2d_shapes[i].gib_per_vcpu * vcpus);
			if (vcpus <= N2D_CUSTOM_MAX_VCPUS)
				snprintf(list + o, sizeof list - o, ", custom %d-%d", (vcpus + 1) / 2, 8 * vcpus);
			snprintf(msg, n, "no N2D machine type has %d vCPUs and %d GiB (GiB allowed: %s)", vcpus,
			         memory_gib, list);
			return -EINVAL;
		}
		return 0;
	case FLAVOR_AZURE:
		if (!azure_vm_size(vcpus, DCASV5_GIB_PER_VCPU * vcpus, tmp, sizeof tmp)) {
			*field = "vcpus";
			list_ints(list, sizeof list, dcasv5_vcpus, ARRAY_SIZE(dcasv5_vcpus));
			snprintf(msg, n, "vcpus %d is not a DCasv5 size (%s)", vcpus, list);
			return -EINVAL;
		}
		if (memory_gib != DCASV5_GIB_PER_VCPU * vcpus) {
			snprintf(msg, n, "memoryGiB %d does not fit: DCasv5 sizes have %d GiB per vCPU (%d GiB for %d vCPUs)",
			         memory_gib, DCASV5_GIB_PER_VCPU, DCASV5_GIB_PER_VCPU * vcpus, vcpus);
			return -EINVAL;
		}
		return 0;
	default:
		return 0;
	}
}
