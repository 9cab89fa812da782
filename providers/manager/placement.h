/* Choosing a host for a new CVM: pure arithmetic over each host's capacity
 * and what cvmctl already placed there. */
#ifndef CVM_MANAGER_PLACEMENT_H
#define CVM_MANAGER_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/provider.h"

typedef struct manager_host_capacity {
	const char *uri;  /* as written in the Provider: matched against placement_use_t */
	bool reachable;   /* unknown hosts are never chosen */
	const char *why;  /* when unreachable */
	int vcpus;        /* total */
	int memory_gib;   /* total */
} manager_host_capacity_t;

/* Picks the reachable host with the most free memory that fits `vcpus` and
 * `memory_gib` (ties: the fewest used vCPUs, then the order given). Returns
 * 0 with its index in *chosen, or -ENOSPC with *err listing each host's
 * free capacity. */
int manager_choose_host(const manager_host_capacity_t *hosts, size_t n_hosts, const placement_use_t *used,
                        size_t n_used, int vcpus, int memory_gib, size_t *chosen, char **err);

#endif
