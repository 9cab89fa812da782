/* cloud-init rendering for the cloud backends: the #cloud-config and the
 * delivery document match their golden files byte for byte; the YAML parses
 * (libyaml) and gives back every input byte, mode and owner, whatever the
 * input holds; the refresher is valid sh (and shellcheck-clean when
 * shellcheck is installed), and when run against a fake curl and systemctl
 * it installs files with the right modes, replaces only what changed,
 * applies all or nothing, restarts the agent only on a change, and never
 * prints key material.
 *
 * Goldens live in tests/golden/cloudinit/ (relative to the source root, the
 * working directory, or $CVMCTL_SRCDIR); UPDATE_GOLDEN=1 rewrites them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <ftw.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/cloudinit.h"

/* ---- fixed inputs (dummy PEM text, not real keys) ---- */

static const char CVM_ID[] = "5f0c7a4e-2b7d-4c1e-9a33-0c1d2e3f4a5b";
static const char CVM_NAME[] = "analytics-1";
static const char CERT[] = "-----BEGIN CERTIFICATE-----\n"
                           "MIIBdGVzdC1jZXJ0aWZpY2F0ZS1ub3QtYS1yZWFsLWNlcnQ=\n"
                           "-----END CERTIFICATE-----\n";
static const char KEY[] = "-----BEGIN PRIVATE KEY-----\n"
                          "MIGHdGVzdC1rZXktbm90LWEtcmVhbC1rZXktZG8tbm90LXVzZQ==\n"
                          "-----END PRIVATE KEY-----\n";
static const char CA[] = "-----BEGIN CERTIFICATE-----\n"
                         "MIIBdGVzdC1jYS1ub3QtYS1yZWFsLWNh\n"
                         "-----END CERTIFICATE-----\n";
static const char ENV[] = "AGENT_LOG_LEVEL=info\n"
                          "AGENT_CVM_ID=5f0c7a4e-2b7d-4c1e-9a33-0c1d2e3f4a5b\n"
                          "AGENT_CVM_GRPC_URL=cvms.example.org:7001\n"
                          "AGENT_CVM_GRPC_CLIENT_CERT=/etc/cocos/certs/cert.pem\n"
                          "AGENT_CVM_GRPC_CLIENT_KEY=/etc/cocos/certs/key.pem\n"
                          "AGENT_CVM_GRPC_SERVER_CA_CERTS=/etc/cocos/certs/ca.pem\n";
/* Everything YAML or a line format could trip over. */
static const char TRICKY[] = "A='single' \"double\"\n"
                             "B=key: value # not a comment\n"
                             "- C=|\n"
                             "  >folded\n"
                             "\n"
                             "D=\ttab\\backslash %s {x} [y] &anchor *alias !tag\n"
                             "...\n"
                             "---\n"
                             "E=no trailing newline";

static cloudinit_params_t params(cloud_kind_t cloud, bool certs) {
	cloudinit_params_t p = {
		.cloud = cloud,
		.cvm_id = CVM_ID,
		.cvm_name = CVM_NAME,
		.environment = ENV,
	};
	if (certs) {
		p.cert_pem = CERT;
		p.key_pem = KEY;
		p.ca_pem = CA;
	}
	return p;
}

/* ---- helpers ---- */

static char *render_ok(const cloudinit_params_t *p, size_t *len) {
	char *out = NULL, *err = NULL;
	int r = cloudinit_render(p, &out, len, &err);
	if (r < 0) fail_msg("cloudinit_render: %d %s", r, err ? err : "");
	assert_null(err);
	assert_int_equal(strlen(out), *len);
	return out;
}

static char *delivery_ok(const cloudinit_params_t *p, size_t *len) {
	char *out = NULL, *err = NULL;
	int r = cloudinit_render_delivery(p, &out, len, &err);
	if (r < 0) fail_msg("cloudinit_render_delivery: %d %s", r, err ? err : "");
	assert_null(err);
	return out;
}

/* An independent decoder (OpenSSL's), so the renderer's encoder is checked
 * rather than trusted. Returns the byte count, or -1. */
static long b64_decode(const char *in, unsigned char **out) {
	size_t n = strlen(in);
	int len;

	*out = xmalloc(n / 4 * 3 + 1);
	if (n % 4) return -1;
	if (n == 0) return 0;
	len = EVP_DecodeBlock(*out, (const unsigned char *)in, (int)n);
	if (len < 0) return -1;
	if (in[n - 1] == '=') len--;
	if (in[n - 2] == '=') len--;
	return len;
}

static void assert_b64_is(const char *b64, const void *want, size_t want_len) {
	_cleanup_free_ unsigned char *got = NULL;
	long n = b64_decode(b64, &got);
	assert_int_equal(n, (long)want_len);
	assert_memory_equal(got, want, want_len);
}

static const char *srcdir(void) {
	const char *s = getenv("CVMCTL_SRCDIR");
	return s && *s ? s : ".";
}

static void check_golden(const char *name, const char *data, size_t len) {
	_cleanup_free_ char *path = xasprintf("%s/tests/golden/cloudinit/%s", srcdir(), name);
	_cleanup_free_ char *want = NULL;
	size_t want_len = 0;
	int r;

	if (getenv("UPDATE_GOLDEN")) {
		_cleanup_free_ char *dir = xasprintf("%s/tests/golden/cloudinit", srcdir());
		assert_int_equal(mkdir_p(dir, 0755), 0);
		assert_int_equal(write_file_atomic(path, data, len, 0644), 0);
		return;
	}
	r = read_file(path, &want, &want_len);
	if (r < 0) fail_msg("%s: cannot read (%s); regenerate with UPDATE_GOLDEN=1", path, strerror(-r));
	if (want_len != len || memcmp(want, data, len) != 0) {
		_cleanup_free_ char *got = xasprintf("/tmp/%s.got", name);
		write_file_atomic(got, data, len, 0644);
		fail_msg("%s differs from the rendered output (written to %s); "
		         "review the diff and regenerate with UPDATE_GOLDEN=1",
		         path, got);
	}
}

/* ---- YAML access (libyaml document API) ---- */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key) {
	assert_int_equal(map->type, YAML_MAPPING_NODE);
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(d, pr->key);
		if (k->type == YAML_SCALAR_NODE && strlen(key) == k->data.scalar.length &&
		    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
			return yaml_document_get_node(d, pr->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n) {
	assert_non_null(n);
	assert_int_equal(n->type, YAML_SCALAR_NODE);
	return (const char *)n->data.scalar.value;
}

static const char *map_str(yaml_document_t *d, yaml_node_t *map, const char *key) {
	yaml_node_t *n = map_get(d, map, key);
	return n ? scalar(n) : NULL;
}

typedef struct parsed {
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
} parsed_t;

static void parse_yaml(parsed_t *ps, const char *text, size_t len) {
	assert_int_equal(yaml_parser_initialize(&ps->parser), 1);
	yaml_parser_set_input_string(&ps->parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&ps->parser, &ps->doc))
		fail_msg("YAML does not parse: %s at line %zu", ps->parser.problem ? ps->parser.problem : "?",
		         ps->parser.problem_mark.line + 1);
	ps->root = yaml_document_get_root_node(&ps->doc);
	assert_non_null(ps->root);
}

static void parsed_free(parsed_t *ps) {
	yaml_document_delete(&ps->doc);
	yaml_parser_delete(&ps->parser);
}

/* The write_files entry for path, or NULL. */
static yaml_node_t *write_file(parsed_t *ps, const char *path) {
	yaml_node_t *wf = map_get(&ps->doc, ps->root, "write_files");
	assert_non_null(wf);
	assert_int_equal(wf->type, YAML_SEQUENCE_NODE);
	for (yaml_node_item_t *i = wf->data.sequence.items.start; i < wf->data.sequence.items.top; i++) {
		yaml_node_t *e = yaml_document_get_node(&ps->doc, *i);
		const char *p = map_str(&ps->doc, e, "path");
		if (p && strcmp(p, path) == 0) return e;
	}
	return NULL;
}

static size_t n_write_files(parsed_t *ps) {
	yaml_node_t *wf = map_get(&ps->doc, ps->root, "write_files");
	return (size_t)(wf->data.sequence.items.top - wf->data.sequence.items.start);
}

static void assert_b64_file(parsed_t *ps, const char *path, const char *mode, const void *data, size_t len) {
	yaml_node_t *e = write_file(ps, path);
	if (!e) fail_msg("write_files has no %s", path);
	assert_string_equal(map_str(&ps->doc, e, "permissions"), mode);
	assert_string_equal(map_str(&ps->doc, e, "owner"), "root:root");
	assert_string_equal(map_str(&ps->doc, e, "encoding"), "b64");
	assert_b64_is(map_str(&ps->doc, e, "content"), data, len);
	/* cloud-init's YAML 1.1 would read a plain 0644 as the integer 420,
	 * and a plain base64 word as a number or a boolean. */
	assert_int_equal(map_get(&ps->doc, e, "content")->data.scalar.style, YAML_SINGLE_QUOTED_SCALAR_STYLE);
	assert_int_equal(map_get(&ps->doc, e, "permissions")->data.scalar.style, YAML_SINGLE_QUOTED_SCALAR_STYLE);
}

static void assert_text_file(parsed_t *ps, const char *path, const char *mode, const char *text) {
	yaml_node_t *e = write_file(ps, path);
	if (!e) fail_msg("write_files has no %s", path);
	assert_string_equal(map_str(&ps->doc, e, "permissions"), mode);
	assert_null(map_get(&ps->doc, e, "encoding"));
	assert_string_equal(map_str(&ps->doc, e, "content"), text);
}

/* Checks a whole rendered document against its inputs. */
static void check_rendered(const cloudinit_params_t *p, const char *env, size_t env_len) {
	size_t len, script_len;
	_cleanup_free_ char *out = render_ok(p, &len);
	_cleanup_free_ char *script = NULL;
	parsed_t ps;
	bool certs = p->cert_pem != NULL;

	assert_int_equal(strncmp(out, "#cloud-config\n", 14), 0);
	parse_yaml(&ps, out, len);
	assert_int_equal(n_write_files(&ps), certs ? 6 : 3);
	if (certs) {
		assert_b64_file(&ps, "/etc/cocos/certs/cert.pem", "0644", p->cert_pem, strlen(p->cert_pem));
		assert_b64_file(&ps, "/etc/cocos/certs/key.pem", "0600", p->key_pem, strlen(p->key_pem));
		assert_b64_file(&ps, "/etc/cocos/certs/ca.pem", "0644", p->ca_pem, strlen(p->ca_pem));
	} else {
		assert_null(write_file(&ps, "/etc/cocos/certs/cert.pem"));
		assert_null(write_file(&ps, "/etc/cocos/certs/key.pem"));
		assert_null(write_file(&ps, "/etc/cocos/certs/ca.pem"));
	}
	assert_b64_file(&ps, "/etc/cocos/environment", "0600", env, env_len);

	assert_int_equal(cloudinit_render_refresher(p->cloud, &script, &script_len), 0);
	assert_text_file(&ps, "/usr/local/sbin/cvmctl-refresh", "0755", script);
	assert_text_file(&ps, "/etc/systemd/system/cvmctl-refresh.service", "0644", cloudinit_refresher_unit());

	yaml_node_t *rc = map_get(&ps.doc, ps.root, "runcmd");
	assert_non_null(rc);
	assert_int_equal(rc->type, YAML_SEQUENCE_NODE);
	assert_int_equal(rc->data.sequence.items.top - rc->data.sequence.items.start, 2);
	static const char *const want[2][4] = {{"systemctl", "daemon-reload", NULL, NULL},
	                                       {"systemctl", "enable", "--now", "cvmctl-refresh.service"}};
	for (int i = 0; i < 2; i++) {
		yaml_node_t *cmd = yaml_document_get_node(&ps.doc, rc->data.sequence.items.start[i]);
		int n = 0;
		assert_int_equal(cmd->type, YAML_SEQUENCE_NODE);
		for (yaml_node_item_t *a = cmd->data.sequence.items.start; a < cmd->data.sequence.items.top; a++, n++) {
			assert_true(n < 4 && want[i][n]);
			assert_string_equal(scalar(yaml_document_get_node(&ps.doc, *a)), want[i][n]);
		}
		assert_true(n == 4 || want[i][n] == NULL);
	}
	parsed_free(&ps);
}

/* Splits a delivery document into (name, decoded) and compares with the
 * expected items; NULL data means "must be absent". */
static void check_delivery(const char *doc, const char *const names[], const char *const data[],
                           const size_t lens[], size_t n) {
	_cleanup_free_ char *copy = xstrdup(doc);
	char *save = NULL, *line;
	bool seen[8] = {false};
	size_t lines = 0;

	assert_true(n <= 8);
	assert_true(strlen(doc) > 0 && doc[strlen(doc) - 1] == '\n');
	line = strtok_r(copy, "\n", &save);
	assert_non_null(line);
	assert_string_equal(line, "cvmctl-delivery 1");
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *sp = strchr(line, ' ');
		const char *b64 = sp ? sp + 1 : "";
		size_t i;
		if (sp) *sp = '\0';
		for (i = 0; i < n && strcmp(names[i], line) != 0; i++) {}
		if (i == n) fail_msg("unexpected delivery item %s", line);
		assert_non_null(data[i]);
		assert_false(seen[i]);
		seen[i] = true;
		assert_b64_is(b64, data[i], lens[i]);
		lines++;
	}
	for (size_t i = 0; i < n; i++) assert_true(seen[i] == (data[i] != NULL));
	(void)lines;
}

/* ---- tests: goldens ---- */

static void test_golden_gcp_with_certs(void **state) {
	(void)state;
	cloudinit_params_t p = params(CLOUD_GCP, true);
	size_t len;
	_cleanup_free_ char *out = render_ok(&p, &len);
	check_golden("gcp-with-certs.yaml", out, len);
}

static void test_golden_azure_with_certs(void **state) {
	(void)state;
	cloudinit_params_t p = params(CLOUD_AZURE, true);
	size_t len;
	_cleanup_free_ char *out = render_ok(&p, &len);
	check_golden("azure-with-certs.yaml", out, len);
}

static void test_golden_gcp_no_certs(void **state) {
	(void)state;
	cloudinit_params_t p = params(CLOUD_GCP, false);
	size_t len;
	_cleanup_free_ char *out = render_ok(&p, &len);
	check_golden("gcp-no-certs.yaml", out, len);
}

static void test_golden_delivery(void **state) {
	(void)state;
	cloudinit_params_t p = params(CLOUD_GCP, true);
	size_t len;
	_cleanup_free_ char *out = delivery_ok(&p, &len);
	check_golden("delivery.txt", out, len);
}

/* ---- tests: structure and round trips ---- */

static void test_yaml_round_trip(void **state) {
	(void)state;
	for (int c = CLOUD_GCP; c <= CLOUD_AZURE; c++) {
		cloudinit_params_t p = params((cloud_kind_t)c, true);
		check_rendered(&p, ENV, strlen(ENV));
		p = params((cloud_kind_t)c, false);
		check_rendered(&p, ENV, strlen(ENV));
	}
}

static void test_tricky_values_round_trip(void **state) {
	(void)state;
	cloudinit_params_t p = params(CLOUD_GCP, true);
	size_t len;

	p.environment = TRICKY;
	p.cert_pem = TRICKY; /* also through the certificate path */
	check_rendered(&p, TRICKY, strlen(TRICKY));

	/* The secrets never appear outside their base64. */
	p = params(CLOUD_AZURE, true);
	p.environment = TRICKY;
	_cleanup_free_ char *out = render_ok(&p, &len);
	assert_null(strstr(out, "PRIVATE KEY"));
	assert_null(strstr(out, "not a comment"));

	_cleanup_free_ char *doc = delivery_ok(&p, &len);
	const char *names[] = {"cert.pem", "key.pem", "ca.pem", "environment"};
	const char *data[] = {CERT, KEY, CA, TRICKY};
	const size_t lens[] = {strlen(CERT), strlen(KEY), strlen(CA), strlen(TRICKY)};
	check_delivery(doc, names, data, lens, 4);
}

/* Contents with explicit lengths: NUL bytes, bytes that are not UTF-8, and
 * an empty file, all given through cloudinit_params_set_files. */
static void test_binary_contents_from_files(void **state) {
	(void)state;
	static const unsigned char bin[] = {'K', 0, 0xff, 0xfe, '\n', 0x80, '\'', ':'};
	static const unsigned char env_bytes[] = {'A', '=', '1', '\n', 'B', '=', '2', 'X'}; /* no NUL */
	prov_file_t files[] = {
		{"certs", "cert.pem", (const unsigned char *)CERT, strlen(CERT)},
		{"certs", "key.pem", bin, sizeof bin},
		{"certs", "ca.pem", (const unsigned char *)"", 0},
		{"env", "environment", env_bytes, 7},
		{"certs", "other.pem", bin, sizeof bin},
		{"elsewhere", "environment", bin, sizeof bin},
	};
	cloudinit_params_t p = {.cloud = CLOUD_GCP, .cvm_id = CVM_ID, .cvm_name = CVM_NAME};
	size_t len;
	parsed_t ps;

	cloudinit_params_set_files(&p, files, ARRAY_SIZE(files));
	assert_ptr_equal(p.cert_pem, (const char *)CERT);
	assert_non_null(p.ca_pem);

	_cleanup_free_ char *out = render_ok(&p, &len);
	parse_yaml(&ps, out, len);
	assert_int_equal(n_write_files(&ps), 6);
	assert_b64_file(&ps, "/etc/cocos/certs/cert.pem", "0644", CERT, strlen(CERT));
	assert_b64_file(&ps, "/etc/cocos/certs/key.pem", "0600", bin, sizeof bin);
	assert_b64_file(&ps, "/etc/cocos/certs/ca.pem", "0644", "", 0);
	assert_b64_file(&ps, "/etc/cocos/environment", "0600", env_bytes, 7);
	parsed_free(&ps);

	_cleanup_free_ char *doc = delivery_ok(&p, &len);
	const char *names[] = {"cert.pem", "key.pem", "ca.pem", "environment"};
	const char *data[] = {CERT, (const char *)bin, "", (const char *)env_bytes};
	const size_t lens[] = {strlen(CERT), sizeof bin, 0, 7};
	check_delivery(doc, names, data, lens, 4);
	assert_non_null(strstr(doc, "\nca.pem\n")); /* empty: the bare name */
}

static void test_delivery_round_trip(void **state) {
	(void)state;
	const char *names[] = {"cert.pem", "key.pem", "ca.pem", "environment"};
	const char *with[] = {CERT, KEY, CA, ENV};
	const char *without[] = {NULL, NULL, NULL, ENV};
	const size_t lens[] = {strlen(CERT), strlen(KEY), strlen(CA), strlen(ENV)};
	size_t len;

	for (int c = CLOUD_GCP; c <= CLOUD_AZURE; c++) {
		cloudinit_params_t p = params((cloud_kind_t)c, true);
		_cleanup_free_ char *doc = delivery_ok(&p, &len);
		assert_int_equal(strlen(doc), len);
		check_delivery(doc, names, with, lens, 4);

		p = params((cloud_kind_t)c, false);
		_cleanup_free_ char *doc2 = delivery_ok(&p, &len);
		check_delivery(doc2, names, without, lens, 4);
	}
}

static void test_base64_vectors(void **state) {
	(void)state;
	/* RFC 4648 section 10. */
	static const char *const v[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
	                                   {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
	                                   {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		_cleanup_free_ char *b = cloudinit_base64(v[i][0], strlen(v[i][0]));
		assert_string_equal(b, v[i][1]);
	}
	unsigned char all[256];
	for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
	_cleanup_free_ char *b = cloudinit_base64(all, sizeof all);
	assert_b64_is(b, all, sizeof all);
}

static void test_bad_params(void **state) {
	(void)state;
	cloudinit_params_t p = params(CLOUD_GCP, true);
	char *out = NULL, *err = NULL;
	size_t len = 0;

	p.cvm_name = "evil\nruncmd: [reboot]";
	assert_int_equal(cloudinit_render(&p, &out, &len, &err), -EINVAL);
	assert_non_null(err);
	assert_null(out);
	free(err), err = NULL;
	assert_int_equal(cloudinit_render_delivery(&p, &out, &len, &err), -EINVAL);
	free(err), err = NULL;

	p = params(CLOUD_GCP, true);
	p.cvm_id = NULL;
	assert_int_equal(cloudinit_render(&p, &out, &len, &err), -EINVAL);
	free(err), err = NULL;

	p = params(CLOUD_GCP, true);
	p.environment = NULL;
	assert_int_equal(cloudinit_render(&p, &out, &len, &err), -EINVAL);
	assert_non_null(strstr(err, "environment"));
	free(err), err = NULL;

	p = params((cloud_kind_t)7, true);
	assert_int_equal(cloudinit_render(&p, &out, &len, &err), -EINVAL);
	free(err), err = NULL;
	assert_int_equal(cloudinit_render_refresher((cloud_kind_t)7, &out, &len), -EINVAL);
	assert_null(out);
}

/* 48 KiB of certificate: Azure's customData (65,535 bytes) cannot carry its
 * base64 plus the refresher, GCP's 256 KiB value can; the delivery document
 * (base64 again on Azure) fits under 64 KiB only on GCP as well. */
static void test_size_limits(void **state) {
	(void)state;
	size_t big_len = 48 * 1024, len;
	_cleanup_free_ char *big = xmalloc(big_len + 1);
	char *out = NULL, *err = NULL;

	memset(big, 'A', big_len);
	big[big_len] = '\0';
	cloudinit_params_t p = params(CLOUD_AZURE, true);
	p.cert_pem = big;
	assert_int_equal(cloudinit_render(&p, &out, &len, &err), -E2BIG);
	assert_non_null(strstr(err, "Azure"));
	free(err), err = NULL;
	assert_int_equal(cloudinit_render_delivery(&p, &out, &len, &err), -E2BIG);
	free(err), err = NULL;
	assert_null(out);

	p.cloud = CLOUD_GCP;
	out = render_ok(&p, &len);
	assert_true(len > CLOUDINIT_AZURE_CUSTOMDATA_MAX);
	free(out);
	out = delivery_ok(&p, &len);
	free(out);
}

/* ---- tests: the refresher ---- */

static int run_sh(const char *cmd) {
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_refresher_syntax(void **state) {
	(void)state;
	bool have_shellcheck = run_sh("command -v shellcheck >/dev/null 2>&1") == 0;

	for (int c = CLOUD_GCP; c <= CLOUD_AZURE; c++) {
		char path[] = "/tmp/test_cloudinit.sh.XXXXXX";
		_cleanup_free_ char *script = NULL, *cmd = NULL;
		size_t len;
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(cloudinit_render_refresher((cloud_kind_t)c, &script, &len), 0);
		assert_int_equal(strncmp(script, "#!/bin/sh\n", 10), 0);
		/* Tracing would print the contents it handles. */
		assert_null(strstr(script, "\nset -x"));
		assert_null(strstr(script, "xtrace"));
		assert_int_equal(write_file_atomic(path, script, len, 0600), 0);
		cmd = xasprintf("sh -n %s", path);
		assert_int_equal(run_sh(cmd), 0);
		if (have_shellcheck) {
			free(cmd);
			cmd = xasprintf("shellcheck -s sh %s", path);
			assert_int_equal(run_sh(cmd), 0);
		}
		unlink(path);
	}
}

typedef struct rig {
	char base[64];
	char *root, *bin, *log, *body, *out, *script, *old_path;
	cloud_kind_t cloud;
} rig_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* A fake curl that serves $FAKE_BODY (or fails when $FAKE_FAIL is set) and
 * logs its URL and headers; a fake systemctl that logs its arguments. */
static const char fake_curl[] = "#!/bin/sh\n"
                                "out= hdr= url=\n"
                                "while [ $# -gt 0 ]; do\n"
                                "  case $1 in\n"
                                "  -o) out=$2; shift ;;\n"
                                "  -D) hdr=$2; shift ;;\n"
                                "  -H) echo \"header $2\" >> \"$FAKE_LOG\"; shift ;;\n"
                                "  --max-time|--noproxy) shift ;;\n"
                                "  -*) ;;\n"
                                "  *) url=$1 ;;\n"
                                "  esac\n"
                                "  shift\n"
                                "done\n"
                                "echo \"url $url\" >> \"$FAKE_LOG\"\n"
                                "[ -z \"${FAKE_FAIL:-}\" ] || exit 22\n"
                                "[ -z \"$hdr\" ] || printf 'HTTP/1.1 200 OK\\r\\nETag: 0123abcd\\r\\n\\r\\n' > \"$hdr\"\n"
                                "cat \"$FAKE_BODY\" > \"$out\"\n";
static const char fake_systemctl[] = "#!/bin/sh\necho \"systemctl $*\" >> \"$FAKE_LOG\"\n";

static void rig_init(rig_t *g, cloud_kind_t cloud) {
	size_t len;
	_cleanup_free_ char *script = NULL, *curl = NULL, *sysctl = NULL, *path = NULL;

	g->cloud = cloud;
	snprintf(g->base, sizeof g->base, "/tmp/test_cloudinit.XXXXXX");
	assert_non_null(mkdtemp(g->base));
	g->root = xasprintf("%s/root", g->base);
	g->bin = xasprintf("%s/bin", g->base);
	g->log = xasprintf("%s/log", g->base);
	g->body = xasprintf("%s/body", g->base);
	g->out = xasprintf("%s/out", g->base);
	g->script = xasprintf("%s/cvmctl-refresh", g->base);
	assert_int_equal(mkdir_p(g->root, 0755), 0);
	assert_int_equal(mkdir_p(g->bin, 0755), 0);
	curl = xasprintf("%s/curl", g->bin);
	sysctl = xasprintf("%s/systemctl", g->bin);
	assert_int_equal(write_file_atomic(curl, fake_curl, strlen(fake_curl), 0755), 0);
	assert_int_equal(write_file_atomic(sysctl, fake_systemctl, strlen(fake_systemctl), 0755), 0);
	assert_int_equal(cloudinit_render_refresher(cloud, &script, &len), 0);
	assert_int_equal(write_file_atomic(g->script, script, len, 0755), 0);

	g->old_path = xstrdup(getenv("PATH"));
	path = xasprintf("%s:%s", g->bin, g->old_path ? g->old_path : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	setenv("CVMCTL_REFRESH_ROOT", g->root, 1);
	setenv("CVMCTL_REFRESH_PASSES", "1", 1);
	setenv("FAKE_LOG", g->log, 1);
	setenv("FAKE_BODY", g->body, 1);
	unsetenv("FAKE_FAIL");
	unsetenv("RUNTIME_DIRECTORY");
}

static int rig_setup(void **state) {
	*state = xcalloc(1, sizeof(rig_t));
	return 0;
}

/* Runs even when a test failed half-way. */
static int rig_teardown(void **state) {
	rig_t *g = *state;
	if (g->old_path) setenv("PATH", g->old_path, 1);
	unsetenv("CVMCTL_REFRESH_ROOT");
	unsetenv("CVMCTL_REFRESH_PASSES");
	unsetenv("FAKE_LOG");
	unsetenv("FAKE_BODY");
	unsetenv("FAKE_FAIL");
	if (g->base[0]) nftw(g->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(g->root), free(g->bin), free(g->log), free(g->body), free(g->out), free(g->script);
	free(g->old_path);
	free(g);
	return 0;
}

/* Serves doc (base64-wrapped on Azure, as userData is) and runs one pass.
 * Returns the fake log of that pass; the script's own output is in g->out. */
static char *rig_pass(rig_t *g, const char *doc) {
	_cleanup_free_ char *cmd = NULL;
	char *log = NULL;
	size_t len;

	if (g->cloud == CLOUD_AZURE) {
		_cleanup_free_ char *b = cloudinit_base64(doc, strlen(doc));
		assert_int_equal(write_file_atomic(g->body, b, strlen(b), 0600), 0);
	} else {
		assert_int_equal(write_file_atomic(g->body, doc, strlen(doc), 0600), 0);
	}
	unlink(g->log);
	cmd = xasprintf("sh %s >%s 2>&1", g->script, g->out);
	assert_int_equal(run_sh(cmd), 0);
	if (read_file(g->log, &log, &len) < 0) log = xstrdup("");
	return log;
}

static char *rig_file(rig_t *g, const char *rel, mode_t *mode, ino_t *ino) {
	_cleanup_free_ char *path = xasprintf("%s%s", g->root, rel);
	struct stat st;
	char *data = NULL;
	size_t len;

	if (stat(path, &st) < 0) return NULL;
	if (mode) *mode = st.st_mode & 07777;
	if (ino) *ino = st.st_ino;
	assert_int_equal(read_file(path, &data, &len), 0);
	return data;
}

static void assert_no_leftovers(rig_t *g) {
	static const char *const dirs[] = {"/etc/cocos", "/etc/cocos/certs"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *path = xasprintf("%s%s", g->root, dirs[i]);
		DIR *d = opendir(path);
		struct dirent *e;
		if (!d) continue;
		while ((e = readdir(d)))
			if (strncmp(e->d_name, ".cvmctl-refresh.", 16) == 0) fail_msg("leftover %s/%s", path, e->d_name);
		closedir(d);
	}
}

/* The script's output names files, never their contents. */
static void assert_quiet_about_secrets(rig_t *g) {
	_cleanup_free_ char *out = NULL, *kb = cloudinit_base64(KEY, strlen(KEY));
	size_t len;
	assert_int_equal(read_file(g->out, &out, &len), 0);
	assert_null(strstr(out, "PRIVATE KEY"));
	assert_null(strstr(out, "MIGHdGVzd"));
	assert_null(strstr(out, kb));
}

static size_t count(const char *hay, const char *needle) {
	size_t n = 0;
	for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle)) n++;
	return n;
}

static void refresher_scenario(rig_t *g, cloud_kind_t cloud) {
	cloudinit_params_t p = params(cloud, true);
	size_t len;
	mode_t mode;
	ino_t ino_cert, ino_key, ino;
	static const char NEW_CERT[] = "-----BEGIN CERTIFICATE-----\nMIIBrenewed\n-----END CERTIFICATE-----\n";

	rig_init(g, cloud);
	_cleanup_free_ char *doc = delivery_ok(&p, &len);

	/* First pass: every file appears with its mode; one restart. */
	{
		_cleanup_free_ char *log = rig_pass(g, doc);
		_cleanup_free_ char *cert = rig_file(g, "/etc/cocos/certs/cert.pem", &mode, &ino_cert);
		assert_string_equal(cert, CERT);
		assert_int_equal(mode, 0644);
		_cleanup_free_ char *key = rig_file(g, "/etc/cocos/certs/key.pem", &mode, &ino_key);
		assert_string_equal(key, KEY);
		assert_int_equal(mode, 0600);
		_cleanup_free_ char *ca = rig_file(g, "/etc/cocos/certs/ca.pem", &mode, NULL);
		assert_string_equal(ca, CA);
		assert_int_equal(mode, 0644);
		_cleanup_free_ char *env = rig_file(g, "/etc/cocos/environment", &mode, NULL);
		assert_string_equal(env, ENV);
		assert_int_equal(mode, 0600);
		assert_int_equal(count(log, "systemctl restart cocos-agent.service"), 1);
		if (cloud == CLOUD_GCP) {
			assert_non_null(strstr(log, "header Metadata-Flavor: Google"));
			assert_non_null(strstr(log, "url http://metadata.google.internal/computeMetadata/v1/"
			                            "instance/attributes/cvmctl-delivery\n"));
		} else {
			assert_non_null(strstr(log, "header Metadata: true"));
			assert_non_null(strstr(log, "url http://169.254.169.254/metadata/instance/compute/"
			                            "userData?api-version=2021-01-01&format=text\n"));
		}
		assert_no_leftovers(g);
		assert_quiet_about_secrets(g);
	}

	/* Same document: nothing is rewritten, the agent is left alone. */
	{
		_cleanup_free_ char *log = rig_pass(g, doc);
		free(rig_file(g, "/etc/cocos/certs/cert.pem", NULL, &ino));
		assert_true(ino == ino_cert);
		assert_int_equal(count(log, "systemctl"), 0);
		assert_no_leftovers(g);
	}

	/* A renewed certificate: only it is replaced (a new inode: renamed over). */
	p.cert_pem = NEW_CERT;
	_cleanup_free_ char *doc2 = delivery_ok(&p, &len);
	{
		_cleanup_free_ char *log = rig_pass(g, doc2);
		_cleanup_free_ char *cert = rig_file(g, "/etc/cocos/certs/cert.pem", &mode, &ino);
		assert_string_equal(cert, NEW_CERT);
		assert_int_equal(mode, 0644);
		assert_true(ino != ino_cert);
		free(rig_file(g, "/etc/cocos/certs/key.pem", NULL, &ino));
		assert_true(ino == ino_key);
		assert_int_equal(count(log, "systemctl restart cocos-agent.service"), 1);
		assert_no_leftovers(g);
		assert_quiet_about_secrets(g);
	}

	/* A broken key next to yet another certificate: all or nothing. */
	{
		_cleanup_free_ char *bad = xasprintf("cvmctl-delivery 1\ncert.pem %s\nkey.pem !!!not-base64\n",
		                                     "Q0VSVAo=");
		_cleanup_free_ char *log = rig_pass(g, bad);
		_cleanup_free_ char *cert = rig_file(g, "/etc/cocos/certs/cert.pem", NULL, NULL);
		_cleanup_free_ char *key = rig_file(g, "/etc/cocos/certs/key.pem", NULL, NULL);
		assert_string_equal(cert, NEW_CERT);
		assert_string_equal(key, KEY);
		assert_int_equal(count(log, "systemctl"), 0);
		assert_no_leftovers(g);
	}

	/* Not a delivery document, and names outside the table: ignored. */
	{
		_cleanup_free_ char *log = rig_pass(g, "something else\ncert.pem Q0VSVAo=\n");
		_cleanup_free_ char *log2 = rig_pass(g, "cvmctl-delivery 1\n../../evil Q0VSVAo=\npasswd Q0VSVAo=\n");
		_cleanup_free_ char *cert = rig_file(g, "/etc/cocos/certs/cert.pem", NULL, NULL);
		_cleanup_free_ char *evil = rig_file(g, "/evil", NULL, NULL);
		assert_string_equal(cert, NEW_CERT);
		assert_null(evil);
		assert_int_equal(count(log, "systemctl") + count(log2, "systemctl"), 0);
	}

	/* The channel is unreachable: nothing happens, and it says so. */
	{
		setenv("FAKE_FAIL", "1", 1);
		_cleanup_free_ char *log = rig_pass(g, doc);
		_cleanup_free_ char *out = NULL;
		unsetenv("FAKE_FAIL");
		assert_int_equal(count(log, "systemctl"), 0);
		assert_int_equal(read_file(g->out, &out, &len), 0);
		assert_non_null(strstr(out, "no delivery document"));
	}

}

static void test_refresher_gcp(void **state) {
	refresher_scenario(*state, CLOUD_GCP);
}

static void test_refresher_azure(void **state) {
	refresher_scenario(*state, CLOUD_AZURE);
}

/* GCP: after the first answer, the next request hangs on the ETag seen. */
static void test_refresher_gcp_waits_for_change(void **state) {
	rig_t *g = *state;
	cloudinit_params_t p = params(CLOUD_GCP, true);
	size_t len;

	rig_init(g, CLOUD_GCP);
	setenv("CVMCTL_REFRESH_PASSES", "2", 1);
	_cleanup_free_ char *doc = delivery_ok(&p, &len);
	_cleanup_free_ char *log = rig_pass(g, doc);
	assert_int_equal(count(log, "url "), 2);
	assert_non_null(strstr(log, "url http://metadata.google.internal/computeMetadata/v1/instance/attributes/"
	                            "cvmctl-delivery?wait_for_change=true&last_etag=0123abcd&timeout_sec=300\n"));
	assert_int_equal(count(log, "systemctl restart"), 1);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_gcp_with_certs),
		cmocka_unit_test(test_golden_azure_with_certs),
		cmocka_unit_test(test_golden_gcp_no_certs),
		cmocka_unit_test(test_golden_delivery),
		cmocka_unit_test(test_yaml_round_trip),
		cmocka_unit_test(test_tricky_values_round_trip),
		cmocka_unit_test(test_binary_contents_from_files),
		cmocka_unit_test(test_delivery_round_trip),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_refresher_syntax),
		cmocka_unit_test_setup_teardown(test_refresher_gcp, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_refresher_azure, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_refresher_gcp_waits_for_change, rig_setup, rig_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
