/* N2D machine types (reference/cloud-apis.md A11): the one place that knows
 * which sizes GCP can give a confidential VM. Reached through gcp_schema
 * (size_name, check_size). Internal to providers/gcp/. */
#ifndef CVM_GCP_SIZE_H
#define CVM_GCP_SIZE_H

#include <jansson.h>
#include <stddef.h>

/* "n2d-standard-8", "n2d-highmem-4", "n2d-custom-8-24576"; NULL when no
 * N2D type fits. Caller frees. */
char *gcp_machine_type(int vcpus, int memory_gib);
/* common/schema.h check_size: the memory maximum and the N2D shapes. */
int gcp_check_size(int vcpus, int memory_gib, const char **field, char *msg, size_t n);

/* The default of a Provider field, from schema.c's table (the one place
 * it is written); NULL when the field has none. */
const json_t *gcp_default(const char *key);

#endif
