/* The guest metadata server (plain HTTP, its own port): instance attributes
 * with ETag and wait_for_change hanging GETs, the service account's token,
 * and the few identity values Google's clients read. Every answer needs the
 * request header Metadata-Flavor: Google (403 without) and carries it back.
 * It answers for the instance chosen by POST /emulator/metadata-instance,
 * or for the only instance when there is one. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "emu.h"

static struct instance *md_instance(void)
{
	if (emu.md_zone) {
		for (struct instance *in = emu.instances; in; in = in->next)
			if (strcmp(in->zone, emu.md_zone) == 0 && strcmp(in->name, emu.md_name) == 0)
				return in;
		return NULL;
	}
	if (emu.instances && !emu.instances->next)
		return emu.instances;
	return NULL;
}

static const char *attr_value(struct instance *in, const char *key)
{
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(json_object_get(in->res, "metadata"), "items"), i, it)
		if (strcmp(json_string_value(json_object_get(it, "key")), key) == 0)
			return json_string_value(json_object_get(it, "value")) ?: "";
	return NULL;
}

static void etag_of(const char *v, char out[17])
{
	if (!v) {
		strcpy(out, "0");
		return;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(v, strlen(v), md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void text(struct req *r, int status, const char *body)
{
	reply_text(r, status, "application/text", body);
	reply_header(r, "Metadata-Flavor", "Google");
}

static void not_found(struct req *r)
{
	reply_text(r, 404, "text/html; charset=UTF-8", "<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n");
	reply_header(r, "Metadata-Flavor", "Google");
}

/* Waits (under emu.lock) until KEY's ETag differs from last, for at most
 * timeout_s seconds or until the emulator stops. */
static void wait_change(const char *key, const char *last, long timeout_s)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_s;
	emu.md_waiters++;
	for (;;) {
		struct instance *in = md_instance();
		char tag[17];
		etag_of(in ? attr_value(in, key) : NULL, tag);
		if (strcmp(tag, last) != 0 || emu.stopping ||
		    pthread_cond_timedwait(&emu.changed, &emu.lock, &until) == ETIMEDOUT)
			break;
	}
	emu.md_waiters--;
}

static void attributes(struct req *r, const char *key)
{
	struct instance *in = md_instance();
	if (!*key) {
		if (!in) {
			not_found(r);
			return;
		}
		const char *rec = req_arg(r, "recursive");
		json_t *items = json_object_get(json_object_get(in->res, "metadata"), "items");
		if (rec && strcmp(rec, "true") == 0) {
			json_t *o = json_object();
			size_t i;
			json_t *it;
			json_array_foreach(items, i, it)
				json_object_set(o, json_string_value(json_object_get(it, "key")), json_object_get(it, "value"));
			reply_json(r, 200, o);
			r->ctype = "application/json"; /* google-auth compares it exactly */
			reply_header(r, "Metadata-Flavor", "Google");
			return;
		}
		size_t cap = 1, i;
		json_t *it;
		json_array_foreach(items, i, it)
			cap += strlen(json_string_value(json_object_get(it, "key"))) + 1;
		_cleanup_free_ char *list = calloc(1, cap);
		if (!list)
			abort();
		json_array_foreach(items, i, it) {
			strcat(list, json_string_value(json_object_get(it, "key")));
			strcat(list, "\n");
		}
		text(r, 200, list);
		return;
	}
	const char *wfc = req_arg(r, "wait_for_change");
	if (wfc && strcmp(wfc, "true") == 0) {
		const char *last = req_arg(r, "last_etag");
		char cur[17];
		etag_of(in ? attr_value(in, key) : NULL, cur);
		const char *ts = req_arg(r, "timeout_sec");
		long timeout = ts ? atol(ts) : 60;
		if (timeout <= 0 || timeout > 3600)
			timeout = 60;
		char want[17];
		snprintf(want, sizeof(want), "%s", last ? last : cur);
		if (strcmp(want, cur) == 0)
			wait_change(key, want, timeout);
		in = md_instance();
	}
	const char *v = in ? attr_value(in, key) : NULL;
	if (!v) {
		not_found(r);
		return;
	}
	char tag[17];
	etag_of(v, tag);
	text(r, 200, v);
	reply_header(r, "ETag", tag);
}

/* instance/service-accounts/{default|EMAIL}/REST -> REST ("" for the
 * account itself); NULL for other paths or unknown accounts. */
static const char *service_account_path(const char *p)
{
	static const char prefix[] = "instance/service-accounts/";
	if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
		return NULL;
	p += sizeof(prefix) - 1;
	const char *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	bool known = n == 7 && strncmp(p, "default", 7) == 0;
	for (size_t i = 0; !known && i < emu.n_keys; i++)
		known = strlen(emu.keys[i].email) == n && strncmp(p, emu.keys[i].email, n) == 0;
	if (!known)
		return NULL;
	return slash ? slash + 1 : "";
}

void metadata_route(struct req *r)
{
	if (strcmp(r->path, "/") == 0) {
		text(r, 200, "computeMetadata/\n");
		return;
	}
	const char *flavor = req_header(r, "Metadata-Flavor");
	if (!flavor || strcasecmp(flavor, "Google") != 0) {
		reply_text(r, 403, "text/html; charset=UTF-8",
			   "Your client does not have permission to get URL from this server. Missing Metadata-Flavor:Google "
			   "header.\n");
		reply_header(r, "Metadata-Flavor", "Google");
		return;
	}
	if (strcmp(r->method, "GET") != 0) {
		text(r, 405, "Method Not Allowed\n");
		return;
	}
	const char *p = r->path;
	if (strncmp(p, "/computeMetadata/v1/", 20) != 0) {
		not_found(r);
		return;
	}
	p += 20;
	const char *email = emu.n_keys ? emu.keys[0].email : "default";
	const char *sa_rest = service_account_path(p);
	if (strncmp(p, "instance/attributes/", 20) == 0) {
		attributes(r, p + 20);
	} else if (sa_rest && strcmp(sa_rest, "token") == 0) {
		oauth_metadata_token(r);
		r->ctype = "application/json";
		reply_header(r, "Metadata-Flavor", "Google");
	} else if (sa_rest && strcmp(sa_rest, "email") == 0) {
		text(r, 200, email);
	} else if (sa_rest && (strcmp(sa_rest, "") == 0 || strcmp(sa_rest, "/") == 0)) {
		reply_json(r, 200, json_pack("{s:[s,s],s:s,s:[s]}", "aliases", "default", email, "email", email, "scopes",
					     "https://www.googleapis.com/auth/cloud-platform"));
		r->ctype = "application/json";
		reply_header(r, "Metadata-Flavor", "Google");
	} else if (strcmp(p, "project/project-id") == 0) {
		text(r, 200, emu.projects[0]);
	} else if (strcmp(p, "project/numeric-project-id") == 0) {
		text(r, 200, "123456789012");
	} else {
		struct instance *in = md_instance();
		if (!in) {
			not_found(r);
			return;
		}
		_cleanup_free_ char *v = NULL;
		if (strcmp(p, "instance/zone") == 0)
			v = xasprintf("projects/123456789012/zones/%s", in->zone);
		else if (strcmp(p, "instance/name") == 0)
			v = xstrdup(in->name);
		else if (strcmp(p, "instance/id") == 0)
			v = xstrdup(json_string_value(json_object_get(in->res, "id")));
		else if (strcmp(p, "instance/hostname") == 0)
			v = xasprintf("%s.%s.c.%s.internal", in->name, in->zone, in->project);
		if (!v) {
			not_found(r);
			return;
		}
		text(r, 200, v);
	}
}
