/* Pure tests of the manager backend: domain XML against golden files, the
 * launch-form switch, escaping, the metadata marker round trip, host
 * capability parsing and URI locality. No libvirt calls.
 * Regenerate the goldens with UPDATE_GOLDEN=1 and review the diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/manager/domain_xml.h"
#include "providers/manager/metadata.h"
#include "providers/manager/shares.h"
#include "tests/unit/golden.h"

#define GOLDEN_DIR "tests/golden/domain"
#define FIXTURE_DIR "tests/fixtures/domcaps"

static manager_domain_params base_params(void) {
	return (manager_domain_params){
		.id = "5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11",
		.name = "analytics-01",
		.scope = "default",
		.installation = "0d1e2f30-4152-4637-8899-aabbccddeeff",
		.spec_hash = "3f1a9c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf02468",
		.attempt = "attempt-1",
		.vcpus = 8,
		.memory_gib = 16,
		.agent_port = 7002,
		.firmware = "/usr/share/ovmf/OVMF.amdsev.fd",
		.kernel = "/srv/cvm-guest/bzImage",
		.initrd = "/srv/cvm-guest/rootfs.cpio.gz",
		.certs_dir = "/var/lib/cvmctl/shares/5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11/certs",
		.env_dir = "/var/lib/cvmctl/shares/5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11/env",
		.console_log = "/var/lib/cvmctl/shares/5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11/console.log",
		.form = LAUNCH_SNP_NATIVE,
	};
}

/* Every golden file a test claims; anything else in the directory is stale. */
static void check_golden(const char *name, const char *got) {
	_cleanup_free_ char *file = xasprintf("%s.xml", name);
	golden_check(GOLDEN_DIR, file, got, "domain XML");
}

static const char *const golden_cases[] = {"snp-native", "snp-fallback", "insecure", "vtpm", "network-qemu"};

static void test_golden_snp_native(void **state) {
	(void)state;
	manager_domain_params p = base_params();
	_cleanup_free_ char *xml = manager_domain_xml(&p);
	assert_non_null(strstr(xml, "<launchSecurity type='sev-snp' kernelHashes='yes'>"));
	assert_null(strstr(xml, "qemu:commandline"));
	check_golden("snp-native", xml);
}

static void test_golden_snp_fallback(void **state) {
	(void)state;
	manager_domain_params p = base_params();
	p.form = LAUNCH_SNP_FALLBACK;
	_cleanup_free_ char *xml = manager_domain_xml(&p);
	assert_null(strstr(xml, "<launchSecurity"));
	assert_non_null(strstr(xml, "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"));
	assert_non_null(strstr(xml, "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000,kernel-hashes=on"));
	assert_non_null(strstr(xml, "confidential-guest-support=sev0"));
	check_golden("snp-fallback", xml);
}

static void test_golden_insecure(void **state) {
	(void)state;
	manager_domain_params p = base_params();
	p.form = LAUNCH_INSECURE;
	_cleanup_free_ char *xml = manager_domain_xml(&p);
	assert_null(strstr(xml, "<launchSecurity"));
	assert_null(strstr(xml, "qemu:"));
	assert_non_null(strstr(xml, "<cvm:insecure-no-sev>true</cvm:insecure-no-sev>"));
	assert_non_null(strstr(xml, "<!-- insecureNoSEV"));
	check_golden("insecure", xml);
}

static void test_golden_vtpm(void **state) {
	(void)state;
	manager_domain_params p = base_params();
	p.vtpm = true;
	_cleanup_free_ char *xml = manager_domain_xml(&p);
	assert_non_null(strstr(xml, "<tpm model='tpm-crb'>"));
	check_golden("vtpm", xml);
}

static void test_golden_network_qemu(void **state) {
	(void)state;
	manager_domain_params p = base_params();
	p.domain_type = "qemu";
	p.network = "cvm-net";
	p.cpu_model = "EPYC-Genoa";
	p.cmdline = "console=ttyS0 panic=-1";
	p.form = LAUNCH_SNP_FALLBACK;
	p.vcpus = 2;
	p.memory_gib = 1;
	_cleanup_free_ char *xml = manager_domain_xml(&p);
	assert_true(strncmp(xml, "<domain type='qemu'", 19) == 0);
	assert_non_null(strstr(xml, "<source network='cvm-net'/>"));
	check_golden("network-qemu", xml);
}

/* The golden directory holds exactly the claimed cases. */
static void test_golden_dir_clean(void **state) {
	(void)state;
	golden_dir_exactly(GOLDEN_DIR, golden_cases, ARRAY_SIZE(golden_cases), ".xml");
}

static void test_launch_form(void **state) {
	(void)state;
	assert_int_equal(manager_launch_form(9000000, false), LAUNCH_SNP_FALLBACK);
	assert_int_equal(manager_launch_form(10004000, false), LAUNCH_SNP_FALLBACK);
	assert_int_equal(manager_launch_form(10004999, false), LAUNCH_SNP_FALLBACK);
	assert_int_equal(manager_launch_form(10005000, false), LAUNCH_SNP_NATIVE);
	assert_int_equal(manager_launch_form(11003000, false), LAUNCH_SNP_NATIVE);
	assert_int_equal(manager_launch_form(9000000, true), LAUNCH_INSECURE);
	assert_int_equal(manager_launch_form(11003000, true), LAUNCH_INSECURE);
}

static void test_defaults(void **state) {
	(void)state;
	manager_domain_params p = base_params();
	_cleanup_free_ char *xml = manager_domain_xml(&p);
	assert_true(strncmp(xml, "<domain type='kvm'>", 19) == 0);
	assert_non_null(strstr(xml, "<model fallback='forbid'>EPYC-Milan</model>"));
	assert_non_null(strstr(xml, "<cmdline>quiet console=null</cmdline>"));
	assert_non_null(strstr(xml, "<source network='default'/>"));
	assert_null(strstr(xml, "<tpm"));
	p.firmware = NULL;
	_cleanup_free_ char *nofw = manager_domain_xml(&p);
	assert_null(strstr(nofw, "<loader"));
}

static const char hostile[] = "x'y\"z<w>&amp;</cvm:name><evil/>";

static void test_escaping(void **state) {
	(void)state;
	manager_domain_params p = base_params();
	p.name = hostile;
	p.scope = "team<a>";
	p.network = "n'et";
	p.cpu_model = "EPYC</model>";
	p.kernel = "/k&k";
	p.cmdline = "a=<b>";
	p.certs_dir = "/s/'c";
	_cleanup_free_ char *xml = manager_domain_xml(&p);
	assert_null(strstr(xml, "<evil/>"));
	assert_null(strstr(xml, "EPYC</model>"));
	assert_null(strstr(xml, "n'et"));
	assert_null(strstr(xml, "/s/'c"));
	assert_null(strstr(xml, "a=<b>"));
	assert_non_null(strstr(xml, "<name>x&apos;y&quot;z&lt;w&gt;&amp;amp;&lt;/cvm:name&gt;&lt;evil/&gt;</name>"));
	assert_non_null(strstr(xml, "<source network='n&apos;et'/>"));
	assert_non_null(strstr(xml, "<kernel>/k&amp;k</kernel>"));
	/* The marker inside the domain XML parses back to the same strings. */
	const char *inst = strstr(xml, "<cvm:instance");
	assert_non_null(inst);
	manager_meta_t m;
	assert_int_equal(manager_meta_parse(inst, &m), 0);
	assert_string_equal(m.name, hostile);
	assert_string_equal(m.scope, "team<a>");
	assert_true(manager_meta_is_ours(&m));
	manager_meta_free(&m);
}

static void test_meta_round_trip(void **state) {
	(void)state;
	manager_meta_t in = {
		.id = "5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11",
		.name = (char *)hostile,
		.scope = "sc&pe",
		.installation = "inst",
		.spec_hash = "abc",
		.attempt = "att\"1",
		.port = 7002,
		.vcpus = 64,
		.memory_gib = 30,
		.insecure_no_sev = true,
	};
	for (int prefixed = 0; prefixed < 2; prefixed++) {
		strbuf sb = {0};
		manager_meta_format(&sb, &in, prefixed, "  ");
		_cleanup_free_ char *xml = sb_take(&sb);
		manager_meta_t out;
		assert_int_equal(manager_meta_parse(xml, &out), 0);
		assert_string_equal(out.managed_by, "cvmctl");
		assert_string_equal(out.id, in.id);
		assert_string_equal(out.name, in.name);
		assert_string_equal(out.scope, in.scope);
		assert_string_equal(out.installation, in.installation);
		assert_string_equal(out.spec_hash, in.spec_hash);
		assert_string_equal(out.attempt, in.attempt);
		assert_int_equal(out.port, 7002);
		assert_int_equal(out.vcpus, 64);
		assert_int_equal(out.memory_gib, 30);
		assert_true(out.insecure_no_sev);
		manager_meta_free(&out);
	}
}

/* What virDomainGetMetadata returns: no prefix, libvirt's indentation,
 * entities as libxml2 writes them, possibly fields we do not know. */
static void test_meta_libvirt_form(void **state) {
	(void)state;
	static const char xml[] = "<?xml version=\"1.0\"?>\n<!-- c -->\n"
	                          "<instance>\n"
	                          "    <managed-by>cvmctl</managed-by>\n"
	                          "<id>5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11</id>"
	                          "  <name>a&lt;b&#39;c&#x41;</name>\n"
	                          "  <future attr=\"x>y\"><deep>1</deep></future>\n"
	                          "  <empty/>\n"
	                          "  <port>7100</port>\n"
	                          "</instance>";
	manager_meta_t m;
	assert_int_equal(manager_meta_parse(xml, &m), 0);
	assert_true(manager_meta_is_ours(&m));
	assert_string_equal(m.id, "5b0c7a52-6d0e-4f43-9a3e-0c2f1d6b7e11");
	assert_string_equal(m.name, "a<b'cA");
	assert_int_equal(m.port, 7100);
	assert_null(m.scope);
	assert_false(m.insecure_no_sev);
	manager_meta_free(&m);

	/* Someone else's marker in our namespace is not ours. */
	assert_int_equal(manager_meta_parse("<instance><managed-by>other</managed-by></instance>", &m), 0);
	assert_false(manager_meta_is_ours(&m));
	manager_meta_free(&m);
}

static void test_meta_malformed(void **state) {
	(void)state;
	manager_meta_t m;
	assert_int_equal(manager_meta_parse("", &m), -EINVAL);
	assert_int_equal(manager_meta_parse("<owner>cvmctl</owner>", &m), -EINVAL);
	assert_int_equal(manager_meta_parse("<instance><managed-by>cvmctl</managed-by>", &m), -EINVAL);
	assert_int_equal(manager_meta_parse("<instance><port>70x2</port></instance>", &m), -EINVAL);
	assert_int_equal(manager_meta_parse("<instance><vcpus>-1</vcpus></instance>", &m), -EINVAL);
	assert_int_equal(manager_meta_parse("<instance", &m), -EINVAL);
}

static char *fixture(const char *name) {
	_cleanup_free_ char *rel = xasprintf(FIXTURE_DIR "/%s", name);
	_cleanup_free_ char *path = golden_src_path(rel);
	char *s = NULL;
	size_t len;
	int r = read_file(path, &s, &len);
	if (r < 0) fail_msg("cannot read fixture %s: %s", path, strerror(-r));
	return s;
}

static void test_dac_label(void **state) {
	(void)state;
	uid_t u = 1;
	gid_t g = 1;
	_cleanup_free_ char *dac = fixture("caps-qemu-dac.xml");
	assert_int_equal(manager_parse_dac_label(dac, "kvm", &u, &g), 0);
	assert_int_equal(u, 64055);
	assert_int_equal(g, 994);
	assert_int_equal(manager_parse_dac_label(dac, "qemu", &u, &g), 0);
	assert_int_equal(u, 64056);
	assert_int_equal(g, 995);
	/* No label for that type: the first DAC label, never SELinux's. */
	_cleanup_free_ char *se = fixture("caps-selinux-named-dac.xml");
	u = g = 1;
	assert_int_equal(manager_parse_dac_label(se, "kvm", &u, &g), 0);
	assert_int_equal(u, 0);
	assert_int_equal(g, 0);
	_cleanup_free_ char *test = fixture("caps-test-driver.xml");
	assert_int_equal(manager_parse_dac_label(test, "kvm", &u, &g), -ENOENT);
	assert_int_equal(manager_parse_dac_label("<capabilities/>", "kvm", &u, &g), -ENOENT);
}

static void test_uri_locality(void **state) {
	(void)state;
	assert_true(manager_uri_is_local("qemu:///system"));
	assert_true(manager_uri_is_local("qemu:///session"));
	assert_true(manager_uri_is_local("test:///default"));
	assert_true(manager_uri_is_local("test+unix:///default?socket=/run/x/libvirt-sock"));
	assert_true(manager_uri_is_local("qemu+unix:///system?socket=/tmp/s"));
	assert_true(manager_uri_is_local("qemu+ssh://root@localhost/system"));
	assert_false(manager_uri_is_local("qemu+ssh://snp-host-1/system"));
	assert_false(manager_uri_is_local("qemu+ssh://root@snp-host-1:2222/system"));
	assert_false(manager_uri_is_local("qemu+tcp://10.0.0.5/system"));
	assert_false(manager_uri_is_local("qemu+ssh://localhost.example.com/system"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_snp_native),
		cmocka_unit_test(test_golden_snp_fallback),
		cmocka_unit_test(test_golden_insecure),
		cmocka_unit_test(test_golden_vtpm),
		cmocka_unit_test(test_golden_network_qemu),
		cmocka_unit_test(test_golden_dir_clean),
		cmocka_unit_test(test_launch_form),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_meta_round_trip),
		cmocka_unit_test(test_meta_libvirt_form),
		cmocka_unit_test(test_meta_malformed),
		cmocka_unit_test(test_dac_label),
		cmocka_unit_test(test_uri_locality),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
