/* The Instance Metadata Service as a VM sees it, on plain HTTP: userData
 * (for cvmctl's in-guest refresher), the instance's compute metadata, and
 * managed-identity tokens. It answers for the VM a control call chose
 * (PUT /emulator/imds). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

static const char *const versions[] = {
	"2017-03-01", "2017-04-02", "2017-08-01", "2017-12-01", "2018-02-01", "2018-04-02", "2018-10-01",
	"2019-02-01", "2019-03-11", "2019-04-30", "2019-06-01", "2019-06-04", "2019-08-01", "2019-08-15",
	"2019-11-01", "2020-06-01", "2020-07-15", "2020-09-01", "2020-10-01", "2020-12-01", "2021-01-01",
	"2021-02-01", "2021-03-01", "2021-05-01", "2021-10-01", "2021-11-01", "2021-11-15", "2021-12-13",
	"2022-02-01", "2022-03-01", "2022-07-01", "2022-08-01", "2023-07-01", "2023-11-15",
};

static json_t *newest(void)
{
	return json_pack("[s,s,s]", versions[ARRAY_SIZE(versions) - 1], versions[ARRAY_SIZE(versions) - 2],
			 versions[ARRAY_SIZE(versions) - 3]);
}

static bool version_ok(const char *v)
{
	for (size_t i = 0; v && i < ARRAY_SIZE(versions); i++)
		if (strcmp(versions[i], v) == 0)
			return true;
	return false;
}

static void bad(struct req *r, const char *msg, bool with_versions)
{
	json_t *b = json_pack("{s:s}", "error", msg);
	if (with_versions)
		json_object_set_new(b, "newest-versions", newest());
	reply_json(r, 400, b);
}

static void identity_token(struct req *r, struct res *vm)
{
	const char *resource = req_arg(r, "resource");
	if (!resource) {
		reply_json(r, 400, json_pack("{s:s,s:s}", "error", "invalid_request", "error_description",
					     "Required query variable 'resource' is missing"));
		return;
	}
	if (!streqi(resource, "https://management.azure.com/") && !streqi(resource, "https://management.azure.com") &&
	    !streqi(resource, "https://management.core.windows.net/")) {
		reply_json(r, 400, json_pack("{s:s,s:s}", "error", "invalid_resource", "error_description",
					     "AADSTS500011: The resource principal named was not found in the tenant."));
		return;
	}
	const char *it = vm ? json_string_value(json_object_get(json_object_get(vm->obj, "identity"), "type")) : NULL;
	if (!it || strcmp(it, "None") == 0) {
		reply_json(r, 400, json_pack("{s:s,s:s}", "error", "invalid_request", "error_description", "Identity not found"));
		return;
	}
	_cleanup_free_ char *tok = token_issue();
	long long now = now_wall();
	int life = emu.cfg.token_lifetime_s;
	char exp_in[24], exp_on[24], nb[24];
	snprintf(exp_in, sizeof(exp_in), "%d", life);
	snprintf(exp_on, sizeof(exp_on), "%lld", now + life);
	snprintf(nb, sizeof(nb), "%lld", now);
	/* IMDS, unlike the v2.0 endpoint, writes the numbers as strings */
	reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "access_token", tok, "client_id", emu.client_id,
				     "expires_in", exp_in, "expires_on", exp_on, "ext_expires_in", exp_in, "not_before", nb,
				     "resource", resource, "token_type", "Bearer"));
}

static json_t *compute_json(struct res *vm)
{
	json_t *p = json_object_get(vm->obj, "properties");
	json_t *tags = json_object_get(vm->obj, "tags");
	json_t *tl = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(tags, k, v)
		json_array_append_new(tl, json_pack("{s:s,s:O}", "name", k, "value", v));
	const char *size = json_string_value(json_object_get(json_object_get(p, "hardwareProfile"), "vmSize"));
	_cleanup_free_ char *rid = xstrdup(json_string_value(json_object_get(vm->obj, "id")));
	return json_pack("{s:s?,s:s?,s:s,s:s,s:s,s:s,s:s?,s:s,s:o,s:s,s:s}", "location",
			 json_string_value(json_object_get(vm->obj, "location")), "name",
			 json_string_value(json_object_get(vm->obj, "name")), "osType", "Linux", "resourceGroupName", vm->rg,
			 "resourceId", rid, "subscriptionId", vm->sub, "vmId", json_string_value(json_object_get(p, "vmId")),
			 "vmSize", size ? size : "", "tagsList", tl, "securityProfile", "", "userData",
			 vm->user_data ? vm->user_data : "");
}

void imds_route(struct req *r)
{
	r->token = NULL;
	log_request(r, req_arg(r, "api-version"));
	if (strncmp(r->path, "/metadata/", 10) != 0) {
		reply_json(r, 404, json_pack("{s:s}", "error", "Not found"));
		return;
	}
	if (req_header(r, "X-Forwarded-For")) {
		bad(r, "Bad request. Request has the X-Forwarded-For header, which is not allowed.", false);
		return;
	}
	const char *md = req_header(r, "Metadata");
	if (!md || strcasecmp(md, "true") != 0) {
		bad(r, "Bad request. Required metadata header not specified", false);
		return;
	}
	const char *v = req_arg(r, "api-version");
	if (!v) {
		bad(r, "Bad request. api-version was not specified in the request. For more information refer to "
		       "aka.ms/azureimds", true);
		return;
	}
	if (!version_ok(v)) {
		bad(r, "Bad request. api-version is invalid or was not specified in the request. For more information "
		       "refer to aka.ms/azureimds", true);
		return;
	}
	struct res *vm = emu.imds_key ? res_find(emu.imds_key) : NULL;
	if (strcmp(r->path, "/metadata/identity/oauth2/token") == 0) {
		identity_token(r, vm);
		return;
	}
	if (!vm) {
		reply_json(r, 404, json_pack("{s:s}", "error", "Not found: no instance chosen (PUT /emulator/imds)"));
		return;
	}
	const char *format = req_arg(r, "format");
	if (strcmp(r->path, "/metadata/instance/compute/userData") == 0) {
		if (!format || strcmp(format, "text") != 0) {
			bad(r, "Bad request. The leaf node must use the text format (format=text).", false);
			return;
		}
		reply_text(r, 200, "text/plain; charset=utf-8", vm->user_data ? vm->user_data : "");
		return;
	}
	if (strcmp(r->path, "/metadata/instance") == 0 || strcmp(r->path, "/metadata/instance/compute") == 0) {
		if (format && strcmp(format, "json") != 0) {
			bad(r, "Bad request. Only the json format is supported for non-leaf nodes.", false);
			return;
		}
		json_t *c = compute_json(vm);
		if (strcmp(r->path, "/metadata/instance") == 0)
			reply_json(r, 200, json_pack("{s:o,s:{s:[]}}", "compute", c, "network", "interface"));
		else
			reply_json(r, 200, c);
		return;
	}
	reply_json(r, 404, json_pack("{s:s}", "error", "Not found"));
}
