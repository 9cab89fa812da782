/* Request validation: the wire schema (field names, JSON types, enum
 * values) as strictly as the real resource providers deserialize, the
 * api-versions served, names, tags, and the confidential-VM rules of a
 * DCasv5 virtual machine. Each failure answers the provider's own 400 body
 * and returns -EINVAL. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

extern const char arm_schema_json[];

/* The Disk model is not in the SDK-extracted schema (cvmctl does not PUT
 * disks); this is the subset of the DiskRP Disk resource a client sends. */
static const char disk_model[] =
	"{\"id\":{\"readOnly\":true,\"type\":\"String\"},\"name\":{\"readOnly\":true,\"type\":\"String\"},"
	"\"type\":{\"readOnly\":true,\"type\":\"String\"},\"location\":{\"required\":true,\"type\":\"String\"},"
	"\"tags\":{\"type\":\"Dictionary:String\"},\"zones\":{\"type\":\"Sequence:String\"},"
	"\"managedBy\":{\"readOnly\":true,\"type\":\"String\"},\"sku\":{\"type\":\"Composite:DiskSku\"},"
	"\"properties.osType\":{\"type\":\"Enum\",\"values\":[\"Windows\",\"Linux\"]},"
	"\"properties.hyperVGeneration\":{\"type\":\"String\"},"
	"\"properties.creationData\":{\"type\":\"Composite:CreationData\"},"
	"\"properties.diskSizeGB\":{\"type\":\"Number\"},"
	"\"properties.securityProfile\":{\"type\":\"Composite:DiskSecurityProfile\"},"
	"\"properties.diskState\":{\"readOnly\":true,\"type\":\"String\"},"
	"\"properties.timeCreated\":{\"readOnly\":true,\"type\":\"DateTime\"},"
	"\"properties.uniqueId\":{\"readOnly\":true,\"type\":\"String\"},"
	"\"properties.provisioningState\":{\"readOnly\":true,\"type\":\"String\"}}";
static const char disk_submodels[] =
	"{\"DiskSku\":{\"name\":{\"type\":\"String\"},\"tier\":{\"readOnly\":true,\"type\":\"String\"}},"
	"\"CreationData\":{\"createOption\":{\"required\":true,\"type\":\"String\"},"
	"\"imageReference\":{\"type\":\"Composite:SubResource\"},\"sourceResourceId\":{\"type\":\"String\"}},"
	"\"DiskSecurityProfile\":{\"securityType\":{\"type\":\"String\"},"
	"\"secureVMDiskEncryptionSetId\":{\"type\":\"String\"}}}";

int schema_load(void)
{
	json_error_t err;
	emu.schema = json_loads(arm_schema_json, 0, &err);
	json_t *disk = json_loads(disk_model, 0, &err);
	json_t *subs = json_loads(disk_submodels, 0, &err);
	if (!json_is_object(emu.schema) || !disk || !subs) {
		fprintf(stderr, "arm-emu: the built-in wire schema does not parse: %s\n", err.text);
		return -EINVAL;
	}
	json_object_set_new(emu.schema, "Disk", disk);
	json_object_update(emu.schema, subs);
	json_decref(subs);
	return 0;
}

/* ---- api-versions ---- */

struct versions {
	const char *type_prefix; /* lower case */
	const char *list;        /* comma-separated */
};

/* The pinned versions (the wire schema's) and those Microsoft's SDKs send
 * (Debian 12's python3-azure; newer JavaScript SDKs). */
static const struct versions served[] = {
	{"microsoft.compute/disks", "2024-03-02,2022-07-02"},
	/* operation URLs carry the api-version of the call that started them */
	{"microsoft.compute/locations/", "2024-11-01,2022-08-01,2026-03-01,2024-03-02,2022-07-02"},
	{"microsoft.compute/", "2024-11-01,2022-08-01,2026-03-01"},
	{"microsoft.network/", "2024-10-01,2022-07-01,2025-05-01"},
	{"microsoft.resources/", "2021-04-01,2022-09-01"},
};

const char *api_versions_list(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(served); i++)
		if (strncasecmp(type, served[i].type_prefix, strlen(served[i].type_prefix)) == 0)
			return served[i].list;
	return "";
}

bool api_version_ok(const char *type, const char *v)
{
	const char *list = api_versions_list(type);
	size_t n = strlen(v);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* ---- the wire schema ---- */

struct known {
	const char *model, *field, *set;
};

/* String fields whose values the service checks although the SDK calls
 * them extensible (the schema's _known_values name them by set only). */
static const struct known known_fields[] = {
	{"SecurityProfile", "securityType", "SecurityTypes"},
	{"VMDiskSecurityProfile", "securityEncryptionType", "SecurityEncryptionTypes"},
	{"OSDisk", "deleteOption", "DiskDeleteOptionTypes"},
	{"OSDisk", "createOption", "DiskCreateOptionTypes"},
	{"NetworkInterfaceReference", "properties.deleteOption", "DeleteOptions"},
	{"ManagedDiskParameters", "storageAccountType", "StorageAccountTypes"},
	{"PublicIPAddressSku", "name", "PublicIPAddressSkuName"},
	{"PublicIPAddressSku", "tier", "PublicIPAddressSkuTier"},
	{"PublicIPAddress", "properties.publicIPAllocationMethod", "IPAllocationMethod"},
	{"PublicIPAddress", "properties.publicIPAddressVersion", "IPVersion"},
	{"PublicIPAddress", "properties.deleteOption", "DeleteOptions"},
	{"NetworkInterfaceIPConfiguration", "properties.privateIPAllocationMethod", "IPAllocationMethod"},
	{"NetworkInterfaceIPConfiguration", "properties.privateIPAddressVersion", "IPVersion"},
	{"SecurityRule", "properties.protocol", "SecurityRuleProtocol"},
	{"SecurityRule", "properties.access", "SecurityRuleAccess"},
	{"SecurityRule", "properties.direction", "SecurityRuleDirection"},
	{"DiskSku", "name", "DiskStorageAccountTypes"},
	{"CreationData", "createOption", "DiskCreateOption"},
};

static json_t *known_set(const char *model, const char *field)
{
	for (size_t i = 0; i < ARRAY_SIZE(known_fields); i++)
		if (strcmp(known_fields[i].model, model) == 0 && strcmp(known_fields[i].field, field) == 0)
			return json_object_get(json_object_get(emu.schema, "_known_values"), known_fields[i].set);
	return NULL;
}

static bool in_values(json_t *values, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(values, i, v)
		if (streqi(json_string_value(v), s))
			return true;
	return false;
}

struct sctx {
	struct req *r;
	bool compute; /* Compute's error forms, else Network's */
};

/* Network answers a body it cannot deserialize with InvalidRequestFormat
 * and the deserializer's message in details; Compute with
 * InvalidRequestContent. Both name the path. */
static int deser_error(struct sctx *c, const char *path, const char *msg)
{
	if (c->compute) {
		_cleanup_free_ char *m = xasprintf("The request content was invalid and could not be deserialized: '%s'.", msg);
		reply_json(c->r, 400, arm_error("InvalidRequestContent", path, m));
	} else {
		json_t *e = arm_error("InvalidRequestFormat", path, "Cannot parse the request.");
		json_object_set_new(json_object_get(e, "error"), "details",
				    json_pack("[{s:s,s:s,s:s}]", "code", "InvalidJson", "message", msg, "target", path));
		reply_json(c->r, 400, e);
	}
	return -EINVAL;
}

static const char *json_kind(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "StartObject";
	case JSON_ARRAY: return "StartArray";
	case JSON_STRING: return "String";
	case JSON_INTEGER: return "Integer";
	case JSON_REAL: return "Float";
	case JSON_TRUE:
	case JSON_FALSE: return "Boolean";
	default: return "Null";
	}
}

static int check_model(struct sctx *c, json_t *obj, const char *model, const char *prefix, const char *path);

static int type_error(struct sctx *c, const char *path, json_t *v, const char *want)
{
	_cleanup_free_ char *m = xasprintf("Unexpected token %s when parsing %s. Path '%s'.", json_kind(v), want, path);
	return deser_error(c, path, m);
}

static int check_value(struct sctx *c, json_t *v, const char *type, json_t *values, json_t *known, const char *model,
		       const char *path)
{
	if (json_is_null(v))
		return 0;
	if (strcmp(type, "String") == 0 || strcmp(type, "DateTime") == 0) {
		if (!json_is_string(v))
			return type_error(c, path, v, "String");
		if (known && !in_values(known, json_string_value(v))) {
			if (c->compute) {
				const char *rel = strncmp(path, "properties.", 11) == 0 ? path + 11 : path;
				reply_error(c->r, 400, "InvalidParameter", rel, "The value '%s' of parameter '%s' is invalid.",
					    json_string_value(v), rel);
				return -EINVAL;
			}
			_cleanup_free_ char *m = xasprintf("Error converting value \"%s\" to type '%s'. Path '%s'.",
							   json_string_value(v), model, path);
			return deser_error(c, path, m);
		}
		return 0;
	}
	if (strcmp(type, "Number") == 0)
		return json_is_number(v) ? 0 : type_error(c, path, v, "Number");
	if (strcmp(type, "Boolean") == 0)
		return json_is_boolean(v) ? 0 : type_error(c, path, v, "Boolean");
	if (strcmp(type, "Enum") == 0) {
		if (!json_is_string(v) || !in_values(values, json_string_value(v))) {
			_cleanup_free_ char *m = xasprintf("Error converting value %s to type '%s'. Path '%s'.",
							   json_is_string(v) ? json_string_value(v) : json_kind(v), model, path);
			return deser_error(c, path, m);
		}
		return 0;
	}
	if (strcmp(type, "Object") == 0 || strcmp(type, "any") == 0)
		return 0;
	if (strncmp(type, "Composite:", 10) == 0) {
		if (!json_is_object(v))
			return type_error(c, path, v, type + 10);
		return check_model(c, v, type + 10, "", path);
	}
	if (strncmp(type, "Sequence:", 9) == 0) {
		if (!json_is_array(v))
			return type_error(c, path, v, "Array");
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			_cleanup_free_ char *p = xasprintf("%s[%zu]", path, i);
			if (check_value(c, e, type + 9, values, known, model, p) < 0)
				return -EINVAL;
		}
		return 0;
	}
	if (strncmp(type, "Dictionary:", 11) == 0) {
		if (!json_is_object(v))
			return type_error(c, path, v, "Dictionary");
		const char *k;
		json_t *e;
		json_object_foreach(v, k, e) {
			_cleanup_free_ char *p = xasprintf("%s.%s", path, k);
			if (check_value(c, e, type + 11, values, known, model, p) < 0)
				return -EINVAL;
		}
		return 0;
	}
	return 0;
}

/* OBJ holds the fields of MODEL under PREFIX ("" or "properties."). */
static int check_model(struct sctx *c, json_t *obj, const char *model, const char *prefix, const char *path)
{
	json_t *m = json_object_get(emu.schema, model);
	if (!m)
		return 0;
	size_t pl = strlen(prefix);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		_cleanup_free_ char *full = xasprintf("%s%s", prefix, k);
		_cleanup_free_ char *p = *path ? xasprintf("%s.%s", path, k) : xstrdup(k);
		json_t *f = json_object_get(m, full);
		if (f) {
			if (json_is_true(json_object_get(f, "readOnly")))
				continue; /* set by the service; ignored when sent */
			const char *type = json_string_value(json_object_get(f, "type"));
			json_t *values = json_object_get(f, "values");
			const char *base = strrchr(type, ':') ? strrchr(type, ':') + 1 : type;
			json_t *known = (strcmp(base, "String") == 0) ? known_set(model, full) : NULL;
			if (check_value(c, v, type, values, known, model, p) < 0)
				return -EINVAL;
			continue;
		}
		/* an intermediate object of dotted wire paths ("properties") */
		bool nested = false;
		size_t fl = strlen(full);
		const char *mk;
		json_t *mv;
		json_object_foreach(m, mk, mv)
			if (strncmp(mk, full, fl) == 0 && mk[fl] == '.')
				nested = true;
		if (nested) {
			if (json_is_null(v))
				continue;
			if (!json_is_object(v))
				return type_error(c, p, v, model);
			_cleanup_free_ char *np = xasprintf("%s.", full);
			if (check_model(c, v, model, np, p) < 0)
				return -EINVAL;
			continue;
		}
		_cleanup_free_ char *tn = pl ? xasprintf("%s%s", model, c->compute ? "Properties" : "PropertiesFormat")
					    : xstrdup(model);
		_cleanup_free_ char *msg = xasprintf("Could not find member '%s' on object of type '%s'. Path '%s'.", k, tn, p);
		return deser_error(c, p, msg);
	}
	/* required members of this level (location is the caller's check) */
	json_object_foreach(m, k, v) {
		if (!json_is_true(json_object_get(v, "required")) || strncmp(k, prefix, pl) != 0 ||
		    strchr(k + pl, '.') || strcmp(k, "location") == 0)
			continue;
		if (!json_object_get(obj, k + pl)) {
			_cleanup_free_ char *p = *path ? xasprintf("%s.%s", path, k + pl) : xstrdup(k + pl);
			const char *rel = strncmp(p, "properties.", 11) == 0 ? p + 11 : p;
			reply_error(c->r, 400, "InvalidParameter", rel, "Required parameter '%s' is missing (null).", rel);
			return -EINVAL;
		}
	}
	return 0;
}

int schema_check(struct req *r, json_t *body, const char *model, const char *ns)
{
	struct sctx c = {.r = r, .compute = streqi(ns, "Microsoft.Compute")};
	return check_model(&c, body, model, "", "");
}

/* ---- names and tags ---- */

int validate_name(struct req *r, const char *type, const char *name)
{
	bool vm = streqi(type, "Microsoft.Compute/virtualMachines");
	size_t max = vm ? 64 : 80, n = strlen(name);
	bool ok = n >= 1 && n <= max && (isalnum((unsigned char)name[0]) || name[0] == '_');
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)name[i]) || strchr("._-", name[i]);
	if (ok && (name[n - 1] == '.' || name[n - 1] == '-'))
		ok = false;
	if (ok)
		return 0;
	reply_error(r, 400, "InvalidResourceName", NULL,
		    "Resource name %s is invalid. The name can be up to %zu characters long. It must begin with a word "
		    "character, and it must end with a word character or with '_'. The name may contain word characters "
		    "or '.', '-', '_'.", name, max);
	return -EINVAL;
}

int validate_tags(struct req *r, json_t *tags)
{
	if (!tags || json_is_null(tags))
		return 0;
	if (json_object_size(tags) > 50) {
		reply_error(r, 400, "InvalidTag", "tags", "The number of tags (%zu) exceeds the limit of 50.",
			    json_object_size(tags));
		return -EINVAL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(tags, k, v) {
		if (strlen(k) == 0 || strlen(k) > 512 || strpbrk(k, "<>%&\\?/")) {
			reply_error(r, 400, "InvalidTagNameCharacters", "tags",
				    "The tag names '%s' have reserved characters '<,>,%%,&,\\,?,/' or control characters, "
				    "or are longer than 512 characters.", k);
			return -EINVAL;
		}
		if (strlen(json_string_value(v) ? json_string_value(v) : "") > 256) {
			reply_error(r, 400, "InvalidTag", "tags", "The tag value of '%s' is longer than 256 characters.", k);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- the confidential-VM rules ---- */

static const char *const dcasv5[] = {
	"Standard_DC2as_v5", "Standard_DC4as_v5", "Standard_DC8as_v5", "Standard_DC16as_v5",
	"Standard_DC32as_v5", "Standard_DC48as_v5", "Standard_DC64as_v5", "Standard_DC96as_v5",
};

/* From the OSProfile.adminUsername description of the Compute spec. */
static const char *const bad_users[] = {
	"administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123", "a",
	"actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root",
	"server", "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5",
};

#define GET(o, path) json_path_get(o, path)

/* The value at a dotted PATH in O, or NULL. */
static json_t *json_path_get(json_t *o, const char *path)
{
	_cleanup_free_ char *s = xstrdup(path);
	for (char *save = NULL, *t = strtok_r(s, ".", &save); t && o; t = strtok_r(NULL, ".", &save))
		o = json_is_object(o) ? json_object_get(o, t) : NULL;
	return json_is_null(o) ? NULL : o;
}

static int bad(struct req *r, const char *target, const char *msg)
{
	reply_json(r, 400, arm_error("InvalidParameter", target, msg));
	return -EINVAL;
}

static bool base64_ok(const char *s, size_t max_chars)
{
	if (strlen(s) > max_chars)
		return false;
	_cleanup_free_ unsigned char *d = b64_decode(s, NULL, false);
	return d != NULL;
}

static int validate_os_profile(struct req *r, const char *vm_name, json_t *os, bool update)
{
	const char *user = json_string_value(GET(os, "adminUsername"));
	if (!user)
		return bad(r, "osProfile.adminUsername", "Required parameter 'adminUsername' is missing (null).");
	size_t ul = strlen(user);
	bool uok = ul >= 1 && ul <= 64 && user[ul - 1] != '.' && user[0] != '-';
	for (size_t i = 0; uok && i < ul; i++)
		uok = isalnum((unsigned char)user[i]) || strchr("._-", user[i]);
	for (size_t i = 0; uok && i < ARRAY_SIZE(bad_users); i++)
		uok = strcasecmp(user, bad_users[i]) != 0;
	if (!uok)
		return bad(r, "osProfile.adminUsername", "The Admin Username specified is not allowed.");
	const char *cn = json_string_value(GET(os, "computerName"));
	if (!cn)
		cn = vm_name;
	size_t cl = strlen(cn);
	bool cok = cl >= 1 && cl <= 64 && cn[0] != '-' && cn[cl - 1] != '-' && cn[cl - 1] != '.';
	bool digits = true;
	for (size_t i = 0; cok && i < cl; i++) {
		cok = isalnum((unsigned char)cn[i]) || cn[i] == '-' || cn[i] == '.';
		digits &= isdigit((unsigned char)cn[i]) != 0;
	}
	if (!cok || digits)
		return bad(r, "osProfile.computerName",
			   "Linux host name cannot exceed 64 characters in length or contain the following characters: "
			   "~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : ' \" , < > / ?.");
	if (GET(os, "windowsConfiguration"))
		return bad(r, "osProfile.windowsConfiguration",
			   "Windows configuration is not allowed for a Linux image (this emulator serves Linux CVMs).");
	const char *cd = json_string_value(GET(os, "customData"));
	if (cd && !base64_ok(cd, 87380))
		return bad(r, "osProfile.customData",
			   "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters.");
	const char *pw = json_string_value(GET(os, "adminPassword"));
	json_t *keys = GET(os, "linuxConfiguration.ssh.publicKeys");
	bool no_pw = json_is_true(GET(os, "linuxConfiguration.disablePasswordAuthentication"));
	if (no_pw && json_array_size(keys) == 0)
		return bad(r, "osProfile.linuxConfiguration",
			   "Authentication using either SSH or by user name and password must be enabled in Linux profile.");
	if (!no_pw && !pw && !update)
		return bad(r, "osProfile.adminPassword", "Required parameter 'adminPassword' is missing (null).");
	if (pw) {
		size_t pl = strlen(pw);
		int cls = 0, lo = 0, up = 0, dg = 0, sp = 0;
		bool ctl = false;
		for (size_t i = 0; i < pl; i++) {
			unsigned char ch = (unsigned char)pw[i];
			lo |= islower(ch) != 0;
			up |= isupper(ch) != 0;
			dg |= isdigit(ch) != 0;
			sp |= ispunct(ch) != 0 || ch == ' ';
			ctl |= iscntrl(ch) != 0;
		}
		cls = lo + up + dg + sp;
		if (pl < 6 || pl > 72 || cls < 3 || ctl)
			return bad(r, "osProfile.adminPassword",
				   "The supplied password must be between 6-72 characters long and must satisfy at least 3 of "
				   "password complexity requirements from the following: 1) Contains an uppercase character "
				   "2) Contains a lowercase character 3) Contains a numeric digit 4) Contains a special character "
				   "5) Control characters are not allowed");
	}
	_cleanup_free_ char *want_path = xasprintf("/home/%s/.ssh/authorized_keys", user);
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k) {
		const char *path = json_string_value(GET(k, "path"));
		const char *data = json_string_value(GET(k, "keyData"));
		if (!path || strcmp(path, want_path) != 0) {
			_cleanup_free_ char *m = xasprintf(
				"Destination path for SSH public keys is currently limited to its default value %s due to a "
				"known issue in Linux provisioning agent.", want_path);
			return bad(r, "osProfile.linuxConfiguration.ssh.publicKeys.path", m);
		}
		const char *sp = data ? strchr(data, ' ') : NULL;
		bool kok = data && (strncmp(data, "ssh-rsa ", 8) == 0 || strncmp(data, "ssh-ed25519 ", 12) == 0);
		if (kok) {
			_cleanup_free_ char *blob = strndup(sp + 1, strcspn(sp + 1, " \r\n"));
			kok = base64_ok(blob, 16384);
		}
		if (!kok)
			return bad(r, "osProfile.linuxConfiguration.ssh.publicKeys.keyData",
				   "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.");
	}
	return 0;
}

int validate_vm(struct req *r, const char *name, json_t *body, bool update)
{
	json_t *p = json_object_get(body, "properties");
	const char *size = json_string_value(GET(p, "hardwareProfile.vmSize"));
	if (!size)
		return bad(r, "hardwareProfile.vmSize", "Required parameter 'hardwareProfile.vmSize' is missing (null).");
	bool dc = false;
	for (size_t i = 0; i < ARRAY_SIZE(dcasv5); i++)
		dc |= strcasecmp(size, dcasv5[i]) == 0;
	if (!dc) {
		_cleanup_free_ char *m = xasprintf(
			"The VM size '%s' is not supported for creation of VMs and Virtual Machine Scale Set with "
			"'ConfidentialVM' security type. Supported sizes here: Standard_DC{2,4,8,16,32,48,64,96}as_v5.", size);
		return bad(r, "hardwareProfile.vmSize", m);
	}
	const char *st = json_string_value(GET(p, "securityProfile.securityType"));
	if (!st || strcasecmp(st, "ConfidentialVM") != 0) {
		_cleanup_free_ char *m = xasprintf("The VM size '%s' requires 'securityProfile.securityType' to be "
						   "'ConfidentialVM'.", size);
		return bad(r, "securityProfile.securityType", m);
	}
	if (!json_is_true(GET(p, "securityProfile.uefiSettings.vTpmEnabled")))
		return bad(r, "securityProfile.uefiSettings.vTpmEnabled",
			   "'securityProfile.uefiSettings.vTpmEnabled' must be true when 'securityProfile.securityType' is "
			   "'ConfidentialVM'.");
	if (!json_is_true(GET(p, "securityProfile.uefiSettings.secureBootEnabled")))
		return bad(r, "securityProfile.uefiSettings.secureBootEnabled",
			   "'securityProfile.uefiSettings.secureBootEnabled' must be true for a Confidential VM here.");
	json_t *osd = GET(p, "storageProfile.osDisk");
	if (!osd)
		return bad(r, "storageProfile.osDisk", "Required parameter 'osDisk' is missing (null).");
	const char *co = json_string_value(GET(osd, "createOption"));
	bool from_image = co && strcasecmp(co, "FromImage") == 0;
	if (!from_image)
		return bad(r, "storageProfile.osDisk.createOption",
			   "The value of parameter osDisk.createOption is invalid: this emulator creates OS disks FromImage.");
	const char *enc = json_string_value(GET(osd, "managedDisk.securityProfile.securityEncryptionType"));
	if (!enc)
		return bad(r, "storageProfile.osDisk.managedDisk.securityProfile.securityEncryptionType",
			   "'securityEncryptionType' of the OS disk's managedDisk.securityProfile must be set when "
			   "'securityProfile.securityType' is 'ConfidentialVM'.");
	if (GET(osd, "managedDisk.securityProfile.diskEncryptionSet") && strcasecmp(enc, "DiskWithVMGuestState") != 0)
		return bad(r, "storageProfile.osDisk.managedDisk.securityProfile.diskEncryptionSet",
			   "A disk encryption set for the OS disk needs 'securityEncryptionType' 'DiskWithVMGuestState'.");
	json_t *img = GET(p, "storageProfile.imageReference");
	if (!img)
		return bad(r, "storageProfile.imageReference", "Required parameter 'imageReference' is missing (null).");
	const char *pub = json_string_value(GET(img, "publisher")), *offer = json_string_value(GET(img, "offer"));
	const char *sku = json_string_value(GET(img, "sku")), *ver = json_string_value(GET(img, "version"));
	size_t sl = sku ? strlen(sku) : 0;
	if (!pub || !offer || !sku || !ver || sl < 3 || strcasecmp(sku + sl - 3, "cvm") != 0) {
		_cleanup_free_ char *m = xasprintf(
			"The platform image '%s:%s:%s:%s' is not a Confidential VM image: 'ConfidentialVM' needs a Gen2 "
			"CVM image (a '-cvm' SKU).", pub ? pub : "", offer ? offer : "", sku ? sku : "", ver ? ver : "");
		return bad(r, "storageProfile.imageReference", m);
	}
	json_t *os = GET(p, "osProfile");
	if (!os)
		return bad(r, "osProfile", "Required parameter 'osProfile' is missing (null).");
	if (validate_os_profile(r, name, os, update) < 0)
		return -EINVAL;
	const char *ud = json_string_value(GET(p, "userData"));
	if (ud && !base64_ok(ud, 87380))
		return bad(r, "userData", "User data must be in Base64 encoding and with a maximum length of 87380 characters.");
	json_t *nics = GET(p, "networkProfile.networkInterfaces");
	if (json_array_size(nics) == 0)
		return bad(r, "networkProfile", "Required parameter 'networkProfile' is missing (null).");
	if (json_array_size(nics) > 1) {
		size_t i, primaries = 0;
		json_t *n;
		json_array_foreach(nics, i, n)
			primaries += json_is_true(GET(n, "properties.primary"));
		if (primaries != 1) {
			_cleanup_free_ char *m = xasprintf("Virtual machine %s must have one network interface set as the primary.", name);
			reply_json(r, 400, arm_error("VirtualMachineMustHaveOneNetworkInterfaceAsPrimary", "networkProfile", m));
			return -EINVAL;
		}
	}
	return 0;
}
