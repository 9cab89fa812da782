/* Helpers shared by the command files. */
#include "reconciler/cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"

globals_t G = {.scope = CVM_DEFAULT_SCOPE, .lock_timeout_ms = 30000};

const char *state_dir(void) {
	static char *computed;
	if (G.state_dir) return G.state_dir;
	if (computed) return computed;
	const char *e = getenv("CVMCTL_STATE_DIR");
	if (e && *e)
		computed = xstrdup(e);
	else if ((e = getenv("XDG_STATE_HOME")) && *e)
		computed = xasprintf("%s/cvmctl", e);
	else if (geteuid() == 0)
		computed = xstrdup("/var/lib/cvmctl");
	else
		computed = xasprintf("%s/.local/state/cvmctl", getenv("HOME") ? getenv("HOME") : "/tmp");
	return computed;
}

/* A state directory that is not one, is not ours, or lost its database is
 * the operator's to fix: invalid input, nothing changed. */
static int open_error_code(int r) {
	return r == -EEXIST || r == -EPERM || r == -ENOTDIR || r == -EUCLEAN ? EXIT_INVALID : EXIT_FAILED;
}

int open_store(store_t **out) {
	int r = store_open(state_dir(), G.installation, out);
	if (r < 0) {
		log_error("cannot open the state in %s: %s", state_dir(), store_errmsg(NULL));
		return open_error_code(r);
	}
	return 0;
}

static char *ephemeral_dir; /* the empty state a reading command made */

int open_store_for_reading(store_t **out) {
	_cleanup_free_ char *db = xasprintf("%s/state.db", state_dir());
	if (access(db, F_OK) == 0) return open_store(out);
	int r = store_check_dir(state_dir(), G.installation);
	if (r < 0) {
		log_error("cannot read the state in %s: %s", state_dir(), store_errmsg(NULL));
		return open_error_code(r);
	}
	log_debug("no state in %s yet: reading an empty one", state_dir());
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *tmpl = xasprintf("%s/cvmctl-empty.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		log_error("cannot make a temporary directory: %s", strerror(errno));
		return EXIT_FAILED;
	}
	ephemeral_dir = xstrdup(tmpl);
	r = store_open(ephemeral_dir, G.installation, out);
	if (r < 0) {
		log_error("cannot open an empty state: %s", store_errmsg(NULL));
		close_store(*out);
		*out = NULL;
		return EXIT_FAILED;
	}
	return 0;
}

void close_store(store_t *s) {
	if (s) store_close(s);
	if (!ephemeral_dir) return;
	/* Only what store_open makes lives there. */
	static const char *const files[] = {"state.db", "state.db-wal", "state.db-shm", "lock"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", ephemeral_dir, files[i]);
		unlink(f);
	}
	rmdir(ephemeral_dir);
	free(ephemeral_dir);
	ephemeral_dir = NULL;
}

int lock_store(store_t *s) {
	_cleanup_free_ char *holder = NULL;
	int r = store_lock(s, G.lock_timeout_ms, &holder);
	if (r == -EWOULDBLOCK) {
		log_error("the state in %s is locked by another cvmctl (%s); gave up after %d ms", state_dir(),
		          holder ? holder : "holder unknown", G.lock_timeout_ms);
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_error("cannot lock the state in %s: %s", state_dir(), store_errmsg(s));
		return EXIT_FAILED;
	}
	return 0;
}

int parse_output_format(const char *s, bool allow_wide) {
	if (strcmp(s, "table") == 0) return OUT_TABLE;
	if (allow_wide && strcmp(s, "wide") == 0) return OUT_WIDE;
	if (strcmp(s, "json") == 0) return OUT_JSON;
	if (strcmp(s, "yaml") == 0) return OUT_YAML;
	log_error("-o/--output takes table%s, json or yaml, not '%s'", allow_wide ? ", wide" : "", s);
	return -1;
}

int usage_error(const char *cmd, const char *fmt, ...) {
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_get_format() == LOG_JSON) {
		log_error("%s%s%s", cmd ? cmd : "", cmd ? ": " : "", msg);
		return EXIT_INVALID;
	}
	/* The message quotes arguments: no raw terminal escapes. */
	strbuf sb = {0};
	sb_add_escaped(&sb, msg, strlen(msg));
	if (cmd)
		fprintf(stderr, "cvmctl %s: %s (see 'cvmctl %s --help')\n", cmd, sb.buf, cmd);
	else
		fprintf(stderr, "cvmctl: %s\n", sb.buf);
	sb_free(&sb);
	return EXIT_INVALID;
}

int find_cvm_or_fail(store_t *s, const char *name_or_id, cvm_record_t *out) {
	int r = store_find_cvm(s, name_or_id, out);
	if (r == -ENOENT) {
		log_error("no CVM named or with id '%s' in %s", name_or_id, state_dir());
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_error("cannot read the state: %s", store_errmsg(s));
		return EXIT_FAILED;
	}
	return 0;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

json_t *cvm_record_json(const cvm_record_t *r) {
	char created[32], updated[32];
	format_time(r->created_at, created, sizeof created);
	format_time(r->updated_at, updated, sizeof updated);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:i, s:i, s:s, s:s, s:o, s:b, s:s}", "id", r->id, "name",
	                 r->name, "scope", r->scope, "flavor", r->flavor, "provider", r->provider, "placement",
	                 str_or_null(r->placement), "status", cvm_status_name(r->status), "url", str_or_null(r->url),
	                 "specHash", str_or_null(r->spec_hash), "vcpus", r->vcpus, "memoryGiB", r->memory_gib,
	                 "createdAt", created, "updatedAt", updated, "lastError", str_or_null(r->last_error), "suspended",
	                 r->suspended || r->spec_suspended, "deletionPolicy", r->orphan ? "Orphan" : "Delete");
}

json_t *cvm_conditions_json(store_t *s, const char *cvm_id) {
	json_t *arr = json_array();
	cvm_condition_t *v = NULL;
	size_t n = 0;
	if (store_list_conditions(s, cvm_id, &v, &n) < 0) {
		log_warn("cannot read the conditions of %s: %s", cvm_id, store_errmsg(s));
		return arr;
	}
	for (size_t i = 0; i < n; i++) {
		char lt[32];
		format_time(v[i].last_transition, lt, sizeof lt);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:s, s:o}", "type", v[i].type, "status",
		                                     cond_status_name(v[i].status), "reason", v[i].reason, "message",
		                                     str_or_null(v[i].message), "lastTransitionTime", lt, "specHash",
		                                     str_or_null(v[i].spec_hash)));
	}
	cvm_conditions_free(v, n);
	return arr;
}

static void yaml_scalar(const json_t *v) {
	switch (json_typeof(v)) {
	case JSON_STRING: {
		/* Quote always: values such as ids, "no" or "1e3" stay strings. */
		char esc[8192];
		json_escape(json_string_value(v), esc, sizeof esc);
		printf("\"%s\"", esc);
		break;
	}
	case JSON_INTEGER: printf("%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_REAL: printf("%g", json_real_value(v)); break;
	case JSON_TRUE: printf("true"); break;
	case JSON_FALSE: printf("false"); break;
	default: printf("null");
	}
}

static bool is_container(const json_t *v) {
	return (json_is_object(v) && json_object_size(v) > 0) || (json_is_array(v) && json_array_size(v) > 0);
}

static void yaml_node(const json_t *v, int indent) {
	if (json_is_object(v)) {
		const char *k;
		json_t *c;
		json_object_foreach((json_t *)v, k, c) {
			printf("%*s%s:", indent, "", k);
			if (is_container(c)) {
				printf("\n");
				yaml_node(c, indent + 2);
			} else {
				printf(" ");
				if (json_is_object(c)) printf("{}");
				else if (json_is_array(c)) printf("[]");
				else yaml_scalar(c);
				printf("\n");
			}
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *c;
		json_array_foreach(v, i, c) {
			if (is_container(c)) {
				printf("%*s-\n", indent, "");
				yaml_node(c, indent + 2);
			} else {
				printf("%*s- ", indent, "");
				yaml_scalar(c);
				printf("\n");
			}
		}
	} else {
		printf("%*s", indent, "");
		yaml_scalar(v);
		printf("\n");
	}
}

void print_json_as_yaml(const json_t *v) { yaml_node(v, 0); }
