/* What a backend declares about itself, as data: its Provider fields (their
 * types, defaults, offline checks and what a change does to the CVMs already
 * on it), its size rules, its placement noun and its guest file layout.
 *
 * The table lives in the backend's folder (providers/NAME/schema.c); specs/
 * checks a Provider document against it and the engine plans with it, and
 * neither knows which backend it is. Adding a backend setting is one row in
 * the backend's table (and the docs), nothing else. This header sits in
 * common/ because specs/ and providers/ may not include each other. */
#ifndef CVM_COMMON_SCHEMA_H
#define CVM_COMMON_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum field_type {
	FT_STRING,
	FT_BOOL,
	FT_INT,
	FT_STRINGS,  /* a list of strings */
	FT_DURATION, /* "30s", "1m30s"; stored as integer seconds */
	FT_OBJECT,   /* a mapping with fields of its own */
	FT_PATH,     /* a file or directory: a string that must be an absolute path */
} field_type_t;

/* What changing a Provider field does to the CVMs already on that provider. */
typedef enum field_effect {
	FX_NONE,    /* nothing: only later calls see it (endpoints, limits, credentials) */
	FX_UPDATE,  /* rolled out in place to each CVM (the plan shows an update) */
	FX_REPLACE, /* each CVM must be recreated to see it (the plan shows a replace) */
} field_effect_t;

typedef struct field_def {
	const char *name; /* as written in YAML: "cpuModel"; NULL ends a table */
	field_type_t type;
	bool required;
	const char *dflt; /* the default as JSON text ("\"EPYC-Milan\"", "true", "8"); NULL: none */
	field_effect_t effect;
	const struct field_def *fields; /* FT_OBJECT: its own fields */
	int min, max;                   /* FT_INT / FT_DURATION bounds, checked when min < max */
	const char *const *values;      /* FT_STRING: the allowed values (NULL-terminated), or NULL */
	/* An offline check of one string (FT_STRING, FT_PATH, or each FT_STRINGS item):
	 * NULL when fine, else a malloc'ed message. Opens no file or socket. */
	char *(*check)(const char *value);
	const char *doc; /* one line, for the reference and `cvmctl explain` */
	/* Wording, so that a generic check reads like a hand-written one.
	 * noun: what one value (or FT_STRINGS item) is called, "host" in
	 * "host 'x' is listed twice", "domain type" in "unknown domain type
	 * 'xen'"; NULL: the field's name in words (domainType -> domain type).
	 * what: FT_STRINGS / FT_OBJECT, the expected value in a type error
	 * ("a list of libvirt URIs"); NULL: from the type. */
	const char *noun;
	const char *what;
} field_def_t;

/* Reports one problem; `field` is relative to the Provider's spec
 * ("hosts[1]", "capacity.vcpus"); the caller adds file:line:column. */
typedef void (*schema_report_fn)(void *ctx, const char *field, const char *msg);

typedef struct backend_schema {
	const char *flavor;        /* the Provider `type` and the CVM `flavor` */
	const char *place_noun;    /* the word for a placement: "host", "zone", "location" */
	const field_def_t *fields; /* the Provider's own fields (not type, controlPlaneURL, ...) */
	/* The field a secret is read from ("credentialsFile"), named when a
	 * secret is pasted inline; NULL: the backend takes none. */
	const char *secret_file_field;
	/* A backend for tests (fake): accepted like any other, but not offered
	 * in "expected gcp, azure or manager", so messages read the same in
	 * every build. */
	bool unlisted;
	/* Checks across fields, after defaults: "firmware is required unless
	 * insecureNoSEV". A field whose value was already reported is absent
	 * from settings, and reports about it are dropped (one mistake, one
	 * line). May be NULL. */
	void (*check)(const json_t *settings, schema_report_fn report, void *ctx);

	/* Sizes: the CVM's vcpus and memoryGiB. */
	int min_vcpus, max_vcpus, default_vcpus;
	int (*default_memory_gib)(int vcpus);
	/* The backend's own size rules (machine shapes, memory limits), asked
	 * once vcpus is within min_vcpus..max_vcpus and memory_gib >= 1 (the
	 * validator checks those from the numbers above). May be NULL.
	 * 0, or -EINVAL with *field ("vcpus" | "memoryGiB") and a message
	 * naming the limit. */
	int (*check_size)(int vcpus, int memory_gib, const char **field, char *msg, size_t n);
	/* The backend's own name for a size ("n2d-standard-8",
	 * "Standard_DC8as_v5"); NULL when it has none. Caller frees. */
	char *(*size_name)(int vcpus, int memory_gib);

	/* CVM spec fields (as the plan names them: "spec.vcpus") that this
	 * backend cannot change on a live resource; NULL-terminated. */
	const char *const *replace_fields;

	/* The engine's limits for this backend when the Provider sets none
	 * (0: the engine's own defaults, reconciler/sched.h): operations in
	 * flight, and mutating requests per second. A cloud's API quota is not
	 * a libvirt host's. */
	int default_concurrency;
	double default_requests_per_second;

	/* Where the agent finds its files inside the guest. */
	const char *guest_cert_dir; /* "/etc/cocos/certs" */
	const char *guest_env_file; /* "/etc/cocos/environment" */
} backend_schema_t;

/* The field of that name in a table, or NULL. */
const field_def_t *schema_field(const field_def_t *fields, const char *name);

#endif
