/* cvmctl host check URI [--firmware PATH]: can this libvirt host run
 * SEV-SNP CVMs the way the manager backend defines them? Each item is
 * PASS or FAIL, and a failing one says what to install. Items that only the
 * host itself can tell (its kernel, the kvm_amd module, the firmware file)
 * are read on this machine for a local URI and marked SKIP for a remote
 * one: libvirt does not report them, and the domain capabilities check
 * covers them there (no SNP in the capabilities without all three).
 *
 * Exit: 0 every item passed, 1 some failed (or the host cannot be
 * reached), 3 usage. A command of the manager backend's own: the only one
 * that names a backend, because a preflight of a libvirt host is nothing
 * else. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/util.h"
#include "providers/manager/manager.h"
#include "providers/manager/shares.h"
#include "reconciler/cli/cli.h"

#define HOST_DEFAULT_FIRMWARE "/usr/share/ovmf/OVMF.amdsev.fd"
#define SEV_SNP_PARAM "/sys/module/kvm_amd/parameters/sev_snp"

/* What the native sev-snp form needs (reference/libvirt.md §4 (ii)). */
#define NEED_LIBVIRT 10005000UL /* 10.5.0: <launchSecurity type='sev-snp'> */
#define NEED_QEMU 9001000UL     /* 9.1.0: the sev-snp-guest object */
#define NEED_KERNEL_MAJOR 6     /* 6.11: SNP host support in KVM */
#define NEED_KERNEL_MINOR 11

#define BACKPORTS "Debian 12: apt-get install -t bookworm-backports"

typedef struct report {
	int failed, passed, skipped;
} report_t;

static void item(report_t *r, int ok, const char *fix, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ok: 1 pass, 0 fail, -1 skip. */
static void item(report_t *r, int ok, const char *fix, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs(ok > 0 ? "PASS  " : ok == 0 ? "FAIL  " : "SKIP  ", stdout);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (ok == 0 && fix) printf("      fix: %s\n", fix);
	if (ok > 0) r->passed++;
	else if (ok == 0) r->failed++;
	else r->skipped++;
}

static void version_text(unsigned long v, char *buf, size_t n) {
	snprintf(buf, n, "%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
}

static void check_libvirt(report_t *r, virConnectPtr c) {
	unsigned long v = 0;
	char have[32], need[32];
	version_text(NEED_LIBVIRT, need, sizeof need);
	if (virConnectGetLibVersion(c, &v) < 0) {
		item(r, 0, NULL, "libvirt version unreadable: %s", virGetLastErrorMessage());
		return;
	}
	version_text(v, have, sizeof have);
	item(r, v >= NEED_LIBVIRT,
	     "libvirt >= 10.5 (" BACKPORTS " libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients: 11.3)",
	     "libvirt %s (needs >= %s for <launchSecurity type='sev-snp'>)", have, need);
}

static void check_qemu(report_t *r, virConnectPtr c) {
	unsigned long v = 0;
	char have[32], need[32];
	version_text(NEED_QEMU, need, sizeof need);
	const char *type = virConnectGetType(c);
	if (!type || strcmp(type, "QEMU") != 0) {
		item(r, 0, "point the URI at libvirt's QEMU driver (qemu:///system, qemu+ssh://HOST/system)",
		     "QEMU driver: the URI's driver is %s", type ? type : "unknown");
		return;
	}
	if (virConnectGetVersion(c, &v) < 0) {
		item(r, 0, NULL, "QEMU version unreadable: %s", virGetLastErrorMessage());
		return;
	}
	version_text(v, have, sizeof have);
	item(r, v >= NEED_QEMU, "qemu-system-x86 >= 9.1 (" BACKPORTS " qemu-system-x86: 10.0)",
	     "QEMU %s (needs >= %s for the sev-snp-guest object)", have, need);
}

static void check_kernel(report_t *r, bool local) {
	if (!local) {
		item(r, -1, NULL, "host kernel >= 6.11: not reported by libvirt for a remote host (run uname -r there)");
		return;
	}
	struct utsname u;
	int major = 0, minor = 0;
	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) {
		item(r, 0, NULL, "host kernel release unreadable");
		return;
	}
	bool ok = major > NEED_KERNEL_MAJOR || (major == NEED_KERNEL_MAJOR && minor >= NEED_KERNEL_MINOR);
	item(r, ok, "a kernel >= 6.11 with KVM SEV-SNP host support (" BACKPORTS " linux-image-amd64: 6.12)",
	     "host kernel %s (needs >= %d.%d)", u.release, NEED_KERNEL_MAJOR, NEED_KERNEL_MINOR);
}

static void check_sev_snp_param(report_t *r, bool local) {
	static const char fix[] = "an AMD EPYC (Milan or later) host with SEV-SNP enabled in its firmware setup, a "
	                          "kernel >= 6.11, and kvm_amd loaded with sev_snp=1 (options kvm_amd sev_snp=1)";
	if (!local) {
		item(r, -1, NULL, "kvm_amd sev_snp=Y: not reported by libvirt for a remote host (read " SEV_SNP_PARAM
		                  " there)");
		return;
	}
	_cleanup_free_ char *v = NULL;
	size_t n = 0;
	int rc = read_file(SEV_SNP_PARAM, &v, &n);
	if (rc < 0) {
		item(r, 0, fix, "kvm_amd sev_snp: %s (%s)", rc == -ENOENT ? "kvm_amd is not loaded or knows no SNP" : "unreadable",
		     SEV_SNP_PARAM);
		return;
	}
	item(r, n > 0 && v[0] == 'Y', fix, "kvm_amd sev_snp=%c (needs Y)", n > 0 ? v[0] : '?');
}

static void check_firmware(report_t *r, bool local, const char *path) {
	static const char fix[] = "Debian ships no AmdSev OVMF: build edk2's OvmfPkg/AmdSev/AmdSevX64.dsc (or bring "
	                          "that build from another distribution) and install it at that path";
	if (!local) {
		item(r, -1, NULL, "AmdSev firmware %s: cannot be looked for on a remote host (check it there)", path);
		return;
	}
	item(r, access(path, R_OK) == 0, fix, "AmdSev firmware %s %s", path,
	     access(path, R_OK) == 0 ? "present" : "missing");
}

/* <launchSecurity supported='yes'> whose sectype enum lists sev-snp
 * (libvirt >= 10.5); a bare <sev supported='yes'> cannot say SNP. */
static bool domcaps_has_snp(const char *xml) {
	const char *ls = strstr(xml, "<launchSecurity supported='yes'>");
	if (!ls) ls = strstr(xml, "<launchSecurity supported=\"yes\">");
	if (!ls) return false;
	const char *end = strstr(ls, "</launchSecurity>");
	const char *v = strstr(ls, "<value>sev-snp</value>");
	return v && (!end || v < end);
}

static void check_domcaps(report_t *r, virConnectPtr c) {
	static const char fix[] = "libvirt >= 10.5 and QEMU >= 9.1 on a kernel >= 6.11 with kvm_amd sev_snp=Y: then "
	                          "libvirt reports <launchSecurity> with sectype sev-snp";
	_cleanup_free_ char *xml = virConnectGetDomainCapabilities(c, NULL, "x86_64", "q35", "kvm", 0);
	if (!xml) {
		item(r, 0, fix, "domain capabilities (kvm, q35) unreadable: %s", virGetLastErrorMessage());
		return;
	}
	bool sev = strstr(xml, "<sev supported='yes'>") || strstr(xml, "<sev supported=\"yes\">");
	item(r, domcaps_has_snp(xml), fix, "domain capabilities (kvm, q35): %s",
	     domcaps_has_snp(xml) ? "SEV-SNP supported"
	     : sev                ? "SEV only, no SEV-SNP in <launchSecurity>"
	                          : "no SEV-SNP (and no SEV)");
}

static void host_usage(FILE *f) {
	fprintf(f, "usage: cvmctl host check URI [--firmware PATH]\n"
	           "  preflight of a manager host for SEV-SNP CVMs: libvirt >= 10.5, QEMU >= 9.1, host kernel\n"
	           "  >= 6.11, kvm_amd sev_snp=Y, the AmdSev firmware (default " HOST_DEFAULT_FIRMWARE "),\n"
	           "  and domain capabilities that report SEV-SNP. Exit 0 all pass, 1 some failed.\n");
}

static void silent(void *ud, virErrorPtr e) {
	(void)ud, (void)e;
}

int cmd_host(int argc, char **argv) {
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		host_usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		host_usage(stderr);
		return EXIT_INVALID;
	}
	const char *firmware = HOST_DEFAULT_FIRMWARE;
	static const struct option opts[] = {{"firmware", required_argument, NULL, 'F'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	optind = 1;
	int c;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'F': firmware = optarg; break;
		case 'h': host_usage(stdout); return EXIT_OK;
		default: return usage_error("host check", "see 'cvmctl host check --help'");
		}
	}
	if (argc - 1 - optind != 1) return usage_error("host check", "needs exactly one libvirt URI");
	const char *uri = argv[1 + optind];

	manager_libvirt_init(); /* keepalive on the event thread; errors reported here, once */
	virSetErrorFunc(NULL, silent);
	report_t r = {0};
	printf("host %s\n", uri);
	virConnectPtr conn = virConnectOpen(uri);
	if (!conn) {
		item(&r, 0, NULL, "connect: %s", virGetLastErrorMessage());
		return EXIT_FAILED;
	}
	bool local = manager_uri_is_local(uri);
	check_libvirt(&r, conn);
	check_qemu(&r, conn);
	check_kernel(&r, local);
	check_sev_snp_param(&r, local);
	check_firmware(&r, local, firmware);
	check_domcaps(&r, conn);
	virConnectClose(conn);
	/* Not "N passed, N failed": that line is a test runner's, and a
	 * preflight's summary must not read as one in a CI log. */
	printf("host check: %d of %d items pass", r.passed, r.passed + r.failed + r.skipped);
	if (r.skipped) printf(", %d not checked (remote host)", r.skipped);
	putchar('\n');
	if (r.failed)
		printf("A Debian 12 host needs bookworm-backports (libvirt 11.3, QEMU 10.0, kernel 6.12) and an AmdSev "
		       "OVMF build; see README.md, \"A real VM, and a real SEV-SNP host\".\n");
	return r.failed ? EXIT_FAILED : EXIT_OK;
}
