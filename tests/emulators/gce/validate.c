/* Compute's own checks after the JSON front end: names, machine types
 * (N2D predefined and custom), images and their guest OS features, the
 * Confidential VM (SEV-SNP) rules, labels and metadata limits. Each failure
 * is the 400 (or 404 for a missing image or network) with the field named
 * the way Compute names it ('resource.x'). */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

struct image_def {
	const char *project, *name, *family, *features;
	bool deprecated;
};

#define SNP_FEATURES "UEFI_COMPATIBLE VIRTIO_SCSI_MULTIQUEUE GVNIC SEV_CAPABLE SEV_SNP_CAPABLE SEV_LIVE_MIGRATABLE_V2 IDPF"

static const struct image_def images[] = {
	{"ubuntu-os-cloud", "ubuntu-2204-jammy-v20240501", "ubuntu-2204-lts", SNP_FEATURES, false},
	{"ubuntu-os-cloud", "ubuntu-2204-jammy-v20240110", "ubuntu-2204-lts", SNP_FEATURES, true},
	{"ubuntu-os-cloud", "ubuntu-2404-noble-amd64-v20240501", "ubuntu-2404-lts-amd64", SNP_FEATURES, false},
	/* An image without SEV_SNP_CAPABLE, for the refusal. */
	{"ubuntu-os-cloud", "ubuntu-2004-focal-v20240501", "ubuntu-2004-lts",
	 "UEFI_COMPATIBLE VIRTIO_SCSI_MULTIQUEUE GVNIC SEV_CAPABLE", false},
	{"debian-cloud", "debian-12-bookworm-v20240501", "debian-12", SNP_FEATURES, false},
	{"debian-cloud", "debian-11-bullseye-v20240501", "debian-11", "UEFI_COMPATIBLE VIRTIO_SCSI_MULTIQUEUE GVNIC",
	 false},
};

static json_t *image_json(const struct image_def *d)
{
	json_t *feats = json_array();
	_cleanup_free_ char *copy = xstrdup(d->features);
	for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
		json_array_append_new(feats, json_pack("{s:s}", "type", t));
	json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:[s,s,s],s:s}", "kind",
			      "compute#image", "id", "4567123890123456789", "creationTimestamp",
			      "2024-05-01T02:00:00.000-07:00", "name", d->name, "description", d->name, "sourceType",
			      "RAW", "status", "READY", "archiveSizeBytes", "1234567890", "diskSizeGb", "10",
			      "family", d->family, "labelFingerprint", "42WmSpB8rSM=", "guestOsFeatures", feats,
			      "storageLocations", "us", "eu", "asia", "architecture", "X86_64");
	json_object_set_new(v, "selfLink",
			    json_sprintf(SELF_BASE "projects/%s/global/images/%s", d->project, d->name));
	if (d->deprecated)
		json_object_set_new(v, "deprecated",
				    json_pack("{s:s,s:s}", "state", "DEPRECATED", "replacement",
					      "https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/"
					      "images/ubuntu-2204-jammy-v20240501"));
	return v;
}

/* Strips https://HOST/compute/v1/ from a full URL. */
static const char *partial(const char *ref)
{
	static const char *prefixes[] = {"https://www.googleapis.com/compute/v1/",
					 "https://compute.googleapis.com/compute/v1/"};
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(ref, prefixes[i], strlen(prefixes[i])) == 0)
			return ref + strlen(prefixes[i]);
	return ref;
}

json_t *image_lookup(const char *ref, const char *default_project, char **canon)
{
	const char *p = partial(ref);
	char proj[128] = "", rest[256] = "";
	if (sscanf(p, "projects/%127[^/]/global/images/%255s", proj, rest) == 2) {
		/* full */
	} else if (sscanf(p, "global/images/%255s", rest) == 1) {
		snprintf(proj, sizeof(proj), "%s", default_project);
	} else {
		if (canon)
			*canon = xstrdup(p);
		return NULL;
	}
	if (canon)
		*canon = xasprintf("projects/%s/global/images/%s", proj, rest);
	bool family = strncmp(rest, "family/", 7) == 0;
	const char *want = family ? rest + 7 : rest;
	for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
		if (strcmp(images[i].project, proj) != 0)
			continue;
		if (family ? (strcmp(images[i].family, want) == 0 && !images[i].deprecated)
			   : strcmp(images[i].name, want) == 0)
			return image_json(&images[i]);
	}
	return NULL;
}

json_t *image_list(const char *project)
{
	json_t *items = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(images); i++)
		if (strcmp(images[i].project, project) == 0)
			json_array_append_new(items, image_json(&images[i]));
	return items;
}

static bool in_set(long v, const long *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == v)
			return true;
	return false;
}

/* Returns the MachineType, or NULL when the zone has no such type. */
json_t *machine_type_info(const char *zone, const char *type)
{
	static const long std[] = {2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224};
	static const long hm[] = {2, 4, 8, 16, 32, 48, 64, 80, 96};
	static const long other_std[] = {1, 2, 4, 8, 16, 32};
	long cpus = 0, mem = 0;
	char fam[32], kind[32], ext[8] = "";
	int n;
	if (sscanf(type, "n2d-custom-%ld-%ld%n", &cpus, &mem, &n) == 2 &&
	    (type[n] == 0 || strcmp(type + n, "-ext") == 0)) {
		bool is_ext = type[n] != 0;
		if (!in_set(cpus, hm, ARRAY_SIZE(hm)) || mem % 256 != 0 || mem < 512 * cpus ||
		    (!is_ext && mem > 8192 * cpus) || (is_ext && (mem <= 8192 * cpus || mem > 786432)))
			return NULL;
	} else if (sscanf(type, "n2d-%31[a-z]-%ld%n", kind, &cpus, &n) == 2 && type[n] == 0) {
		if (strcmp(kind, "standard") == 0 && in_set(cpus, std, ARRAY_SIZE(std)))
			mem = cpus * 4096;
		else if (strcmp(kind, "highmem") == 0 && in_set(cpus, hm, ARRAY_SIZE(hm)))
			mem = cpus * 8192;
		else if (strcmp(kind, "highcpu") == 0 && in_set(cpus, std, ARRAY_SIZE(std)))
			mem = cpus * 1024;
		else
			return NULL;
	} else if (sscanf(type, "%31[a-z0-9]-standard-%ld%n", fam, &cpus, &n) == 2 && type[n] == 0 &&
		   (strcmp(fam, "e2") == 0 || strcmp(fam, "n1") == 0 || strcmp(fam, "n2") == 0 ||
		    strcmp(fam, "c2d") == 0 || strcmp(fam, "c3d") == 0) &&
		   in_set(cpus, other_std, ARRAY_SIZE(other_std))) {
		/* Types that exist but are not N2D, for the confidential-VM refusal. */
		mem = cpus * (strcmp(fam, "n1") == 0 ? 3840 : 4096);
	} else if (strcmp(type, "e2-medium") == 0) {
		cpus = 2;
		mem = 4096;
	} else {
		return NULL;
	}
	(void)ext;
	json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i,s:i,s:s,s:s,s:b,s:s}", "kind", "compute#machineType",
			      "id", "901234567", "creationTimestamp", "2019-07-01T10:00:00.000-07:00", "name", type,
			      "description", type, "guestCpus", (json_int_t)cpus, "memoryMb", (json_int_t)mem,
			      "imageSpaceGb", 0, "maximumPersistentDisks", 128, "maximumPersistentDisksSizeGb",
			      "263168", "zone", zone, "isSharedCpu", 0, "architecture", "X86_64");
	json_object_set_new(v, "selfLink",
			    json_sprintf(SELF_BASE "projects/%s/zones/%s/machineTypes/%s", emu.projects[0], zone, type));
	return v;
}

bool name_valid(const char *name)
{
	static regex_t re;
	static bool compiled;
	if (!compiled) {
		if (regcomp(&re, "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", REG_EXTENDED | REG_NOSUB))
			abort();
		compiled = true;
	}
	return regexec(&re, name, 0, NULL, 0) == 0;
}

static int invalid(struct req *r, const char *field, const char *value, const char *why)
{
	reply_error(r, 400, "global", "invalid", NULL, "Invalid value for field '%s': '%s'. %s", field, value, why);
	return -1;
}

static int required(struct req *r, const char *field)
{
	reply_error(r, 400, "global", "required", NULL, "Required field '%s' not specified", field);
	return -1;
}

static bool label_text_ok(const char *s, bool key)
{
	size_t chars = 0;
	if (strlen(s) >= 128)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80) { /* international characters are allowed */
			if ((*p & 0xc0) != 0x80)
				chars++;
			continue;
		}
		chars++;
		bool lower = *p >= 'a' && *p <= 'z';
		if (key && p == (const unsigned char *)s && !lower)
			return false;
		if (!lower && !(*p >= '0' && *p <= '9') && *p != '_' && *p != '-')
			return false;
	}
	if (key && chars == 0)
		return false;
	return chars <= 63;
}

int validate_labels(struct req *r, json_t *labels, const char *field)
{
	if (!labels)
		return 0;
	if (json_object_size(labels) > 64)
		return invalid(r, field, "", "Resource cannot have more than 64 labels.");
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v) {
		if (!label_text_ok(k, true)) {
			_cleanup_free_ char *why = xasprintf(
				"Label key '%s' violates format constraints. The key must start with a lowercase "
				"character, can only contain lowercase letters, numeric characters, underscores and "
				"dashes. The key can be at most 63 characters long. International characters are allowed.",
				k);
			return invalid(r, field, "", why);
		}
		const char *val = json_string_value(v);
		if (val && !label_text_ok(val, false)) {
			_cleanup_free_ char *why = xasprintf(
				"Label value '%s' violates format constraints. The value can only contain lowercase "
				"letters, numeric characters, underscores and dashes. The value can be at most 63 "
				"characters long. International characters are allowed.",
				val);
			return invalid(r, field, "", why);
		}
	}
	return 0;
}

int validate_metadata(struct req *r, json_t *md, const char *field)
{
	json_t *items = json_object_get(md, "items");
	size_t i, total = 0;
	json_t *it;
	static regex_t re;
	static bool compiled;
	if (!compiled) {
		if (regcomp(&re, "^[a-zA-Z0-9_-]+$", REG_EXTENDED | REG_NOSUB))
			abort();
		compiled = true;
	}
	json_array_foreach(items, i, it) {
		const char *k = json_string_value(json_object_get(it, "key"));
		const char *v = json_string_value(json_object_get(it, "value"));
		_cleanup_free_ char *f = xasprintf("%s.items[%zu].key", field, i);
		if (!k || !*k)
			return required(r, f);
		if (strlen(k) > 127 || regexec(&re, k, 0, NULL, 0) != 0)
			return invalid(r, f, k, "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'");
		for (size_t j = 0; j < i; j++) {
			const char *o = json_string_value(json_object_get(json_array_get(items, j), "key"));
			if (o && strcmp(o, k) == 0) {
				_cleanup_free_ char *why = xasprintf("Duplicate keys are not allowed: '%s'.", k);
				return invalid(r, field, "", why);
			}
		}
		size_t vl = v ? strlen(v) : 0;
		if (vl > 262144) {
			reply_error(r, 400, "global", "invalid", NULL,
				    "Value for field '%s.items[%zu].value' is too large: maximum size 262144 character(s); "
				    "actual size %zu.",
				    field, i, vl);
			return -1;
		}
		total += strlen(k) + vl;
	}
	if (total > 524288) {
		reply_error(r, 400, "global", "invalid", NULL,
			    "Value for field '%s' is too large: maximum size 524288 character(s); actual size %zu.", field,
			    total);
		return -1;
	}
	return 0;
}

/* machineType forms: zones/Z/machineTypes/T, projects/P/zones/Z/machineTypes/T, or a full URL. */
static int parse_zonal(const char *ref, const char *coll, char *zone, size_t zn, char *name, size_t nn)
{
	const char *p = partial(ref);
	if (strncmp(p, "projects/", 9) == 0) {
		p = strchr(p + 9, '/');
		if (!p)
			return -1;
		p++;
	}
	if (strncmp(p, "zones/", 6) != 0)
		return -1;
	p += 6;
	const char *slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= zn)
		return -1;
	snprintf(zone, zn, "%.*s", (int)(slash - p), p);
	p = slash + 1;
	size_t cl = strlen(coll);
	if (strncmp(p, coll, cl) != 0 || p[cl] != '/' || !p[cl + 1] || strchr(p + cl + 1, '/'))
		return -1;
	snprintf(name, nn, "%s", p + cl + 1);
	return 0;
}

/* network: global/networks/N, projects/P/global/networks/N, a full URL. */
static const char *network_name(const char *ref)
{
	const char *p = partial(ref);
	const char *n = strstr(p, "global/networks/");
	return n ? n + 16 : NULL;
}

bool network_known(const char *ref, char **name_out)
{
	const char *n = network_name(ref);
	if (name_out)
		*name_out = xstrdup(n ? n : ref);
	if (!n)
		return false;
	size_t i;
	json_t *v;
	json_array_foreach(emu.networks, i, v)
		if (strcmp(json_string_value(v), n) == 0)
			return true;
	return false;
}

static bool has_feature(json_t *image, const char *feat)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(image, "guestOsFeatures"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "type")), feat) == 0)
			return true;
	return false;
}

static const char *const cpu_platforms[] = {"Automatic", "AMD Rome", "AMD Milan", "AMD Genoa", "Intel Skylake",
					    "Intel Cascade Lake", "Intel Ice Lake", "Intel Sapphire Rapids"};

int validate_instance(struct req *r, const char *project, const char *zone, json_t *body, json_t **image_out)
{
	*image_out = NULL;
	if (schema_check(r, body, "Instance", "instance_resource") < 0)
		return -1;
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!name || !*name)
		return required(r, "resource.name");
	if (!name_valid(name))
		return invalid(r, "resource.name", name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'");
	const char *mt = json_string_value(json_object_get(body, "machineType"));
	if (!mt || !*mt)
		return required(r, "resource.machineType");
	char mzone[64], mtype[96];
	if (parse_zonal(mt, "machineTypes", mzone, sizeof(mzone), mtype, sizeof(mtype)) < 0)
		return invalid(r, "resource.machineType", mt, "The URL is malformed.");
	if (strcmp(mzone, zone) != 0) {
		_cleanup_free_ char *why = xasprintf("Machine type zone '%s' does not match the instance zone '%s'.", mzone, zone);
		return invalid(r, "resource.machineType", mt, why);
	}
	_cleanup_(json_decrefp) json_t *mti = machine_type_info(zone, mtype);
	if (!mti) {
		_cleanup_free_ char *why =
			xasprintf("Machine type with name '%s' does not exist in zone '%s'.", mtype, zone);
		return invalid(r, "resource.machineType", mt, why);
	}
	const char *mcp = json_string_value(json_object_get(body, "minCpuPlatform"));
	if (mcp) {
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(cpu_platforms); i++)
			known |= strcmp(cpu_platforms[i], mcp) == 0;
		if (!known)
			return invalid(r, "resource.minCpuPlatform", mcp, "Unknown CPU platform.");
	}
	if (validate_labels(r, json_object_get(body, "labels"), "resource.labels") < 0)
		return -1;
	json_t *md = json_object_get(body, "metadata");
	if (md && validate_metadata(r, md, "resource.metadata") < 0)
		return -1;

	json_t *disks = json_object_get(body, "disks");
	json_t *boot = NULL;
	size_t i, boot_i = 0;
	json_t *d;
	json_array_foreach(disks, i, d) {
		if (json_is_true(json_object_get(d, "boot")) || (i == 0 && !json_object_get(d, "boot"))) {
			if (boot)
				return invalid(r, "resource.disks", "", "Multiple boot disks are not allowed.");
			boot = d;
			boot_i = i;
		}
		json_t *ip = json_object_get(d, "initializeParams");
		const char *src = json_string_value(json_object_get(d, "source"));
		_cleanup_free_ char *f = xasprintf("resource.disks[%zu].initializeParams.sourceImage", i);
		if (src) {
			reply_error(r, 404, "global", "notFound", NULL, "The resource '%s' was not found", partial(src));
			return -1;
		}
		if (!ip)
			return invalid(r, "resource.disks", "", "Either source or initializeParams must be specified.");
		const char *dt = json_string_value(json_object_get(ip, "diskType"));
		if (dt) {
			char dz[64], dn[64];
			static const char *types[] = {"pd-standard", "pd-balanced", "pd-ssd", "pd-extreme",
						      "hyperdisk-balanced"};
			bool ok = parse_zonal(dt, "diskTypes", dz, sizeof(dz), dn, sizeof(dn)) == 0 &&
				  strcmp(dz, zone) == 0;
			bool known = false;
			for (size_t t = 0; ok && t < ARRAY_SIZE(types); t++)
				known |= strcmp(types[t], dn) == 0;
			if (!ok || !known) {
				_cleanup_free_ char *ff = xasprintf("resource.disks[%zu].initializeParams.diskType", i);
				return invalid(r, ff, dt, "The disk type does not exist in this zone.");
			}
		}
		const char *img = json_string_value(json_object_get(ip, "sourceImage"));
		if (!img) {
			if (d == boot)
				return required(r, f);
			continue;
		}
		_cleanup_free_ char *canon = NULL;
		json_t *image = image_lookup(img, project, &canon);
		if (!image) {
			reply_error(r, 404, "global", "notFound", NULL, "The resource '%s' was not found", canon);
			return -1;
		}
		json_t *sz = json_object_get(ip, "diskSizeGb");
		long long gb = json_is_string(sz) ? atoll(json_string_value(sz)) : json_integer_value(sz);
		if (sz && gb < 10) {
			json_decref(image);
			reply_error(r, 400, "global", "invalid", NULL,
				    "Invalid value for field 'resource.disks[%zu].initializeParams.diskSizeGb': '%lld'. "
				    "Requested disk size cannot be smaller than the image size (10 GB)",
				    i, gb);
			return -1;
		}
		if (d == boot) {
			json_decref(*image_out);
			*image_out = image;
		} else {
			json_decref(image);
		}
	}
	if (!boot) {
		json_decref(*image_out);
		*image_out = NULL;
		return invalid(r, "resource.disks", "", "Boot disk must be specified.");
	}

	json_t *nics = json_object_get(body, "networkInterfaces");
	if (json_array_size(nics) == 0)
		return invalid(r, "resource.networkInterfaces", "", "At least one network interface is required.");
	json_t *nic;
	_cleanup_free_ char *region = zone_region(zone);
	json_array_foreach(nics, i, nic) {
		const char *net = json_string_value(json_object_get(nic, "network"));
		const char *sub = json_string_value(json_object_get(nic, "subnetwork"));
		if (!net && !sub)
			net = "global/networks/default";
		if (net) {
			_cleanup_free_ char *nn = NULL;
			if (!network_known(net, &nn)) {
				reply_error(r, 404, "global", "notFound", NULL,
					    "The resource 'projects/%s/global/networks/%s' was not found", project, nn);
				return -1;
			}
		}
		if (sub) {
			const char *p = partial(sub);
			const char *rg = strstr(p, "regions/");
			_cleanup_free_ char *f = xasprintf("resource.networkInterfaces[%zu].subnetwork", i);
			if (!rg || strncmp(rg + 8, region, strlen(region)) != 0 || rg[8 + strlen(region)] != '/' ||
			    !strstr(rg, "/subnetworks/"))
				return invalid(r, f, sub, "The subnetwork must be in the instance's region.");
		}
		if (json_array_size(json_object_get(nic, "accessConfigs")) > 1) {
			_cleanup_free_ char *f = xasprintf("resource.networkInterfaces[%zu].accessConfigs", i);
			return invalid(r, f, "", "At most one access config is allowed per network interface.");
		}
	}

	/* Confidential VM rules. */
	json_t *cic = json_object_get(body, "confidentialInstanceConfig");
	const char *ctype = json_string_value(json_object_get(cic, "confidentialInstanceType"));
	bool sev = json_is_true(json_object_get(cic, "enableConfidentialCompute"));
	bool snp = ctype && strcmp(ctype, "SEV_SNP") == 0;
	if (snp || sev || (ctype && strcmp(ctype, "SEV") == 0)) {
		const char *what = snp ? "SEV_SNP" : "SEV";
		bool n2d = strncmp(mtype, "n2d-", 4) == 0;
		bool amd = n2d || strncmp(mtype, "c2d-", 4) == 0 || strncmp(mtype, "c3d-", 4) == 0;
		if (snp ? !n2d : !amd) {
			_cleanup_free_ char *why = xasprintf(
				"Confidential Instance Config type %s is not supported for machine type '%s'; %s needs an %s "
				"machine type.",
				what, mtype, what, snp ? "N2D" : "AMD (N2D, C2D, C3D)");
			return invalid(r, "resource.machineType", mt, why);
		}
		if (snp && (!mcp || strcmp(mcp, "AMD Milan") != 0))
			return invalid(r, "resource.minCpuPlatform", mcp ? mcp : "",
				       "Confidential Instance Config type SEV_SNP requires minCpuPlatform 'AMD Milan'.");
		const char *ohm = json_string_value(json_object_get(json_object_get(body, "scheduling"), "onHostMaintenance"));
		if (!ohm)
			ohm = "MIGRATE";
		if (snp && strcmp(ohm, "TERMINATE") != 0)
			return invalid(r, "resource.scheduling.onHostMaintenance", ohm,
				       "Confidential VMs with SEV_SNP must use onHostMaintenance TERMINATE.");
		const char *iface = json_string_value(json_object_get(boot, "interface"));
		if (!iface || strcmp(iface, "NVME") != 0) {
			_cleanup_free_ char *f = xasprintf("resource.disks[%zu].interface", boot_i);
			return invalid(r, f, iface ? iface : "",
				       "Confidential VMs need a boot disk with the NVME interface.");
		}
		const char *feat = snp ? "SEV_SNP_CAPABLE" : "SEV_CAPABLE";
		if (*image_out && !has_feature(*image_out, feat)) {
			_cleanup_free_ char *f = xasprintf("resource.disks[%zu].initializeParams.sourceImage", boot_i);
			_cleanup_free_ char *why = xasprintf(
				"The image does not support Confidential Instance Config type %s: its guestOsFeatures lack %s.",
				what, feat);
			const char *img = json_string_value(json_object_get(json_object_get(boot, "initializeParams"), "sourceImage"));
			json_decref(*image_out);
			*image_out = NULL;
			return invalid(r, f, img ? img : "", why);
		}
	}
	return 0;
}
