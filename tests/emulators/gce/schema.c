/* Request bodies checked against the wire schema taken from Google's own
 * client (compute-v1.schema.json, plus the Firewall messages): an unknown
 * field, a wrong JSON type or a value outside an enum gets the 400 that
 * Google's JSON front end sends, naming the field by its proto path. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

extern const char gce_schema_json[];
static json_t *schema;

int schema_load(void)
{
	json_error_t err;
	schema = json_loads(gce_schema_json, 0, &err);
	if (!schema) {
		fprintf(stderr, "gce-emu: the built-in schema is broken: %s at %d\n", err.text, err.line);
		return -1;
	}
	return 0;
}

/* onHostMaintenance -> on_host_maintenance, as the proto path names it. */
static char *snake(const char *camel)
{
	size_t n = strlen(camel);
	char *s = malloc(n * 2 + 1), *o = s;
	if (!s)
		abort();
	for (const char *p = camel; *p; p++) {
		if (isupper((unsigned char)*p) && p != camel) {
			*o++ = '_';
			*o++ = (char)tolower((unsigned char)*p);
		} else {
			*o++ = (char)tolower((unsigned char)*p);
		}
	}
	*o = 0;
	return s;
}

static void bad(struct req *r, const char *field, const char *msg)
{
	json_t *v = error_body(400, "global", "invalid", "INVALID_ARGUMENT", msg);
	json_object_set_new(json_object_get(v, "error"), "details",
			    json_pack("[{s:s,s:[{s:s,s:s}]}]", "@type", "type.googleapis.com/google.rpc.BadRequest",
				      "fieldViolations", "field", field, "description", msg));
	reply_json(r, 400, v);
}

static int bad_value(struct req *r, const char *path, const char *what, json_t *v)
{
	_cleanup_free_ char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	_cleanup_free_ char *msg = xasprintf("Invalid value at '%s' (%s), %s", path, what, shown ? shown : "?");
	bad(r, path, msg);
	return -1;
}

static int check_msg(struct req *r, json_t *obj, const char *msg, const char *path);

static const char *type_word(const char *t)
{
	if (strcmp(t, "string") == 0)
		return "TYPE_STRING";
	if (strcmp(t, "bool") == 0)
		return "TYPE_BOOL";
	if (strcmp(t, "int32") == 0)
		return "TYPE_INT32";
	if (strcmp(t, "int64") == 0)
		return "TYPE_INT64";
	if (strcmp(t, "uint64") == 0)
		return "TYPE_UINT64";
	if (strcmp(t, "double") == 0)
		return "TYPE_DOUBLE";
	return "TYPE_MESSAGE";
}

static bool numeric_string(const char *s, bool integer)
{
	if (!*s)
		return false;
	char *end;
	if (integer)
		(void)strtoll(s, &end, 10);
	else
		(void)strtod(s, &end);
	return *end == 0;
}

static int check_scalar(struct req *r, json_t *v, json_t *def, const char *owner, const char *field,
			const char *path)
{
	const char *t = json_string_value(json_object_get(def, "type"));
	json_t *en = json_object_get(def, "enum");
	if (json_is_null(v))
		return 0; /* proto3 JSON: null is the default value */
	if (en) {
		if (json_is_string(v)) {
			size_t i;
			json_t *e;
			json_array_foreach(en, i, e)
				if (strcmp(json_string_value(e), json_string_value(v)) == 0)
					return 0;
		}
		char *camel = xstrdup(field);
		camel[0] = (char)toupper((unsigned char)camel[0]);
		_cleanup_free_ char *what = xasprintf("type.googleapis.com/google.cloud.compute.v1.%s.%s", owner, camel);
		free(camel);
		return bad_value(r, path, what, v);
	}
	if (strcmp(t, "string") == 0) {
		if (!json_is_string(v))
			return bad_value(r, path, "TYPE_STRING", v);
	} else if (strcmp(t, "bool") == 0) {
		if (!json_is_boolean(v))
			return bad_value(r, path, "TYPE_BOOL", v);
	} else if (strncmp(t, "int", 3) == 0 || strncmp(t, "uint", 4) == 0) {
		if (!(json_is_integer(v) || (json_is_string(v) && numeric_string(json_string_value(v), true))))
			return bad_value(r, path, type_word(t), v);
		if (t[0] == 'u' && ((json_is_integer(v) && json_integer_value(v) < 0) ||
				    (json_is_string(v) && json_string_value(v)[0] == '-')))
			return bad_value(r, path, type_word(t), v);
	} else if (strcmp(t, "double") == 0 || strcmp(t, "float") == 0) {
		if (!(json_is_number(v) || (json_is_string(v) && numeric_string(json_string_value(v), false))))
			return bad_value(r, path, "TYPE_DOUBLE", v);
	} else if (strcmp(t, "google.protobuf.Any") == 0) {
		if (!json_is_object(v))
			return bad_value(r, path, "TYPE_MESSAGE", v);
	} else {
		if (!json_is_object(v)) {
			_cleanup_free_ char *what = xasprintf("type.googleapis.com/google.cloud.compute.v1.%s", t);
			return bad_value(r, path, what, v);
		}
		return check_msg(r, v, t, path);
	}
	return 0;
}

static int check_field(struct req *r, json_t *v, json_t *def, const char *owner, const char *field, const char *path)
{
	if (json_is_null(v))
		return 0;
	if (json_object_get(def, "repeated")) {
		if (!json_is_array(v))
			return bad_value(r, path, "TYPE_MESSAGE", v);
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			_cleanup_free_ char *p = xasprintf("%s[%zu]", path, i);
			if (check_scalar(r, e, def, owner, field, p) < 0)
				return -1;
		}
		return 0;
	}
	if (json_object_get(def, "map")) {
		if (!json_is_object(v))
			return bad_value(r, path, "TYPE_MESSAGE", v);
		const char *k;
		json_t *e;
		json_object_foreach(v, k, e) {
			_cleanup_free_ char *p = xasprintf("%s[%s]", path, k);
			if (check_scalar(r, e, def, owner, field, p) < 0)
				return -1;
		}
		return 0;
	}
	return check_scalar(r, v, def, owner, field, path);
}

static int check_msg(struct req *r, json_t *obj, const char *msg, const char *path)
{
	json_t *m = json_object_get(schema, msg);
	if (!m)
		return 0; /* a message the schema does not describe: nothing to say */
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		json_t *def = json_object_get(m, k);
		if (!def) {
			_cleanup_free_ char *msgtext = xasprintf(
				"Invalid JSON payload received. Unknown name \"%s\" at '%s': Cannot find field.", k, path);
			bad(r, path, msgtext);
			return -1;
		}
		_cleanup_free_ char *sn = snake(k);
		_cleanup_free_ char *p = xasprintf("%s.%s", path, sn);
		if (check_field(r, v, def, msg, k, p) < 0)
			return -1;
	}
	return 0;
}

int schema_check(struct req *r, json_t *body, const char *message, const char *root)
{
	if (!json_is_object(body)) {
		bad(r, root, "Invalid JSON payload received. Expected an object.");
		return -1;
	}
	return check_msg(r, body, message, root);
}
