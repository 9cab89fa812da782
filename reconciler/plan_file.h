/* Saved plans: `plan --out PLAN` writes the JSON plan (plan.h) to a file,
 * `apply PLAN` reads it back, recomputes the plan and carries it out only
 * if the two agree. This is the reader (any bytes give a plan or an error
 * sentence, never more), the seal that tells an edited file, and the
 * comparison that names the first difference. Pure: no I/O but the write. */
#ifndef CVM_PLAN_FILE_H
#define CVM_PLAN_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Saved plans larger than this are refused unread. */
#define PLAN_FILE_MAX_BYTES (64u << 20)

typedef struct saved_plan {
	json_t *doc; /* the whole document (owned) */
	int major, minor;
	const char *cvmctl_version;
	const char *scope;
	const char *installation; /* NULL when the plan names none */
	const char **paths;       /* the tree as given to plan (owned array, borrowed strings) */
	size_t n_paths;
	const char *content_hash;
	const char *revision; /* NULL */
	bool allow_replace, allow_empty;
	long max_deletions; /* < 0: none */
	bool sealed;        /* its checksum matches its content */
} saved_plan_t;

/* Parses a saved plan. 0, or -EINVAL with *err a sentence (not JSON, not a
 * cvmctl plan, a format_version this cvmctl does not read, a member missing
 * or of the wrong type). An edited plan parses (sealed false). */
int saved_plan_parse(const char *buf, size_t len, saved_plan_t *out, char **err);
void saved_plan_free(saved_plan_t *p);

/* Sets root's "checksum": "sha256:" and the hex SHA-256 of root without
 * it, dumped with sorted keys and no whitespace. */
void plan_doc_seal(json_t *root);
/* Whether root's checksum matches the rest of it. */
bool plan_doc_sealed(const json_t *root);

/* Compares a saved plan with the one computed now (both plan_to_json_value
 * documents), leaving out what does not decide what is done (the checksum,
 * the tree's paths and revision). 0 when they agree, else 1 with *what one
 * sentence naming the first difference. */
int plan_doc_compare(const json_t *saved, const json_t *now, char **what);

/* Writes the plan text to path atomically, mode 0600. 0 or -errno. */
int plan_file_write(const char *path, const char *text);

#endif
