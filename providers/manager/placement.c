#include "providers/manager/placement.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

static void sum_used(const char *uri, const placement_use_t *used, size_t n_used, int *vcpus, int *mem) {
	*vcpus = *mem = 0;
	for (size_t i = 0; i < n_used; i++) {
		if (!used[i].placement || strcmp(used[i].placement, uri) != 0) continue;
		*vcpus += used[i].vcpus;
		*mem += used[i].memory_gib;
	}
}

int manager_choose_host(const manager_host_capacity_t *hosts, size_t n_hosts, const placement_use_t *used,
                        size_t n_used, int vcpus, int memory_gib, size_t *chosen, char **err) {
	size_t best = n_hosts;
	int best_free_mem = 0, best_used_vcpus = 0;
	for (size_t i = 0; i < n_hosts; i++) {
		if (!hosts[i].reachable) continue;
		int uv, um;
		sum_used(hosts[i].uri, used, n_used, &uv, &um);
		int free_v = hosts[i].vcpus - uv, free_m = hosts[i].memory_gib - um;
		if (free_v < vcpus || free_m < memory_gib) continue;
		if (best == n_hosts || free_m > best_free_mem || (free_m == best_free_mem && uv < best_used_vcpus)) {
			best = i;
			best_free_mem = free_m;
			best_used_vcpus = uv;
		}
	}
	if (best < n_hosts) {
		*chosen = best;
		return 0;
	}
	strbuf sb = {0};
	sb_addf(&sb, "no host has room for %d vCPUs and %d GiB:", vcpus, memory_gib);
	if (n_hosts == 0) sb_add(&sb, " no hosts configured");
	for (size_t i = 0; i < n_hosts; i++) {
		sb_addf(&sb, "%s %s ", i ? ";" : "", hosts[i].uri);
		if (!hosts[i].reachable) {
			sb_addf(&sb, "unreachable (%s)", hosts[i].why ? hosts[i].why : "unknown error");
			continue;
		}
		int uv, um;
		sum_used(hosts[i].uri, used, n_used, &uv, &um);
		sb_addf(&sb, "%d vCPUs and %d GiB free", hosts[i].vcpus - uv, hosts[i].memory_gib - um);
	}
	*err = sb_take(&sb);
	return -ENOSPC;
}
