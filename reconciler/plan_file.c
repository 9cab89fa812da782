/* Saved plans: reading, sealing, comparing, writing (plan_file.h).
 *
 * The reader trusts nothing: the file may be truncated, edited, of another
 * format, or not JSON at all. Every member apply needs is checked for
 * presence and type here, once, so that the rest of apply reads a
 * saved_plan_t and never the raw document. */
#include "reconciler/plan_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "reconciler/plan.h"

void saved_plan_free(saved_plan_t *p) {
	if (!p) return;
	json_decref(p->doc);
	free(p->paths);
	memset(p, 0, sizeof *p);
}

static char *dump_canonical(const json_t *v) {
	return json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The checksum of root without its own checksum member. */
static void checksum_of(const json_t *root, char out[72]) {
	_cleanup_(json_decrefp) json_t *copy = json_copy((json_t *)root);
	json_object_del(copy, "checksum");
	_cleanup_free_ char *s = dump_canonical(copy);
	if (!s) abort(); /* allocation failure only */
	char hex[65];
	sha256_hex(s, strlen(s), hex);
	snprintf(out, 72, "sha256:%s", hex);
}

void plan_doc_seal(json_t *root) {
	char sum[72];
	checksum_of(root, sum);
	json_object_set_new(root, "checksum", json_string(sum));
}

bool plan_doc_sealed(const json_t *root) {
	const char *have = json_string_value(json_object_get(root, "checksum"));
	if (!have) return false;
	char sum[72];
	checksum_of(root, sum);
	return strcmp(have, sum) == 0;
}

/* ---- reading ---- */

static int bad(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(char **err, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0) abort();
	va_end(ap);
	*err = m;
	return -EINVAL;
}

static int get_string(json_t *o, const char *key, const char *where, bool nullable, const char **out, char **err) {
	json_t *v = json_object_get(o, key);
	if (nullable && json_is_null(v)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, "not a usable cvmctl plan: %s%s must be a string%s", where, key, nullable ? " or null" : "");
	*out = json_string_value(v);
	return 0;
}

static int get_bool(json_t *o, const char *key, const char *where, bool *out, char **err) {
	json_t *v = json_object_get(o, key);
	if (!json_is_boolean(v)) return bad(err, "not a usable cvmctl plan: %s%s must be true or false", where, key);
	*out = json_is_true(v);
	return 0;
}

/* "M.N" with M and N small decimal numbers. */
static int parse_version(const char *s, int *major, int *minor) {
	char *end;
	errno = 0;
	long ma = strtol(s, &end, 10);
	if (errno || end == s || *end != '.' || ma < 0 || ma > 1000) return -EINVAL;
	const char *m = end + 1;
	long mi = strtol(m, &end, 10);
	if (errno || end == m || *end || mi < 0 || mi > 1000 || s[0] == '-' || s[0] == '+' || m[0] == '-' || m[0] == '+')
		return -EINVAL;
	*major = (int)ma;
	*minor = (int)mi;
	return 0;
}

static int parse_members(saved_plan_t *p, char **err) {
	json_t *root = p->doc;
	json_t *fv = json_object_get(root, "format_version");
	if (!fv) return bad(err, "not a cvmctl plan: it has no format_version");
	if (json_is_integer(fv))
		return bad(err, "plan format_version %" JSON_INTEGER_FORMAT " is not supported: this cvmctl reads %d.x; "
		                "make the plan again with this cvmctl",
		           json_integer_value(fv), PLAN_FORMAT_MAJOR);
	if (!json_is_string(fv) || parse_version(json_string_value(fv), &p->major, &p->minor) < 0)
		return bad(err, "not a cvmctl plan: format_version must be a string such as \"%d.%d\"", PLAN_FORMAT_MAJOR,
		           PLAN_FORMAT_MINOR);
	if (p->major != PLAN_FORMAT_MAJOR)
		return bad(err, "plan format_version %s is not supported: this cvmctl reads %d.x; make the plan again with "
		                "this cvmctl",
		           json_string_value(fv), PLAN_FORMAT_MAJOR);

	int r;
	if ((r = get_string(root, "cvmctl_version", "", false, &p->cvmctl_version, err)) < 0 ||
	    (r = get_string(root, "scope", "", false, &p->scope, err)) < 0 ||
	    (r = get_string(root, "installation_id", "", true, &p->installation, err)) < 0)
		return r;
	if (!*p->scope) return bad(err, "not a usable cvmctl plan: scope is empty");
	if (p->installation && !uuid_valid(p->installation))
		return bad(err, "not a usable cvmctl plan: installation_id is not a lower-case UUID");
	if (json_object_get(root, "invalid")) return bad(err, "the plan says the specs were invalid; it cannot be applied");

	json_t *tree = json_object_get(root, "tree");
	if (!json_is_object(tree)) return bad(err, "not a usable cvmctl plan: tree must be an object");
	if ((r = get_string(tree, "content_hash", "tree.", false, &p->content_hash, err)) < 0 ||
	    (r = get_string(tree, "revision", "tree.", true, &p->revision, err)) < 0)
		return r;
	json_t *paths = json_object_get(tree, "paths");
	if (!json_is_array(paths) || json_array_size(paths) == 0)
		return bad(err, "not a usable cvmctl plan: tree.paths must be a list of one or more paths");
	p->n_paths = json_array_size(paths);
	p->paths = xcalloc(p->n_paths + 1, sizeof *p->paths);
	for (size_t i = 0; i < p->n_paths; i++) {
		const char *s = json_string_value(json_array_get(paths, i));
		if (!s || !*s) return bad(err, "not a usable cvmctl plan: tree.paths[%zu] must be a non-empty string", i);
		p->paths[i] = s;
	}

	json_t *flags = json_object_get(root, "flags");
	if (!json_is_object(flags)) return bad(err, "not a usable cvmctl plan: flags must be an object");
	if ((r = get_bool(flags, "allow_replace", "flags.", &p->allow_replace, err)) < 0 ||
	    (r = get_bool(flags, "allow_empty", "flags.", &p->allow_empty, err)) < 0)
		return r;
	json_t *md = json_object_get(flags, "max_deletions");
	if (json_is_null(md))
		p->max_deletions = -1;
	else if (json_is_integer(md) && json_integer_value(md) >= 0 && json_integer_value(md) <= 1000000000)
		p->max_deletions = (long)json_integer_value(md);
	else
		return bad(err, "not a usable cvmctl plan: flags.max_deletions must be a whole number or null");

	json_t *actions = json_object_get(root, "actions");
	if (!json_is_array(actions)) return bad(err, "not a usable cvmctl plan: actions must be a list");
	size_t i;
	json_t *a;
	json_array_foreach(actions, i, a) {
		if (!json_is_object(a) || !json_is_string(json_object_get(a, "action")) ||
		    !json_is_string(json_object_get(a, "name")))
			return bad(err, "not a usable cvmctl plan: actions[%zu] must be an object with an action and a name", i);
	}
	if (!json_is_string(json_object_get(root, "checksum")))
		return bad(err, "not a usable cvmctl plan: it has no checksum");
	p->sealed = plan_doc_sealed(root);
	return 0;
}

int saved_plan_parse(const char *buf, size_t len, saved_plan_t *out, char **err) {
	memset(out, 0, sizeof *out);
	*err = NULL;
	if (len > PLAN_FILE_MAX_BYTES)
		return bad(err, "the plan is %zu bytes, more than the %u a plan may have", len, PLAN_FILE_MAX_BYTES);
	json_error_t je;
	out->doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!out->doc) return bad(err, "not a JSON plan: line %d, column %d: %s", je.line, je.column, je.text);
	int r = json_is_object(out->doc) ? parse_members(out, err)
	                                 : bad(err, "not a cvmctl plan: the JSON document is not an object");
	if (r < 0) saved_plan_free(out);
	return r;
}

/* ---- comparing ---- */

/* A short rendering of a value for a sentence. */
static char *show(const json_t *v) {
	if (!v) return xstrdup("absent");
	_cleanup_free_ char *s = dump_canonical(v);
	if (!s) return xstrdup("?");
	if (strlen(s) > 120) return xasprintf("%.117s...", s);
	return xstrdup(s);
}

/* The first difference between a and b below path: 1 with *path_out (the
 * path, "" at the top) and *va, *vb (borrowed: NULL when absent), or 0. */
static int first_diff(const json_t *a, const json_t *b, const char *path, char **path_out, const json_t **va,
                      const json_t **vb) {
	if (a && b && json_equal((json_t *)a, (json_t *)b)) return 0;
	if (json_is_object(a) && json_is_object(b)) {
		/* keys in sorted order, from both sides */
		size_t n = 0, cap = json_object_size(a) + json_object_size(b) + 1;
		_cleanup_free_ const char **keys = xcalloc(cap, sizeof *keys);
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)a, k, v) keys[n++] = k;
		json_object_foreach((json_t *)b, k, v) if (!json_object_get(a, k)) keys[n++] = k;
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
				const char *t = keys[j];
				keys[j] = keys[j - 1];
				keys[j - 1] = t;
			}
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *sub = *path ? xasprintf("%s.%s", path, keys[i]) : xstrdup(keys[i]);
			if (first_diff(json_object_get(a, keys[i]), json_object_get(b, keys[i]), sub, path_out, va, vb))
				return 1;
		}
		return 0;
	}
	if (json_is_array(a) && json_is_array(b)) {
		size_t na = json_array_size(a), nb = json_array_size(b);
		for (size_t i = 0; i < na || i < nb; i++) {
			_cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
			if (first_diff(json_array_get(a, i), json_array_get(b, i), sub, path_out, va, vb)) return 1;
		}
		return 0;
	}
	*path_out = xstrdup(path);
	*va = a;
	*vb = b;
	return 1;
}

/* "create web-2 (new)" */
static char *describe_action(const json_t *a) {
	const char *code = json_string_value(json_object_get(a, "reason_code"));
	return xasprintf("%s %s%s%s%s", json_string_value(json_object_get(a, "action")),
	                 json_string_value(json_object_get(a, "name")), code ? " (" : "", code ? code : "", code ? ")" : "");
}

static bool same_action(const json_t *a, const json_t *b) {
	static const char *const keys[] = {"action", "name", "id"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i]))) return false;
	return true;
}

static int compare_actions(const json_t *sa, const json_t *na, char **what) {
	size_t ns = json_array_size(sa), nn = json_array_size(na);
	for (size_t i = 0; i < ns || i < nn; i++) {
		const json_t *s = json_array_get(sa, i), *n = json_array_get(na, i);
		if (s && n && json_equal((json_t *)s, (json_t *)n)) continue;
		if (!n) {
			_cleanup_free_ char *d = describe_action(s);
			*what = xasprintf("the plan's action %zu, %s, is no longer what a reconcile would do", i + 1, d);
			return 1;
		}
		if (!s) {
			_cleanup_free_ char *d = describe_action(n);
			*what = xasprintf("a reconcile would now also do %s, which the plan does not have", d);
			return 1;
		}
		_cleanup_free_ char *ds = describe_action(s), *dn = describe_action(n);
		const char *is = json_string_value(json_object_get(s, "id")), *in = json_string_value(json_object_get(n, "id"));
		if (!same_action(s, n) && json_equal(json_object_get(s, "action"), json_object_get(n, "action")) &&
		    json_equal(json_object_get(s, "name"), json_object_get(n, "name"))) {
			*what = xasprintf("the plan's %s is for the CVM with id %s, but a reconcile would now act on id %s", ds,
			                  is ? is : "(none)", in ? in : "(none)");
			return 1;
		}
		if (!same_action(s, n) || !json_equal(json_object_get(s, "reason_code"), json_object_get(n, "reason_code"))) {
			*what = xasprintf("action %zu of the plan is %s, but a reconcile would now do %s", i + 1, ds, dn);
			return 1;
		}
		_cleanup_free_ char *path = NULL;
		const json_t *vs = NULL, *vn = NULL;
		first_diff(s, n, "", &path, &vs, &vn);
		_cleanup_free_ char *ss = show(vs), *sn = show(vn);
		*what = xasprintf("the plan's %s differs from what a reconcile would do now: %s is %s in the plan, %s now", ds,
		                  path ? path : "?", ss, sn);
		return 1;
	}
	return 0;
}

int plan_doc_compare(const json_t *saved, const json_t *now, char **what) {
	*what = NULL;
	/* The members that say what the plan was made with, first: each has a
	 * sentence of its own. */
	static const struct {
		const char *key, *what;
	} heads[] = {
	    {"format_version", "it was written in another format"},
	    {"cvmctl_version", "it was made by another version of cvmctl"},
	    {"installation_id", "it was made for another state (installation)"},
	    {"scope", "it was made for another scope"},
	    {"flags", "it was made with other safety flags"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
		const json_t *a = json_object_get(saved, heads[i].key), *b = json_object_get(now, heads[i].key);
		if (a && b && json_equal((json_t *)a, (json_t *)b)) continue;
		_cleanup_free_ char *path = NULL;
		const json_t *va = NULL, *vb = NULL;
		first_diff(a, b, heads[i].key, &path, &va, &vb);
		_cleanup_free_ char *sa = show(va), *sb = show(vb);
		*what = xasprintf("%s: %s is %s in the plan, %s now", heads[i].what, path ? path : heads[i].key, sa, sb);
		return 1;
	}
	const json_t *ts = json_object_get(json_object_get(saved, "tree"), "content_hash");
	const json_t *tn = json_object_get(json_object_get(now, "tree"), "content_hash");
	if (!ts || !tn || !json_equal((json_t *)ts, (json_t *)tn)) {
		_cleanup_free_ char *sa = show(ts), *sb = show(tn);
		*what = xasprintf("the spec tree changed since the plan was made: its content hash is %s in the plan, %s now",
		                  sa, sb);
		return 1;
	}
	if (compare_actions(json_object_get(saved, "actions"), json_object_get(now, "actions"), what)) return 1;

	/* Anything else (the summary, members a later minor version added). */
	_cleanup_(json_decrefp) json_t *a = json_copy((json_t *)saved);
	_cleanup_(json_decrefp) json_t *b = json_copy((json_t *)now);
	static const char *const skip[] = {"checksum", "tree", "actions"};
	for (size_t i = 0; i < ARRAY_SIZE(skip); i++) {
		json_object_del(a, skip[i]);
		json_object_del(b, skip[i]);
	}
	_cleanup_free_ char *path = NULL;
	const json_t *va = NULL, *vb = NULL;
	if (first_diff(a, b, "", &path, &va, &vb)) {
		_cleanup_free_ char *sa = show(va), *sb = show(vb);
		*what = xasprintf("%s is %s in the plan, %s now", path && *path ? path : "the document", sa, sb);
		return 1;
	}
	return 0;
}

int plan_file_write(const char *path, const char *text) {
	_cleanup_free_ char *data = xasprintf("%s\n", text);
	return write_file_atomic(path, data, strlen(data), 0600);
}
