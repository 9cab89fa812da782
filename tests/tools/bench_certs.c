/* bench_certs: certificates issued per second by cvmctl, key generation
 * included.
 *
 *   bench_certs durable DIR N [KEY_TYPE]
 *       the reconciler's own path (reconciler/certs.c certs_issue), one CVM
 *       at a time: per CVM, one transaction in the real state store
 *       (DIR/state, SQLite WAL, synchronous=FULL) holding its record and
 *       its default certificate, whose key is written atomically and
 *       fsync'ed under DIR/state/keys (what a renewal costs);
 *   bench_certs wave DIR N [KEY_TYPE]
 *       the create path as apply takes it: the intents of a wave (N
 *       records, each with its default certificate and fsync'ed key file)
 *       in ONE transaction, one commit for all;
 *   bench_certs floor DIR N [KEY_TYPE]
 *       the same pki_issue calls in a tight loop, nothing written: the floor
 *       the durable path cannot beat.
 *
 * Prints one line: "<mode> <n> <seconds> <certs per second>". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "pki/pki.h"
#include "reconciler/certs.h"
#include "reconciler/store/store.h"

static double mono(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, const char *msg) {
	fprintf(stderr, "bench_certs: %s: %s\n", what, msg ? msg : "failed");
	return 1;
}

int main(int argc, char **argv) {
	if (argc < 4 || (strcmp(argv[1], "durable") && strcmp(argv[1], "wave") && strcmp(argv[1], "floor"))) {
		fprintf(stderr, "usage: bench_certs durable|wave|floor DIR N [KEY_TYPE]\n");
		return 2;
	}
	bool wave = strcmp(argv[1], "wave") == 0;
	bool durable = wave || strcmp(argv[1], "durable") == 0;
	const char *dir = argv[2];
	long n = strtol(argv[3], NULL, 10);
	const char *key_type = argc > 4 ? argv[4] : NULL;
	if (n <= 0) return die("N", "must be positive");

	_cleanup_free_ char *cadir = xasprintf("%s/ca", dir);
	_cleanup_free_ char *statedir = xasprintf("%s/state", dir);
	_cleanup_free_ char *err = NULL;
	pki_ca_t *ca = NULL;
	if (pki_ca_init(cadir, key_type, &ca, &err) < 0) return die("ca init", err);

	store_t *st = NULL;
	if (durable && store_open(statedir, NULL, &st) < 0) return die("store", store_errmsg(NULL));

	int64_t now = now_s();
	double t0 = mono();
	if (wave && store_begin(st) < 0) return die("begin", store_errmsg(st));
	for (long i = 0; i < n; i++) {
		char name[32], id[37];
		snprintf(name, sizeof name, "web-%ld", i);
		uuid_generate_v4(id);
		if (durable) {
			cvm_record_t cvm = {.name = name, .scope = "bench", .status = ST_CREATING};
			memcpy(cvm.id, id, sizeof cvm.id);
			if ((!wave && store_begin(st) < 0) || store_put_cvm(st, &cvm) < 0 ||
			    certs_issue(st, ca, id, name, now, 30 * 86400, key_type, true, NULL, &err) < 0 ||
			    (!wave && store_commit(st) < 0))
				return die("issue", err ? err : store_errmsg(st));
			continue;
		}
		_cleanup_free_ char *fqdn = xasprintf("%s.example.com", name);
		const char *dns[] = {fqdn};
		pki_issue_req_t req = {
			.common_name = name,
			.cvm_id = id,
			.dns_names = dns,
			.n_dns = 1,
			.key_type = key_type,
			.not_before = now,
			.validity_s = 30 * 86400,
		};
		pki_issued_t is;
		if (pki_issue(ca, &req, &is, &err) < 0) return die("issue", err);
		pki_issued_free(&is);
	}
	if (wave && store_commit(st) < 0) return die("commit", store_errmsg(st));
	double secs = mono() - t0;
	printf("%s %ld %.4f %.1f\n", argv[1], n, secs, (double)n / secs);
	store_close(st);
	pki_ca_free(ca);
	return 0;
}
