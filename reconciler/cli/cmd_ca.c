/* cvmctl ca init|download|crl|import: the state's certificate authority. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/cli/cli.h"

static int ca_init(int argc, char **argv) {
	static const struct option opts[] = {{"key-type", required_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'}, {0}};
	const char *key_type = PKI_DEFAULT_KEY_TYPE;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
		if (c == 'k') {
			key_type = optarg;
		} else if (c == 'h') {
			printf("usage: cvmctl ca init [--key-type ecdsa-p256|rsa-2048|rsa-3072|rsa-4096]\n");
			return EXIT_OK;
		} else {
			return usage_error("ca init", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("ca init", "unexpected argument '%s'", argv[optind]);
	if (!pki_key_type_valid(key_type))
		return usage_error("ca init", "--key-type must be ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096, not '%s'", key_type);
	store_t *st = NULL;
	_cleanup_free_ char *dir = NULL;
	int code = open_store(&st);
	if (code) return code;
	if ((code = lock_store(st))) goto out;
	dir = certs_ca_dir(st);
	pki_ca_t *ca = NULL;
	char *err = NULL;
	int r = pki_ca_init(dir, key_type, &ca, &err);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		code = r == -EEXIST ? EXIT_INVALID : EXIT_FAILED;
	} else {
		printf("created CA \"%s\" (%s, serial %s) in %s\n", pki_ca_subject_cn(ca), key_type, pki_ca_serial(ca), dir);
		free(err);
		err = NULL;
		if (certs_publish_crl(st, ca, now_s(), &err) < 0) {
			log_error("%s", err);
			code = EXIT_FAILED;
		}
	}
	free(err);
	pki_ca_free(ca);
out:
	store_close(st);
	return code;
}

static int ca_import(int argc, char **argv) {
	static const struct option opts[] = {{"cert", required_argument, NULL, 'c'},
	                                     {"key", required_argument, NULL, 'k'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	const char *cert = NULL, *key = NULL;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'c') cert = optarg;
		else if (c == 'k') key = optarg;
		else if (c == 'h') {
			printf("usage: cvmctl ca import --cert FILE --key FILE\n");
			return EXIT_OK;
		} else return usage_error("ca import", "unknown or incomplete flag '%s'", argv[optind - 1]);
	}
	if (optind < argc) return usage_error("ca import", "unexpected argument '%s'", argv[optind]);
	if (!cert || !key) return usage_error("ca import", "needs --cert FILE and --key FILE");
	store_t *st = NULL;
	_cleanup_free_ char *dir = NULL;
	int code = open_store(&st);
	if (code) return code;
	if ((code = lock_store(st))) goto out;
	dir = certs_ca_dir(st);
	char *err = NULL;
	int r = pki_ca_import(dir, cert, key, &err);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		code = (r == -EEXIST || r == -EINVAL) ? EXIT_INVALID : EXIT_FAILED;
	} else {
		pki_ca_t *ca = NULL;
		free(err);
		err = NULL;
		if (certs_open_ca(st, false, &ca, &err) < 0 || certs_publish_crl(st, ca, now_s(), &err) < 0) {
			log_error("%s", err);
			code = EXIT_FAILED;
		} else {
			printf("imported CA \"%s\" (serial %s) into %s\n", pki_ca_subject_cn(ca), pki_ca_serial(ca), dir);
		}
		pki_ca_free(ca);
	}
	free(err);
out:
	store_close(st);
	return code;
}

/* Shared by download and crl: --file FILE or standard output. */
static int emit(const char *file, const void *data, size_t len, mode_t mode) {
	if (!file) {
		if (fwrite(data, 1, len, stdout) != len) return EXIT_FAILED;
		return EXIT_OK;
	}
	int r = write_file_atomic(file, data, len, mode);
	if (r < 0) {
		log_error("cannot write %s: %s", file, strerror(-r));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int ca_download_or_crl(int argc, char **argv, bool crl) {
	const char *cmd = crl ? "ca crl" : "ca download";
	static const struct option opts[] = {{"file", required_argument, NULL, 'f'},
	                                     {"der", no_argument, NULL, 'D'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	const char *file = NULL;
	bool der = false;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		if (c == 'f') file = optarg;
		else if (c == 'D' && crl) der = true;
		else if (c == 'h') {
			printf(crl ? "usage: cvmctl ca crl [--file FILE] [--der]\n" : "usage: cvmctl ca download [--file FILE]\n");
			return EXIT_OK;
		} else return usage_error(cmd, "unknown or incomplete flag '%s'", argv[optind - 1]);
	}
	if (optind < argc) return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	store_t *st = NULL;
	int code = crl ? open_store(&st) : open_store_for_reading(&st);
	if (code) return code;
	pki_ca_t *ca = NULL;
	char *err = NULL;
	unsigned char *out = NULL;
	size_t len = 0;
	_cleanup_free_ char *path = NULL, *pem = NULL;
	if (certs_open_ca(st, false, &ca, &err) < 0) {
		log_error("%s (create one with 'cvmctl ca init')", err);
		code = EXIT_FAILED;
		goto out;
	}
	if (!crl) {
		code = emit(file, pki_ca_cert_pem(ca), strlen(pki_ca_cert_pem(ca)), 0644);
		goto out;
	}
	/* A CRL past half its life is re-signed first (under the lock). */
	if ((code = lock_store(st))) goto out;
	if (certs_refresh_crl(st, ca, now_s(), &err) < 0) {
		log_error("%s", err);
		code = EXIT_FAILED;
		goto out;
	}
	path = xasprintf("%s/ca/crl.pem", store_dir(st));
	int r = read_file(path, &pem, &len);
	if (r < 0) {
		log_error("cannot read %s: %s", path, strerror(-r));
		code = EXIT_FAILED;
		goto out;
	}
	if (der) {
		/* The same CRL, DER-encoded: same number, same dates, same signature. */
		if (pki_crl_pem_to_der(pem, &out, &len) < 0) {
			log_error("%s does not hold a CRL", path);
			code = EXIT_FAILED;
			goto out;
		}
		code = emit(file, out, len, 0644);
	} else {
		code = emit(file, pem, len, 0644);
	}
out:
	free(out);
	free(err);
	pki_ca_free(ca);
	close_store(st);
	return code;
}

static int ca_download(int argc, char **argv) { return ca_download_or_crl(argc, argv, false); }
static int ca_crl(int argc, char **argv) { return ca_download_or_crl(argc, argv, true); }

int cmd_ca(int argc, char **argv) {
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {{"init", ca_init}, {"download", ca_download}, {"crl", ca_crl}, {"import", ca_import}};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(argc < 2 ? stderr : stdout, "usage: cvmctl ca init|download|crl|import [flags]\n");
		return argc < 2 ? EXIT_INVALID : EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(argv[1], subs[i].name) == 0) return subs[i].fn(argc - 1, argv + 1);
	return usage_error("ca", "'%s' is not a ca command (init, download, crl, import)", argv[1]);
}
