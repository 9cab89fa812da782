/* Compute v1 resources: instances (insert, get, list, aggregatedList,
 * delete, start, stop, setMetadata, setLabels), images, machine types and
 * firewalls, behind the bearer check, the rate limit and injected faults. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"


static const char *const image_projects[] = {"ubuntu-os-cloud", "debian-cloud"};

static char *fingerprint(void)
{
	unsigned char b[8];
	char out[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		abort();
	EVP_EncodeBlock((unsigned char *)out, b, sizeof(b));
	return xstrdup(out);
}

struct instance *instance_find(const char *project, const char *zone, const char *name)
{
	for (struct instance *in = emu.instances; in; in = in->next)
		if (strcmp(in->project, project) == 0 && strcmp(in->zone, zone) == 0 && strcmp(in->name, name) == 0)
			return in;
	return NULL;
}

struct instance *instance_add(const char *project, const char *zone, json_t *res)
{
	struct instance *in = calloc(1, sizeof(*in));
	if (!in)
		abort();
	in->project = xstrdup(project);
	in->zone = xstrdup(zone);
	in->name = xstrdup(json_string_value(json_object_get(res, "name")));
	in->res = res;
	/* Keep the list in creation order; lists sort by name anyway. */
	struct instance **pp = &emu.instances;
	while (*pp)
		pp = &(*pp)->next;
	*pp = in;
	pthread_cond_broadcast(&emu.changed);
	return in;
}

void instance_remove(struct instance *in)
{
	for (struct instance **pp = &emu.instances; *pp; pp = &(*pp)->next) {
		if (*pp != in)
			continue;
		*pp = in->next;
		json_decref(in->res);
		free(in->project);
		free(in->zone);
		free(in->name);
		free(in->request_id);
		free(in->op_name);
		free(in);
		pthread_cond_broadcast(&emu.changed);
		return;
	}
}

void instance_set_status(struct instance *in, const char *status)
{
	json_object_set_new(in->res, "status", json_string(status));
	pthread_cond_broadcast(&emu.changed);
}

void instance_fill_ips(struct instance *in)
{
	unsigned n = ++emu.ip_next;
	char ts[40];
	rfc3339(ts, sizeof(ts), now_wall_ms());
	json_object_set_new(in->res, "lastStartTimestamp", json_string(ts));
	const char *mcp = json_string_value(json_object_get(in->res, "minCpuPlatform"));
	json_object_set_new(in->res, "cpuPlatform", json_string(mcp && strcmp(mcp, "Automatic") ? mcp : "AMD Rome"));
	size_t i;
	json_t *nic;
	json_array_foreach(json_object_get(in->res, "networkInterfaces"), i, nic) {
		if (!json_object_get(nic, "networkIP"))
			json_object_set_new(nic, "networkIP",
					    json_sprintf("10.128.%u.%u", (n / 250) % 250, n % 250 + 2));
		size_t j;
		json_t *ac;
		json_array_foreach(json_object_get(nic, "accessConfigs"), j, ac) {
			/* An ephemeral external address: a new one after every start. */
			if (emu.cfg.nat_ip[0])
				json_object_set_new(ac, "natIP", json_string(emu.cfg.nat_ip));
			else
				json_object_set_new(ac, "natIP",
						    json_sprintf("203.0.%u.%u", 113 + (n / 250) % 10, n % 250 + 2));
		}
	}
}

void metadata_set_fingerprint(struct instance *in, json_t *md)
{
	(void)in;
	_cleanup_free_ char *fp = fingerprint();
	json_object_set_new(md, "fingerprint", json_string(fp));
}

void op_finished(struct operation *op)
{
	if (!op->zone) /* firewall operations change nothing when DONE */
		return;
	struct instance *in = instance_find(op->project, op->zone, op->target);
	if (!in)
		return;
	bool mine = in->op_name && strcmp(in->op_name, op->name) == 0;
	switch (op->kind) {
	case OP_INSERT:
		if (!mine)
			return;
		if (op->fail) {
			instance_remove(in);
			return;
		}
		instance_fill_ips(in);
		instance_set_status(in, "RUNNING");
		break;
	case OP_START:
		if (!mine || op->fail)
			return;
		instance_fill_ips(in);
		instance_set_status(in, "RUNNING");
		break;
	case OP_STOP:
		if (!mine)
			return;
		{
			size_t i, j;
			json_t *nic, *ac;
			json_array_foreach(json_object_get(in->res, "networkInterfaces"), i, nic)
				json_array_foreach(json_object_get(nic, "accessConfigs"), j, ac)
					json_object_del(ac, "natIP");
		}
		instance_set_status(in, "TERMINATED");
		break;
	case OP_DELETE:
		if (!mine || op->fail)
			return;
		instance_remove(in);
		return;
	default:
		return;
	}
	free(in->op_name);
	in->op_name = NULL;
}

/* ---- shared pieces ---- */

static bool uuid_valid(const char *s)
{
	static regex_t re;
	static bool compiled;
	if (!compiled) {
		if (regcomp(&re, "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
			    REG_EXTENDED | REG_NOSUB))
			abort();
		compiled = true;
	}
	return regexec(&re, s, 0, NULL, 0) == 0 && strcmp(s, "00000000-0000-0000-0000-000000000000") != 0;
}

/* Answers the earlier operation when requestId was seen; 400 when it is not
 * a UUID. Returns true when the request has been answered. */
static bool request_id_seen(struct req *r, const char *project)
{
	const char *rid = req_arg(r, "requestId");
	if (!rid)
		return false;
	r->request_id = rid;
	if (!uuid_valid(rid)) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'requestId': '%s'. The requestId must be a valid UUID with the "
			    "exception that zero UUID is not supported.",
			    rid);
		return true;
	}
	const char *opname = json_string_value(json_object_get(emu.request_ids, rid));
	if (!opname)
		return false;
	for (struct operation *op = emu.ops; op; op = op->next) {
		if (strcmp(op->name, opname) == 0 && strcmp(op->project, project) == 0) {
			reply_json(r, 200, json_deep_copy(op->res));
			return true;
		}
	}
	return false;
}

static void remember_request_id(struct req *r, struct operation *op)
{
	if (r->request_id)
		json_object_set_new(emu.request_ids, r->request_id, json_string(op->name));
}

static json_t *parse_body(struct req *r, bool empty_ok)
{
	if (!r->body || r->len == 0) {
		if (empty_ok)
			return json_object();
		reply_error(r, 400, "global", "required", NULL, "Required field 'resource' not specified");
		return NULL;
	}
	json_error_t err;
	json_t *v = json_loadb(r->body, r->len, JSON_DECODE_ANY, &err);
	if (!v) {
		json_t *b = error_body(400, "global", "parseError", "INVALID_ARGUMENT",
				       "Invalid JSON payload received. Unexpected token.");
		reply_json(r, 400, b);
		return NULL;
	}
	if (empty_ok && json_is_string(v) && json_string_length(v) == 0) {
		/* zoneOperations.wait from Google's Node client sends "". */
		json_decref(v);
		return json_object();
	}
	return v;
}

/* One page of a sorted array: maxResults, pageToken; items omitted when empty. */
static void reply_list(struct req *r, json_t *all, const char *kind, const char *id, const char *self,
		       const char *items_key)
{
	const char *mr = req_arg(r, "maxResults");
	const char *pt = req_arg(r, "pageToken");
	long max = 500;
	if (mr && *mr) {
		char *end;
		max = strtol(mr, &end, 10);
		if (*end || max < 0 || max > 500) {
			reply_error(r, 400, "global", "invalid", NULL,
				    "Invalid value for field 'maxResults': '%s'. Must be less than or equal to 500", mr);
			json_decref(all);
			return;
		}
		if (max == 0)
			max = 500;
	}
	long off = 0, page = 1;
	if (pt && *pt) {
		int n = 0;
		if (sscanf(pt, "emu1.%ld.%ld%n", &off, &page, &n) != 2 || pt[n] || off < 0 || page < 2) {
			reply_error(r, 400, "global", "invalid", NULL,
				    "Invalid value for field 'pageToken': '%s'. Invalid page token.", pt);
			json_decref(all);
			return;
		}
	}
	struct fault *f = fault_match(r, F_LIST_PAGE, (int)page);
	if (f && fault_apply(r, f)) {
		json_decref(all);
		return;
	}
	json_t *out = json_pack("{s:s,s:s}", "kind", kind, "id", id);
	json_t *items = json_array();
	size_t n = json_array_size(all);
	for (size_t i = (size_t)off; i < n && i < (size_t)(off + max); i++)
		json_array_append(items, json_array_get(all, i));
	if (json_array_size(items))
		json_object_set_new(out, items_key, items);
	else
		json_decref(items);
	if ((size_t)(off + max) < n)
		json_object_set_new(out, "nextPageToken", json_sprintf("emu1.%ld.%ld", off + max, page + 1));
	json_object_set_new(out, "selfLink", json_string(self));
	json_decref(all);
	reply_json(r, 200, out);
}

static json_t *parse_filter(struct req *r)
{
	const char *fs = req_arg(r, "filter");
	json_t *flt = filter_parse(fs ? fs : "");
	if (!flt)
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'filter': '%s'. Invalid list filter expression.", fs);
	return flt;
}

static int by_name(const void *a, const void *b)
{
	json_t *const *x = a, *const *y = b;
	return strcmp(json_string_value(json_object_get(*x, "name")), json_string_value(json_object_get(*y, "name")));
}

static json_t *sorted(json_t *arr)
{
	size_t n = json_array_size(arr);
	if (n < 2)
		return arr;
	json_t **v = calloc(n, sizeof(*v));
	if (!v)
		abort();
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), by_name);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, v[i]);
	free(v);
	json_decref(arr);
	return out;
}

/* ---- instances ---- */

static json_t *build_instance(const char *project, const char *zone, json_t *body, json_t *image)
{
	json_t *res = json_deep_copy(body);
	_cleanup_free_ char *id = random_id();
	_cleanup_free_ char *fp = fingerprint();
	char ts[40];
	rfc3339(ts, sizeof(ts), now_wall_ms());
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *mt = json_string_value(json_object_get(body, "machineType"));
	const char *type = strrchr(mt, '/') + 1;
	_cleanup_free_ char *region = zone_region(zone);

	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "kind", "compute#instance", "id", id, "creationTimestamp", ts,
			      "name", name);
	json_object_update(o, res);
	json_decref(res);
	res = o;
	json_object_set_new(res, "kind", json_string("compute#instance"));
	json_object_set_new(res, "id", json_string(id));
	json_object_set_new(res, "machineType",
			    json_sprintf(SELF_BASE "projects/%s/zones/%s/machineTypes/%s", project, zone, type));
	json_object_set_new(res, "status", json_string("PROVISIONING"));
	json_object_set_new(res, "zone", json_sprintf(SELF_BASE "projects/%s/zones/%s", project, zone));
	json_object_set_new(res, "selfLink",
			    json_sprintf(SELF_BASE "projects/%s/zones/%s/instances/%s", project, zone, name));
	json_object_set_new(res, "cpuPlatform", json_string("Unknown CPU Platform"));
	json_object_set_new(res, "fingerprint", json_string(fp));
	if (!json_object_get(res, "canIpForward"))
		json_object_set_new(res, "canIpForward", json_false());
	if (!json_object_get(res, "deletionProtection"))
		json_object_set_new(res, "deletionProtection", json_false());
	json_object_set_new(res, "startRestricted", json_false());

	json_t *labels = json_object_get(res, "labels");
	if (labels && json_object_size(labels) == 0)
		json_object_del(res, "labels");
	_cleanup_free_ char *lfp = fingerprint();
	json_object_set_new(res, "labelFingerprint",
			    json_string(json_object_get(res, "labels") ? lfp : "42WmSpB8rSM="));

	json_t *md = json_object_get(body, "metadata");
	json_t *nmd = json_pack("{s:s}", "kind", "compute#metadata");
	if (json_array_size(json_object_get(md, "items")))
		json_object_set(nmd, "items", json_object_get(md, "items"));
	metadata_set_fingerprint(NULL, nmd);
	json_object_set_new(res, "metadata", nmd);

	json_t *tags = json_object_get(res, "tags");
	if (!tags) {
		tags = json_object();
		json_object_set_new(res, "tags", tags);
	}
	json_object_set_new(tags, "fingerprint", json_string(json_array_size(json_object_get(tags, "items")) ? fp : "42WmSpB8rSM="));

	json_t *sch = json_object_get(res, "scheduling");
	if (!sch) {
		sch = json_object();
		json_object_set_new(res, "scheduling", sch);
	}
	if (!json_object_get(sch, "onHostMaintenance"))
		json_object_set_new(sch, "onHostMaintenance", json_string("MIGRATE"));
	if (!json_object_get(sch, "automaticRestart"))
		json_object_set_new(sch, "automaticRestart", json_true());
	if (!json_object_get(sch, "preemptible"))
		json_object_set_new(sch, "preemptible", json_false());
	if (!json_object_get(sch, "provisioningModel"))
		json_object_set_new(sch, "provisioningModel", json_string("STANDARD"));

	json_t *sh = json_object_get(res, "shieldedInstanceConfig");
	if (!sh) {
		sh = json_object();
		json_object_set_new(res, "shieldedInstanceConfig", sh);
	}
	if (!json_object_get(sh, "enableSecureBoot"))
		json_object_set_new(sh, "enableSecureBoot", json_false());
	if (!json_object_get(sh, "enableVtpm"))
		json_object_set_new(sh, "enableVtpm", json_true());
	if (!json_object_get(sh, "enableIntegrityMonitoring"))
		json_object_set_new(sh, "enableIntegrityMonitoring", json_true());
	json_object_set_new(res, "shieldedInstanceIntegrityPolicy", json_pack("{s:b}", "updateAutoLearnPolicy", 1));

	json_t *disks = json_array();
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(body, "disks"), i, d) {
		json_t *ip = json_object_get(d, "initializeParams");
		bool boot = json_is_true(json_object_get(d, "boot")) || (i == 0 && !json_object_get(d, "boot"));
		const char *dn = json_string_value(json_object_get(ip, "diskName"));
		_cleanup_free_ char *dname = dn ? xstrdup(dn) : i == 0 ? xstrdup(name) : xasprintf("%s-%zu", name, i);
		const char *dev = json_string_value(json_object_get(d, "deviceName"));
		_cleanup_free_ char *devname = dev ? xstrdup(dev) : xasprintf("persistent-disk-%zu", i);
		json_t *sz = json_object_get(ip, "diskSizeGb");
		json_t *nd = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:b,s:s}", "kind", "compute#attachedDisk", "type",
				       json_string_value(json_object_get(d, "type")) ?: "PERSISTENT", "mode",
				       json_string_value(json_object_get(d, "mode")) ?: "READ_WRITE", "deviceName", devname,
				       "interface", json_string_value(json_object_get(d, "interface")) ?: "SCSI", "index",
				       (json_int_t)i, "boot", boot, "autoDelete",
				       json_is_true(json_object_get(d, "autoDelete")), "architecture", "X86_64");
		json_object_set_new(nd, "source",
				    json_sprintf(SELF_BASE "projects/%s/zones/%s/disks/%s", project, zone, dname));
		if (json_is_string(sz))
			json_object_set(nd, "diskSizeGb", sz);
		else if (json_is_integer(sz))
			json_object_set_new(nd, "diskSizeGb", json_sprintf("%lld", (long long)json_integer_value(sz)));
		else
			json_object_set_new(nd, "diskSizeGb", json_string("10"));
		if (boot && image) {
			json_object_set(nd, "guestOsFeatures", json_object_get(image, "guestOsFeatures"));
			json_object_set_new(nd, "licenses",
					    json_pack("[s]", "https://www.googleapis.com/compute/v1/projects/"
							     "ubuntu-os-cloud/global/licenses/ubuntu-2204-lts"));
		}
		json_array_append_new(disks, nd);
	}
	json_object_set_new(res, "disks", disks);

	json_t *nics = json_array();
	json_t *nic;
	json_array_foreach(json_object_get(body, "networkInterfaces"), i, nic) {
		const char *net = json_string_value(json_object_get(nic, "network"));
		const char *sub = json_string_value(json_object_get(nic, "subnetwork"));
		_cleanup_free_ char *netname = NULL;
		network_known(net ? net : "global/networks/default", &netname);
		_cleanup_free_ char *nfp = fingerprint();
		json_t *nn = json_deep_copy(nic);
		json_object_set_new(nn, "kind", json_string("compute#networkInterface"));
		json_object_set_new(nn, "name", json_sprintf("nic%zu", i));
		json_object_set_new(nn, "network", json_sprintf(SELF_BASE "projects/%s/global/networks/%s", project, netname));
		if (sub) {
			const char *s = strrchr(sub, '/') + 1;
			json_object_set_new(nn, "subnetwork",
					    json_sprintf(SELF_BASE "projects/%s/regions/%s/subnetworks/%s", project, region, s));
		} else {
			json_object_set_new(nn, "subnetwork",
					    json_sprintf(SELF_BASE "projects/%s/regions/%s/subnetworks/%s", project, region,
							 netname));
		}
		json_object_set_new(nn, "fingerprint", json_string(nfp));
		if (!json_object_get(nn, "stackType"))
			json_object_set_new(nn, "stackType", json_string("IPV4_ONLY"));
		size_t j;
		json_t *ac;
		json_array_foreach(json_object_get(nn, "accessConfigs"), j, ac) {
			json_object_set_new(ac, "kind", json_string("compute#accessConfig"));
			if (!json_object_get(ac, "type"))
				json_object_set_new(ac, "type", json_string("ONE_TO_ONE_NAT"));
			if (!json_object_get(ac, "name"))
				json_object_set_new(ac, "name", json_string("External NAT"));
			if (!json_object_get(ac, "networkTier"))
				json_object_set_new(ac, "networkTier", json_string("PREMIUM"));
		}
		json_array_append_new(nics, nn);
	}
	json_object_set_new(res, "networkInterfaces", nics);
	return res;
}

static void not_found(struct req *r, const char *project, const char *zone, const char *name)
{
	reply_error(r, 404, "global", "notFound", NULL, "The resource 'projects/%s/zones/%s/instances/%s' was not found",
		    project, zone, name);
}

static void reply_op(struct req *r, struct operation *op)
{
	remember_request_id(r, op);
	ops_tick(); /* an operation with no gates is DONE at once */
	reply_json(r, 200, json_deep_copy(op->res));
}

static void instance_insert(struct req *r, const char *project, const char *zone)
{
	if (request_id_seen(r, project))
		return;
	_cleanup_(json_decrefp) json_t *body = parse_body(r, false);
	if (!body)
		return;
	_cleanup_(json_decrefp) json_t *image = NULL;
	if (validate_instance(r, project, zone, body, &image) < 0)
		return;
	const char *name = json_string_value(json_object_get(body, "name"));
	if (instance_find(project, zone, name)) {
		reply_error(r, 409, "global", "alreadyExists", NULL,
			    "The resource 'projects/%s/zones/%s/instances/%s' already exists", project, zone, name);
		return;
	}
	json_t *res = build_instance(project, zone, body, image);
	struct instance *in = instance_add(project, zone, res);
	if (r->request_id)
		in->request_id = xstrdup(r->request_id);
	struct operation *op = op_new(project, zone, OP_INSERT, name, json_string_value(json_object_get(res, "id")),
				      r->request_id, r->user);
	in->op_name = xstrdup(op->name);
	struct fault *f = fault_match(r, F_OP_ERROR, 0);
	if (f) {
		f->hits++;
		if (f->times > 0)
			f->times--;
		r->fault = "op_error";
		const char *code = f->op_error_code ? f->op_error_code : "QUOTA_EXCEEDED";
		_cleanup_free_ char *region = zone_region(zone);
		if (strncmp(code, "ZONE_RESOURCE_POOL_EXHAUSTED", 28) == 0) {
			op->fail = json_pack("[{s:s,s:s}]", "code", code, "message", "");
			_cleanup_free_ char *m = xasprintf(
				"The zone 'projects/%s/zones/%s' does not have enough resources available to fulfill the "
				"request.  Try a different zone, or try again later.",
				project, zone);
			json_object_set_new(json_array_get(op->fail, 0), "message", json_string(m));
			op->fail_http = 503;
		} else if (strcmp(code, "QUOTA_EXCEEDED") == 0) {
			_cleanup_free_ char *m = xasprintf("Quota 'N2D_CPUS' exceeded.  Limit: 24.0 in region %s.", region);
			op->fail = json_pack("[{s:s,s:s,s:[{s:{s:s,s:s,s:{s:s},s:f}}]}]", "code", code, "message", m,
					     "errorDetails", "quotaInfo", "metricName", "compute.googleapis.com/n2d_cpus",
					     "limitName", "N2D-CPUS-per-project-region", "dimensions", "region", region,
					     "limit", 24.0);
			op->fail_http = 403;
		} else {
			op->fail = json_pack("[{s:s,s:s}]", "code", code, "message", "Injected operation error.");
			op->fail_http = 400;
		}
	}
	reply_op(r, op);
}

static void instance_delete(struct req *r, struct instance *in)
{
	if (request_id_seen(r, in->project))
		return;
	if (json_is_true(json_object_get(in->res, "deletionProtection"))) {
		reply_error(r, 400, "global", "resourceInUseByAnotherResource", NULL,
			    "Invalid resource usage: 'Resource cannot be deleted if it's protected against deletion.'.");
		return;
	}
	struct operation *op = op_new(in->project, in->zone, OP_DELETE, in->name,
				      json_string_value(json_object_get(in->res, "id")), r->request_id, r->user);
	free(in->op_name);
	in->op_name = xstrdup(op->name);
	instance_set_status(in, "STOPPING");
	reply_op(r, op);
}

static void instance_start_stop(struct req *r, struct instance *in, bool start)
{
	if (request_id_seen(r, in->project))
		return;
	const char *st = json_string_value(json_object_get(in->res, "status"));
	bool stopped = strcmp(st, "TERMINATED") == 0 || strcmp(st, "STOPPED") == 0;
	bool running = strcmp(st, "RUNNING") == 0;
	if (!(stopped || running)) {
		reply_error(r, 400, "global", "resourceNotReady", NULL,
			    "The resource 'projects/%s/zones/%s/instances/%s' is not ready", in->project, in->zone, in->name);
		return;
	}
	struct operation *op = op_new(in->project, in->zone, start ? OP_START : OP_STOP, in->name,
				      json_string_value(json_object_get(in->res, "id")), r->request_id, r->user);
	if (start ? stopped : running) {
		free(in->op_name);
		in->op_name = xstrdup(op->name);
		instance_set_status(in, start ? "STAGING" : "STOPPING");
	}
	reply_op(r, op);
}

static void instance_set_metadata(struct req *r, struct instance *in)
{
	if (request_id_seen(r, in->project))
		return;
	_cleanup_(json_decrefp) json_t *body = parse_body(r, false);
	if (!body || schema_check(r, body, "Metadata", "metadata_resource") < 0)
		return;
	json_t *md = json_object_get(in->res, "metadata");
	const char *have = json_string_value(json_object_get(md, "fingerprint"));
	const char *given = json_string_value(json_object_get(body, "fingerprint"));
	if (!given || strcmp(given, have) != 0) {
		reply_error(r, 412, "global", "conditionNotMet", NULL,
			    "Supplied fingerprint does not match current metadata fingerprint.");
		return;
	}
	if (validate_metadata(r, body, "metadata") < 0)
		return;
	json_t *nmd = json_pack("{s:s}", "kind", "compute#metadata");
	if (json_array_size(json_object_get(body, "items")))
		json_object_set(nmd, "items", json_object_get(body, "items"));
	metadata_set_fingerprint(in, nmd);
	json_object_set_new(in->res, "metadata", nmd);
	in->meta_version++;
	pthread_cond_broadcast(&emu.changed);
	struct operation *op = op_new(in->project, in->zone, OP_SETMETA, in->name,
				      json_string_value(json_object_get(in->res, "id")), r->request_id, r->user);
	reply_op(r, op);
}

static void instance_set_labels(struct req *r, struct instance *in)
{
	if (request_id_seen(r, in->project))
		return;
	_cleanup_(json_decrefp) json_t *body = parse_body(r, false);
	if (!body || schema_check(r, body, "InstancesSetLabelsRequest", "instances_set_labels_request_resource") < 0)
		return;
	const char *have = json_string_value(json_object_get(in->res, "labelFingerprint"));
	const char *given = json_string_value(json_object_get(body, "labelFingerprint"));
	if (!given || strcmp(given, have) != 0) {
		reply_error(r, 412, "global", "conditionNotMet", NULL,
			    "Labels fingerprint either invalid or resource labels have changed");
		return;
	}
	json_t *labels = json_object_get(body, "labels");
	if (validate_labels(r, labels, "labels") < 0)
		return;
	if (json_object_size(labels))
		json_object_set(in->res, "labels", labels);
	else
		json_object_del(in->res, "labels");
	_cleanup_free_ char *fp = fingerprint();
	json_object_set_new(in->res, "labelFingerprint", json_string(json_object_size(labels) ? fp : "42WmSpB8rSM="));
	struct operation *op = op_new(in->project, in->zone, OP_SETLABELS, in->name,
				      json_string_value(json_object_get(in->res, "id")), r->request_id, r->user);
	reply_op(r, op);
}

static void instance_list(struct req *r, const char *project, const char *zone)
{
	_cleanup_(json_decrefp) json_t *flt = parse_filter(r);
	if (!flt)
		return;
	const char *ob = req_arg(r, "orderBy");
	if (ob && *ob && strcmp(ob, "name") != 0 && strcmp(ob, "creationTimestamp desc") != 0) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'orderBy': '%s'. Allowed values: 'name', 'creationTimestamp desc'.", ob);
		return;
	}
	json_t *all = json_array();
	for (struct instance *in = emu.instances; in; in = in->next)
		if (strcmp(in->project, project) == 0 && strcmp(in->zone, zone) == 0 && filter_match(flt, in->res))
			json_array_append(all, in->res);
	_cleanup_free_ char *id = xasprintf("projects/%s/zones/%s/instances", project, zone);
	_cleanup_free_ char *self = xasprintf(SELF_BASE "%s", id);
	reply_list(r, sorted(all), "compute#instanceList", id, self, "items");
}

static void instance_aggregated(struct req *r, const char *project)
{
	_cleanup_(json_decrefp) json_t *flt = parse_filter(r);
	if (!flt)
		return;
	json_t *items = json_object();
	for (struct instance *in = emu.instances; in; in = in->next) {
		if (strcmp(in->project, project) != 0 || !filter_match(flt, in->res))
			continue;
		_cleanup_free_ char *key = xasprintf("zones/%s", in->zone);
		json_t *scoped = json_object_get(items, key);
		if (!scoped) {
			scoped = json_pack("{s:[]}", "instances");
			json_object_set_new(items, key, scoped);
		}
		json_array_append(json_object_get(scoped, "instances"), in->res);
	}
	json_t *out = json_pack("{s:s,s:s,s:o}", "kind", "compute#instanceAggregatedList", "id",
				"projects/" /* completed below */, "items", items);
	json_object_set_new(out, "id", json_sprintf("projects/%s/aggregated/instances", project));
	json_object_set_new(out, "selfLink", json_sprintf(SELF_BASE "projects/%s/aggregated/instances", project));
	reply_json(r, 200, out);
}

/* ---- firewalls ---- */

static void firewall_insert(struct req *r, const char *project)
{
	if (request_id_seen(r, project))
		return;
	_cleanup_(json_decrefp) json_t *body = parse_body(r, false);
	if (!body || schema_check(r, body, "Firewall", "firewall_resource") < 0)
		return;
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!name || !*name) {
		reply_error(r, 400, "global", "required", NULL, "Required field 'resource.name' not specified");
		return;
	}
	if (!name_valid(name)) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'resource.name': '%s'. Must be a match of regex "
			    "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
			    name);
		return;
	}
	const char *net = json_string_value(json_object_get(body, "network"));
	_cleanup_free_ char *netname = NULL;
	if (!network_known(net ? net : "global/networks/default", &netname)) {
		reply_error(r, 404, "global", "notFound", NULL, "The resource 'projects/%s/global/networks/%s' was not found",
			    project, netname);
		return;
	}
	bool allowed = json_array_size(json_object_get(body, "allowed")) > 0;
	bool denied = json_array_size(json_object_get(body, "denied")) > 0;
	if (allowed == denied) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'resource': ''. Exactly one of 'allowed' or 'denied' must be specified.");
		return;
	}
	json_t *prio = json_object_get(body, "priority");
	if (prio && (json_integer_value(prio) < 0 || json_integer_value(prio) > 65535)) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'resource.priority': '%lld'. Must be between 0 and 65535.",
			    (long long)json_integer_value(prio));
		return;
	}
	_cleanup_free_ char *key = xasprintf("%s/%s", project, name);
	if (json_object_get(emu.firewalls, key)) {
		reply_error(r, 409, "global", "alreadyExists", NULL,
			    "The resource 'projects/%s/global/firewalls/%s' already exists", project, name);
		return;
	}
	_cleanup_free_ char *id = random_id();
	char ts[40];
	rfc3339(ts, sizeof(ts), now_wall_ms());
	json_t *fw = json_pack("{s:s,s:s,s:s}", "kind", "compute#firewall", "id", id, "creationTimestamp", ts);
	json_object_update(fw, body);
	json_object_set_new(fw, "network", json_sprintf(SELF_BASE "projects/%s/global/networks/%s", project, netname));
	if (!prio)
		json_object_set_new(fw, "priority", json_integer(1000));
	if (!json_object_get(fw, "direction"))
		json_object_set_new(fw, "direction", json_string("INGRESS"));
	if (!json_object_get(fw, "disabled"))
		json_object_set_new(fw, "disabled", json_false());
	if (!json_object_get(fw, "logConfig"))
		json_object_set_new(fw, "logConfig", json_pack("{s:b}", "enable", 0));
	if (strcmp(json_string_value(json_object_get(fw, "direction")), "INGRESS") == 0 &&
	    !json_object_get(fw, "sourceRanges") && !json_object_get(fw, "sourceTags") &&
	    !json_object_get(fw, "sourceServiceAccounts"))
		json_object_set_new(fw, "sourceRanges", json_pack("[s]", "0.0.0.0/0"));
	json_object_set_new(fw, "selfLink", json_sprintf(SELF_BASE "projects/%s/global/firewalls/%s", project, name));
	json_object_set_new(emu.firewalls, key, fw);
	struct operation *op = op_new(project, NULL, OP_FW_INSERT, name, id, r->request_id, r->user);
	reply_op(r, op);
}

/* firewalls.patch (merge the given fields) and firewalls.update (replace
 * them); name and network stay. */
static void firewall_change(struct req *r, const char *project, const char *name, json_t *fw, bool patch)
{
	if (!fw) {
		reply_error(r, 404, "global", "notFound", NULL, "The resource 'projects/%s/global/firewalls/%s' was not found",
			    project, name);
		return;
	}
	if (request_id_seen(r, project))
		return;
	_cleanup_(json_decrefp) json_t *body = parse_body(r, false);
	if (!body || schema_check(r, body, "Firewall", "firewall_resource") < 0)
		return;
	const char *bn = json_string_value(json_object_get(body, "name"));
	if (bn && strcmp(bn, name) != 0) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'resource.name': '%s'. The name of a firewall cannot be changed.", bn);
		return;
	}
	json_t *prio = json_object_get(body, "priority");
	if (prio && (json_integer_value(prio) < 0 || json_integer_value(prio) > 65535)) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Invalid value for field 'resource.priority': '%lld'. Must be between 0 and 65535.",
			    (long long)json_integer_value(prio));
		return;
	}
	static const char *const keep[] = {"kind", "id", "creationTimestamp", "name", "network", "selfLink"};
	if (!patch) {
		json_t *old = json_deep_copy(fw);
		json_object_clear(fw);
		for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
			json_object_set(fw, keep[i], json_object_get(old, keep[i]));
		json_decref(old);
		json_object_set_new(fw, "priority", json_integer(1000));
		json_object_set_new(fw, "direction", json_string("INGRESS"));
		json_object_set_new(fw, "disabled", json_false());
		json_object_set_new(fw, "logConfig", json_pack("{s:b}", "enable", 0));
	}
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		bool kept = false;
		for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
			kept |= strcmp(keep[i], k) == 0;
		if (!kept)
			json_object_set(fw, k, v);
	}
	struct operation *op = op_new(project, NULL, patch ? OP_FW_PATCH : OP_FW_UPDATE, name,
				      json_string_value(json_object_get(fw, "id")), r->request_id, r->user);
	reply_op(r, op);
}

static void firewall_route(struct req *r, const char *project, char **seg, int n)
{
	if (n == 0) {
		if (strcmp(r->method, "POST") == 0) {
			firewall_insert(r, project);
			return;
		}
		if (strcmp(r->method, "GET") == 0) {
			_cleanup_(json_decrefp) json_t *flt = parse_filter(r);
			if (!flt)
				return;
			json_t *all = json_array();
			_cleanup_free_ char *prefix = xasprintf("%s/", project);
			const char *k;
			json_t *v;
			json_object_foreach(emu.firewalls, k, v)
				if (strncmp(k, prefix, strlen(prefix)) == 0 && filter_match(flt, v))
					json_array_append(all, v);
			_cleanup_free_ char *id = xasprintf("projects/%s/global/firewalls", project);
			_cleanup_free_ char *self = xasprintf(SELF_BASE "%s", id);
			reply_list(r, sorted(all), "compute#firewallList", id, self, "items");
			return;
		}
	} else if (n == 1) {
		_cleanup_free_ char *key = xasprintf("%s/%s", project, seg[0]);
		json_t *fw = json_object_get(emu.firewalls, key);
		if (strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "PUT") == 0) {
			firewall_change(r, project, seg[0], fw, strcmp(r->method, "PATCH") == 0);
			return;
		}
		if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "DELETE") == 0) {
			if (!fw) {
				reply_error(r, 404, "global", "notFound", NULL,
					    "The resource 'projects/%s/global/firewalls/%s' was not found", project, seg[0]);
				return;
			}
			if (strcmp(r->method, "GET") == 0) {
				reply_json(r, 200, json_deep_copy(fw));
				return;
			}
			if (request_id_seen(r, project))
				return;
			struct operation *op = op_new(project, NULL, OP_FW_DELETE, seg[0],
						      json_string_value(json_object_get(fw, "id")), r->request_id, r->user);
			json_object_del(emu.firewalls, key);
			reply_op(r, op);
			return;
		}
	}
	reply_error(r, 404, "global", "notFound", NULL, "The requested URL %s was not found.", r->path);
}

/* ---- images ---- */

static void images_route(struct req *r, const char *project, char **seg, int n)
{
	if (strcmp(r->method, "GET") != 0) {
		reply_error(r, 403, "global", "forbidden", NULL, "Required 'compute.images.create' permission for 'projects/%s'",
			    project);
		return;
	}
	if (n == 0) {
		_cleanup_free_ char *id = xasprintf("projects/%s/global/images", project);
		_cleanup_free_ char *self = xasprintf(SELF_BASE "%s", id);
		reply_list(r, image_list(project), "compute#imageList", id, self, "items");
		return;
	}
	_cleanup_free_ char *ref = n == 2 && strcmp(seg[0], "family") == 0
					   ? xasprintf("projects/%s/global/images/family/%s", project, seg[1])
				   : n == 1 ? xasprintf("projects/%s/global/images/%s", project, seg[0])
					    : NULL;
	json_t *img = ref ? image_lookup(ref, project, NULL) : NULL;
	if (!img) {
		reply_error(r, 404, "global", "notFound", NULL, "The resource '%s' was not found", ref ? ref : r->path);
		return;
	}
	reply_json(r, 200, img);
}

/* ---- the router ---- */

static bool rate_limited(struct req *r)
{
	if (emu.cfg.rate_limit_per_s <= 0)
		return false;
	long long sec = now_mono_ms() / 1000;
	if (sec != emu.rate_window) {
		emu.rate_window = sec;
		emu.rate_count = 0;
	}
	if (++emu.rate_count <= emu.cfg.rate_limit_per_s)
		return false;
	r->fault = "rate_limit";
	int code = emu.cfg.rate_limit_status == 429 ? 429 : 403;
	reply_header(r, "Retry-After", "1");
	reply_error(r, code, "usageLimits", "rateLimitExceeded", code == 429 ? "RESOURCE_EXHAUSTED" : "PERMISSION_DENIED",
		    "Quota exceeded for quota metric 'Queries' and limit 'Queries per second' of service "
		    "'compute.googleapis.com' for consumer 'project_number:123456789012'.");
	return true;
}

static bool image_project(const char *p)
{
	for (size_t i = 0; i < ARRAY_SIZE(image_projects); i++)
		if (strcmp(image_projects[i], p) == 0)
			return true;
	return false;
}

static void dispatch(struct req *r, char **seg, int n)
{
	const char *m = r->method;
	if (n < 2 || strcmp(seg[0], "projects") != 0)
		goto nf;
	const char *project = seg[1];
	bool images = n >= 4 && strcmp(seg[2], "global") == 0 && strcmp(seg[3], "images") == 0;
	if (!project_known(project) && !(images && image_project(project))) {
		reply_error(r, 403, "global", "forbidden", NULL,
			    "Required 'compute.instances.list' permission for 'projects/%s'", project);
		return;
	}
	if (images) {
		images_route(r, project, seg + 4, n - 4);
		return;
	}
	if (n >= 4 && strcmp(seg[2], "global") == 0 && strcmp(seg[3], "firewalls") == 0) {
		firewall_route(r, project, seg + 4, n - 4);
		return;
	}
	if (n >= 5 && strcmp(seg[2], "global") == 0 && strcmp(seg[3], "operations") == 0 && n <= 6) {
		bool wait = n == 6 && strcmp(seg[5], "wait") == 0;
		if ((n == 6 && !wait) || strcmp(m, wait ? "POST" : "GET") != 0)
			goto nf;
		if (wait) {
			_cleanup_(json_decrefp) json_t *b = parse_body(r, true);
			if (!b)
				return;
		}
		ops_handle(r, project, NULL, seg[4], wait);
		return;
	}
	if (n == 4 && strcmp(seg[2], "aggregated") == 0 && strcmp(seg[3], "instances") == 0 && strcmp(m, "GET") == 0) {
		instance_aggregated(r, project);
		return;
	}
	if (n < 4 || strcmp(seg[2], "zones") != 0)
		goto nf;
	const char *zone = seg[3];
	if (!zone_valid(zone)) {
		reply_error(r, 404, "global", "notFound", NULL, "The resource 'projects/%s/zones/%s' was not found", project,
			    zone);
		return;
	}
	if (n == 4 && strcmp(m, "GET") == 0) {
		json_t *z = json_pack("{s:s,s:s,s:s,s:s}", "kind", "compute#zone", "name", zone, "status", "UP", "id", "2000");
		json_object_set_new(z, "region", json_sprintf(SELF_BASE "projects/%s/regions/%.*s", project,
							       (int)(strrchr(zone, '-') - zone), zone));
		json_object_set_new(z, "selfLink", json_sprintf(SELF_BASE "projects/%s/zones/%s", project, zone));
		reply_json(r, 200, z);
		return;
	}
	if (n < 5)
		goto nf;
	const char *coll = seg[4];
	if (strcmp(coll, "operations") == 0 && (n == 6 || n == 7)) {
		bool wait = n == 7 && strcmp(seg[6], "wait") == 0;
		if ((n == 7 && !wait) || strcmp(m, wait ? "POST" : "GET") != 0)
			goto nf;
		if (wait) {
			_cleanup_(json_decrefp) json_t *b = parse_body(r, true);
			if (!b)
				return;
		}
		ops_handle(r, project, zone, seg[5], wait);
		return;
	}
	if (strcmp(coll, "machineTypes") == 0 && n == 6 && strcmp(m, "GET") == 0) {
		json_t *mt = machine_type_info(zone, seg[5]);
		if (!mt) {
			reply_error(r, 404, "global", "notFound", NULL,
				    "The resource 'projects/%s/zones/%s/machineTypes/%s' was not found", project, zone, seg[5]);
			return;
		}
		reply_json(r, 200, mt);
		return;
	}
	if (strcmp(coll, "instances") != 0)
		goto nf;
	if (n == 5) {
		if (strcmp(m, "POST") == 0)
			instance_insert(r, project, zone);
		else if (strcmp(m, "GET") == 0)
			instance_list(r, project, zone);
		else
			goto nf;
		return;
	}
	struct instance *in = instance_find(project, zone, seg[5]);
	if (n == 6 && (strcmp(m, "GET") == 0 || strcmp(m, "DELETE") == 0)) {
		if (!in) {
			not_found(r, project, zone, seg[5]);
			return;
		}
		if (strcmp(m, "GET") == 0)
			reply_json(r, 200, json_deep_copy(in->res));
		else
			instance_delete(r, in);
		return;
	}
	if (n == 7 && strcmp(m, "POST") == 0) {
		const char *verb = seg[6];
		if (strcmp(verb, "start") && strcmp(verb, "stop") && strcmp(verb, "setMetadata") && strcmp(verb, "setLabels"))
			goto nf;
		if (!in) {
			not_found(r, project, zone, seg[5]);
			return;
		}
		if (strcmp(verb, "start") == 0 || strcmp(verb, "stop") == 0)
			instance_start_stop(r, in, strcmp(verb, "start") == 0);
		else if (strcmp(verb, "setMetadata") == 0)
			instance_set_metadata(r, in);
		else
			instance_set_labels(r, in);
		return;
	}
nf:
	reply_error(r, 404, "global", "notFound", NULL, "The requested URL %s was not found.", r->path);
}

void compute_route(struct req *r, char **seg, int n)
{
	if (!oauth_check_bearer(r))
		return;
	if (rate_limited(r))
		return;
	struct fault *f = fault_match(r, F_STATUS, 0);
	if (!f)
		f = fault_match(r, F_RATE_LIMIT, 0);
	if (f && fault_apply(r, f))
		return;
	dispatch(r, seg, n);
	if (r->status == 200) {
		f = fault_match(r, F_DROP, 0);
		if (f)
			fault_apply(r, f);
	}
}

/* An instance made through the control endpoint, as another tool or a
 * person would have made it: any labels, RUNNING unless told otherwise. */
struct instance *instance_foreign(const char *project, const char *zone, json_t *spec, struct req *r)
{
	const char *name = json_string_value(json_object_get(spec, "name"));
	const char *type = json_string_value(json_object_get(spec, "machineType"));
	const char *status = json_string_value(json_object_get(spec, "status"));
	_cleanup_free_ char *mt = xasprintf("zones/%s/machineTypes/%s", zone, type ? type : "n2d-standard-2");
	json_t *body = json_pack("{s:s,s:s,s:[{s:b,s:b,s:{s:s}}],s:[{s:s,s:[{s:s}]}]}", "name", name, "machineType", mt,
				 "disks", "boot", 1, "autoDelete", 1, "initializeParams", "sourceImage",
				 "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts", "networkInterfaces",
				 "network", "global/networks/default", "accessConfigs", "type", "ONE_TO_ONE_NAT");
	json_t *labels = json_object_get(spec, "labels");
	if (json_is_object(labels))
		json_object_set(body, "labels", labels);
	json_t *items = json_object_get(spec, "metadata");
	if (json_is_array(items))
		json_object_set_new(body, "metadata", json_pack("{s:O}", "items", items));
	else if (json_is_object(items))
		json_object_set(body, "metadata", items);
	json_t *image = image_lookup("projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts", project, NULL);
	json_t *res = build_instance(project, zone, body, image);
	json_decref(body);
	json_decref(image);
	(void)r;
	struct instance *in = instance_add(project, zone, res);
	in->foreign = true;
	if (!status || strcmp(status, "RUNNING") == 0)
		instance_fill_ips(in);
	instance_set_status(in, status ? status : "RUNNING");
	return in;
}
