/* GCP's name rules (reference/cloud-apis.md A5, A12), as inline checks so
 * that the schema (built alone into the spec fuzzer) and the backend share
 * them. Internal to providers/gcp/. */
#ifndef CVM_GCP_NAMES_H
#define CVM_GCP_NAMES_H

#include <stdbool.h>
#include <string.h>

/* RFC 1035: [a-z]([-a-z0-9]{0,61}[a-z0-9])?; instance names, network tags. */
static inline bool gcp_name_valid(const char *s) {
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 63 || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-') return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return false;
	return true;
}

/* Label keys: 1-63 of [a-z0-9_-], starting with a letter; values: 0-63 of
 * the same. (International characters are allowed by GCP; we never write
 * them.) */
static inline bool gcp_label_char(char c) {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static inline bool gcp_label_value_valid(const char *s) {
	size_t n = s ? strlen(s) : 0;
	if (!s || n > 63) return false;
	for (size_t i = 0; i < n; i++)
		if (!gcp_label_char(s[i])) return false;
	return true;
}

static inline bool gcp_label_key_valid(const char *s) {
	return s && s[0] >= 'a' && s[0] <= 'z' && gcp_label_value_valid(s);
}

#endif
