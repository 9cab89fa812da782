/* DCasv5 sizes (reference/cloud-apis.md B11): the one place that knows
 * which sizes Azure can give a confidential VM. Reached through
 * azure_schema (size_name, check_size). Internal to providers/azure/. */
#ifndef CVM_AZURE_SIZE_H
#define CVM_AZURE_SIZE_H

#include <jansson.h>
#include <stddef.h>

/* "Standard_DC8as_v5"; NULL when no DCasv5 size fits. Caller frees. */
char *azure_vm_size(int vcpus, int memory_gib);
/* common/schema.h check_size: the DCasv5 vCPU counts, 4 GiB per vCPU. */
int azure_check_size(int vcpus, int memory_gib, const char **field, char *msg, size_t n);

/* The default of a Provider field (schema.c), or NULL. */
const json_t *azure_default(const char *key);

#endif
