/* cvmctl cert list|download|revoke|renew|issue NAME|ID: a CVM's certificates.
 * Only `download` ever writes a private key out, and only into files (0600). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/trust.h"
#include "common/util.h"
#include "reconciler/certs.h"
#include "reconciler/cli/cli.h"
#include "reconciler/publish.h"

static const char *display_status(const cert_record_t *c, int64_t now) {
	if (c->status == CERT_REVOKED) return "revoked";
	if (c->not_after <= now) return "expired";
	return c->status == CERT_SUPERSEDED ? "superseded" : "valid";
}

/* Opens the state, takes the lock when `write`, and finds the CVM. */
static int open_cvm(const char *name_or_id, bool write, store_t **st, cvm_record_t *r) {
	int code = write ? open_store(st) : open_store_for_reading(st);
	if (code) return code;
	if (write && (code = lock_store(*st))) goto fail;
	if ((code = find_cvm_or_fail(*st, name_or_id, r))) goto fail;
	return 0;
fail:
	close_store(*st);
	*st = NULL;
	return code;
}

static int64_t spec_int(const cvm_record_t *r, const char *obj, const char *key, int64_t dflt) {
	json_t *s = r->spec_json ? json_loads(r->spec_json, 0, NULL) : NULL;
	json_t *v = json_object_get(json_object_get(s, obj), key);
	int64_t out = json_is_integer(v) ? json_integer_value(v) : dflt;
	json_decref(s);
	return out;
}

/* The certificate named by --serial, or the CVM's current default one. */
static int pick_cert(store_t *st, const cvm_record_t *r, const char *serial, cert_record_t *c) {
	if (serial) {
		int rc = store_get_cert(st, serial, c);
		if (rc == 0 && strcmp(c->cvm_id, r->id) == 0) return 0;
		if (rc == 0) cert_record_free(c);
		log_error("CVM %s has no certificate with serial %s", r->name, serial);
		return EXIT_FAILED;
	}
	if (certs_current_default(st, r->id, c) < 0) {
		log_error("CVM %s has no valid default certificate; name one with --serial", r->name);
		return EXIT_FAILED;
	}
	return 0;
}

static int cert_list(int argc, char **argv) {
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0}};
	int fmt = OUT_TABLE, c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'o' && (fmt = parse_output_format(optarg, false)) >= 0) continue;
		if (c == 'h') {
			printf("usage: cvmctl cert list NAME|ID [-o table|json|yaml]\n");
			return EXIT_OK;
		}
		return c == 'o' ? EXIT_INVALID : usage_error("cert list", "unknown or incomplete flag '%s'", argv[optind - 1]);
	}
	if (argc - optind != 1) return usage_error("cert list", "needs exactly one NAME or ID");
	store_t *st = NULL;
	cvm_record_t r = {0};
	int code = open_cvm(argv[optind], false, &st, &r);
	if (code) return code;
	cert_record_t *v = NULL;
	size_t n = 0;
	if (store_list_certs(st, r.id, &v, &n) < 0) {
		log_error("cannot read the state: %s", store_errmsg(st));
		code = EXIT_FAILED;
		goto out;
	}
	int64_t now = now_s();
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char nb[32], na[32];
		format_time(v[i].not_before, nb, sizeof nb);
		format_time(v[i].not_after, na, sizeof na);
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "serial", v[i].serial, "notBefore", nb, "notAfter", na,
		                      "status", display_status(&v[i], now), "kind", v[i].is_default ? "default" : "extra");
		if (v[i].status == CERT_REVOKED) {
			char ra[32];
			format_time(v[i].revoked_at, ra, sizeof ra);
			json_object_set_new(o, "revokedAt", json_string(ra));
			const char *why = pki_reason_name(v[i].revoke_reason);
			json_object_set_new(o, "reason", why ? json_string(why) : json_null());
		}
		json_array_append_new(arr, o);
	}
	if (fmt == OUT_JSON) {
		_cleanup_free_ char *s = json_dumps(arr, JSON_INDENT(2));
		printf("%s\n", s);
	} else if (fmt == OUT_YAML) {
		print_json_as_yaml(arr);
	} else {
		printf("%-34s %-20s %-20s %-10s %s\n", "SERIAL", "NOT-BEFORE", "NOT-AFTER", "STATUS", "KIND");
		size_t i;
		json_t *o;
		json_array_foreach(arr, i, o) printf("%-34s %-20s %-20s %-10s %s\n",
		                                     json_string_value(json_object_get(o, "serial")),
		                                     json_string_value(json_object_get(o, "notBefore")),
		                                     json_string_value(json_object_get(o, "notAfter")),
		                                     json_string_value(json_object_get(o, "status")),
		                                     json_string_value(json_object_get(o, "kind")));
	}
	json_decref(arr);
out:
	cert_records_free(v, n);
	cvm_record_free(&r);
	close_store(st);
	return code;
}

/* Writes one file of a download; refuses to replace one unless forced. */
static int put_file(const char *dir, const char *name, const char *data, mode_t mode, bool force) {
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	if (!force && access(path, F_OK) == 0) {
		log_error("%s exists; pass --force to overwrite it", path);
		return -EEXIST;
	}
	int r = write_file_atomic(path, data, strlen(data), mode);
	if (r < 0) log_error("cannot write %s: %s", path, strerror(-r));
	return r;
}

static int cert_download(int argc, char **argv) {
	static const struct option opts[] = {{"serial", required_argument, NULL, 's'},
	                                     {"dir", required_argument, NULL, 'd'},
	                                     {"force", no_argument, NULL, 'F'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	const char *serial = NULL, *dir = ".";
	bool force = false;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': serial = optarg; break;
		case 'd': dir = optarg; break;
		case 'F': force = true; break;
		case 'h': printf("usage: cvmctl cert download NAME|ID [--serial S] [--dir DIR] [--force]\n"); return EXIT_OK;
		default: return usage_error("cert download", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1) return usage_error("cert download", "needs exactly one NAME or ID");
	store_t *st = NULL;
	cvm_record_t r = {0};
	int code = open_cvm(argv[optind], false, &st, &r);
	if (code) return code;
	cert_record_t cert = {0};
	char *key = NULL;
	pki_ca_t *ca = NULL;
	char *err = NULL;
	if ((code = pick_cert(st, &r, serial, &cert))) goto out;
	int rc = certs_read_key(&cert, &key, &err);
	if (rc < 0) {
		log_error("cannot read the key of certificate %s: %s", cert.serial, err ? err : strerror(-rc));
		code = EXIT_FAILED;
		goto out;
	}
	if (certs_open_ca(st, false, &ca, &err) < 0) {
		log_error("%s", err);
		code = EXIT_FAILED;
		goto out;
	}
	/* A new directory for a key is private; an existing one is the
	 * operator's choice. */
	if ((rc = mkdir_p(dir, 0700)) < 0) {
		log_error("cannot create %s: %s", dir, strerror(-rc));
		code = EXIT_FAILED;
		goto out;
	}
	if (put_file(dir, "cert.pem", cert.cert_pem, 0644, force) < 0 || put_file(dir, "key.pem", key, 0600, force) < 0 ||
	    put_file(dir, "ca.pem", pki_ca_cert_pem(ca), 0644, force) < 0) {
		code = EXIT_FAILED;
		goto out;
	}
	printf("wrote %s/cert.pem, %s/key.pem (0600) and %s/ca.pem for certificate %s\n", dir, dir, dir, cert.serial);
out:
	free_secret(key);
	free(err);
	pki_ca_free(ca);
	cert_record_free(&cert);
	cvm_record_free(&r);
	close_store(st);
	return code;
}

/* Issues a new default certificate for an active CVM and publishes it. */
static int replace_default(store_t *st, pki_ca_t *ca, const cvm_record_t *r, const char *why) {
	char *err = NULL;
	cert_record_t fresh = {0};
	int64_t validity = spec_int(r, "certificates", "validity", CVM_DEFAULT_CERT_VALIDITY_S);
	if (store_begin(st) < 0 || certs_issue(st, ca, r->id, r->name, now_s(), validity, NULL, true, &fresh, &err) < 0) {
		log_error("cannot issue a new certificate for %s: %s", r->name, err ? err : store_errmsg(st));
		store_rollback(st);
		free(err);
		return EXIT_FAILED;
	}
	_cleanup_free_ char *msg = xasprintf("certificate %s issued (%s)", fresh.serial, why);
	if (store_add_event(st, r->id, "cert-issued", msg) < 0 || store_commit(st) < 0) {
		log_error("cannot record the new certificate: %s", store_errmsg(st));
		store_rollback(st);
		cert_record_free(&fresh);
		return EXIT_FAILED;
	}
	printf("issued %s as the default certificate of %s\n", fresh.serial, r->name);
	cert_record_free(&fresh);
	if (r->status == ST_INACTIVE) return EXIT_OK;
	if (publish_cvm(st, ca, r, &err) < 0) {
		log_error("%s: the new certificate is recorded, but publishing it failed: %s", r->name, err);
		free(err);
		return EXIT_FAILED;
	}
	printf("published it to %s\n", r->name);
	return EXIT_OK;
}

static int record_revocation(store_t *st, const cvm_record_t *r, const char *serial, int reason, const char *msg) {
	char *err = NULL;
	if (store_begin(st) < 0) {
		log_error("cannot record the revocation of %s: %s", serial, store_errmsg(st));
		return EXIT_FAILED;
	}
	if (certs_mark_revoked(st, serial, reason, now_s(), &err) < 0 ||
	    store_add_event(st, r->id, "cert-revoked", msg) < 0 || store_commit(st) < 0) {
		log_error("cannot record the revocation of %s: %s", serial, err ? err : store_errmsg(st));
		store_rollback(st);
		free(err);
		return EXIT_FAILED;
	}
	return 0;
}

static int cert_revoke(int argc, char **argv) {
	static const struct option opts[] = {{"serial", required_argument, NULL, 's'},
	                                     {"reason", required_argument, NULL, 'r'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	const char *serial = NULL, *reason_s = "unspecified";
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': serial = optarg; break;
		case 'r': reason_s = optarg; break;
		case 'h':
			printf("usage: cvmctl cert revoke NAME|ID --serial S [--reason keyCompromise|superseded|"
			       "cessationOfOperation|affiliationChanged|privilegeWithdrawn|certificateHold|unspecified]\n");
			return EXIT_OK;
		default: return usage_error("cert revoke", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1) return usage_error("cert revoke", "needs exactly one NAME or ID");
	if (!serial) return usage_error("cert revoke", "--serial is required (see 'cvmctl cert list')");
	int reason = pki_reason_from_name(reason_s);
	if (reason < 0 || !pki_reason_revocable(reason))
		return usage_error("cert revoke", "'%s' is not an RFC 5280 revocation reason", reason_s);

	store_t *st = NULL;
	cvm_record_t r = {0};
	int code = open_cvm(argv[optind], true, &st, &r);
	if (code) return code;
	cert_record_t cert = {0}, cur = {0};
	pki_ca_t *ca = NULL;
	char *err = NULL;
	_cleanup_free_ char *msg = NULL;
	if ((code = pick_cert(st, &r, serial, &cert))) goto out;
	if (cert.status == CERT_REVOKED) {
		printf("certificate %s is already revoked\n", cert.serial);
		goto out;
	}
	if (certs_open_ca(st, false, &ca, &err) < 0) {
		log_error("%s", err);
		code = EXIT_FAILED;
		goto out;
	}
	bool was_current = certs_current_default(st, r.id, &cur) == 0 && strcmp(cur.serial, cert.serial) == 0;
	/* The revocation and its history entry are recorded together. */
	msg = xasprintf("certificate %s revoked (%s)", cert.serial, pki_reason_name(reason));
	if ((code = record_revocation(st, &r, cert.serial, reason, msg))) goto out;
	if (certs_publish_crl(st, ca, now_s(), &err) < 0) {
		log_error("%s", err);
		code = EXIT_FAILED;
		goto out;
	}
	printf("revoked %s (%s); the CRL is re-signed\n", cert.serial, pki_reason_name(reason));
	/* The CVM must not be left without a valid default certificate. */
	if (was_current && r.status != ST_INACTIVE) code = replace_default(st, ca, &r, "replacing a revoked one");
out:
	free(err);
	pki_ca_free(ca);
	cert_record_free(&cert);
	cert_record_free(&cur);
	cvm_record_free(&r);
	close_store(st);
	return code;
}

static int cert_renew_or_issue(int argc, char **argv, bool renew) {
	const char *cmd = renew ? "cert renew" : "cert issue";
	static const struct option opts[] = {{"serial", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
	const char *serial = NULL;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, renew ? "s:h" : "h", opts, NULL)) != -1) {
		if (c == 's' && renew) {
			serial = optarg;
		} else if (c == 'h') {
			printf(renew ? "usage: cvmctl cert renew NAME|ID [--serial S]\n" : "usage: cvmctl cert issue NAME|ID\n");
			return EXIT_OK;
		} else {
			return usage_error(cmd, "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1) return usage_error(cmd, "needs exactly one NAME or ID");
	store_t *st = NULL;
	cvm_record_t r = {0};
	int code = open_cvm(argv[optind], true, &st, &r);
	if (code) return code;
	cert_record_t old = {0}, fresh = {0};
	pki_ca_t *ca = NULL;
	char *err = NULL;
	_cleanup_free_ char *msg = NULL;
	if (r.status == ST_INACTIVE) {
		log_error("%s is Inactive: its certificates are revoked and no new one is issued", r.name);
		code = EXIT_INVALID;
		goto out;
	}
	if (renew && (code = pick_cert(st, &r, serial, &old))) goto out;
	if (renew && old.status == CERT_REVOKED) {
		log_error("certificate %s is revoked and cannot be renewed; 'cvmctl cert issue' makes a new one", old.serial);
		code = EXIT_INVALID;
		goto out;
	}
	if (certs_open_ca(st, true, &ca, &err) < 0) {
		log_error("%s", err);
		code = EXIT_FAILED;
		goto out;
	}
	if (renew && old.is_default) {
		code = replace_default(st, ca, &r, "renewal");
		goto out;
	}
	/* An extra certificate (new, or the renewal of an extra one). */
	int64_t validity = spec_int(&r, "certificates", "validity", CVM_DEFAULT_CERT_VALIDITY_S);
	if (store_begin(st) < 0 || certs_issue(st, ca, r.id, r.name, now_s(), validity, NULL, false, &fresh, &err) < 0) {
		log_error("cannot issue a certificate for %s: %s", r.name, err ? err : store_errmsg(st));
		store_rollback(st);
		code = EXIT_FAILED;
		goto out;
	}
	if (renew) old.status = CERT_SUPERSEDED;
	msg = xasprintf("extra certificate %s issued%s%s", fresh.serial, renew ? " renewing " : "", renew ? old.serial : "");
	if ((renew && store_put_cert(st, &old) < 0) || store_add_event(st, r.id, "cert-issued", msg) < 0 ||
	    store_commit(st) < 0) {
		log_error("cannot record the certificate: %s", store_errmsg(st));
		store_rollback(st);
		code = EXIT_FAILED;
	} else {
		printf("issued %s for %s; fetch it with: cvmctl cert download %s --serial %s --dir DIR\n", fresh.serial,
		       r.name, r.name, fresh.serial);
	}
out:
	cert_record_free(&fresh);
	free(err);
	pki_ca_free(ca);
	cert_record_free(&old);
	cvm_record_free(&r);
	close_store(st);
	return code;
}

static int cert_renew(int argc, char **argv) { return cert_renew_or_issue(argc, argv, true); }
static int cert_issue(int argc, char **argv) { return cert_renew_or_issue(argc, argv, false); }

int cmd_cert(int argc, char **argv) {
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {{"list", cert_list}, {"download", cert_download}, {"revoke", cert_revoke}, {"renew", cert_renew},
	            {"issue", cert_issue}};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(argc < 2 ? stderr : stdout, "usage: cvmctl cert list|download|revoke|renew|issue NAME|ID [flags]\n");
		return argc < 2 ? EXIT_INVALID : EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(argv[1], subs[i].name) == 0) return subs[i].fn(argc - 1, argv + 1);
	return usage_error("cert", "'%s' is not a cert command (list, download, revoke, renew, issue)", argv[1]);
}
