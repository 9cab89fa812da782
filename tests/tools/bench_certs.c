/* bench_certs: certificates issued per second by cvmctl, key generation
 * included.
 *
 *   bench_certs durable DIR N [KEY_TYPE]
 *       the reconciler's own path (reconciler/certs.c certs_issue), as a
 *       create intent takes it: per CVM, one transaction in the real state
 *       store (DIR/state, SQLite WAL, synchronous=FULL) holding its record
 *       and its default certificate, whose key is written atomically and
 *       fsync'ed under DIR/state/keys;
 *   bench_certs batch DIR N [KEY_TYPE]
 *   bench_certs batch-fsync DIR N [KEY_TYPE]
 *       the create path of apply (reconciler/intent.c): the N certificates
 *       of one wave minted first (certs_mint_many, two threads), their key
 *       files written and made durable together (one syncfs() of the key
 *       directory's file system, or, batch-fsync, an fsync per file and
 *       directory), then the N records and certificates in one transaction
 *       (one commit, one fsync);
 *   bench_certs floor DIR N [KEY_TYPE]
 *       the same pki_issue calls in a tight loop, nothing written: the floor
 *       the durable path cannot beat.
 *
 * Prints one line: "<mode> <n> <seconds> <certs per second>"; with
 * BENCH_PHASES set, batch modes also say on stderr how long minting, the
 * key files, the records and the commit took. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/timing.h"
#include "common/util.h"
#include "pki/pki.h"
#include "reconciler/certs.h"
#include "reconciler/store/store.h"

static double mono(void) {
	return (double)mono_ns() / 1e9;
}

static int die(const char *what, const char *msg) {
	fprintf(stderr, "bench_certs: %s: %s\n", what, msg ? msg : "failed");
	return 1;
}

/* One wave of N creates, as apply records them. */
static int create_path(store_t *st, pki_ca_t *ca, long n, int64_t now, const char *key_type, bool fsync_each,
                       char **err) {
	certs_mint_req_t *v = xcalloc((size_t)n, sizeof *v);
	char (*ids)[37] = xcalloc((size_t)n, sizeof *ids);
	char (*names)[32] = xcalloc((size_t)n, sizeof *names);
	certs_key_t *keys = xcalloc((size_t)n, sizeof *keys);
	for (long i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "web-%ld", i);
		uuid_generate_v4(ids[i]);
		v[i] = (certs_mint_req_t){.id = ids[i], .name = names[i], .now = now, .validity_s = 30 * 86400,
		                          .key_type = key_type};
	}
	double t0 = mono();
	certs_mint_many(ca, v, (size_t)n);
	double t1 = mono();
	int r = 0;
	for (long i = 0; i < n && r == 0; i++) {
		if ((r = v[i].rc) < 0) *err = TAKE_PTR(v[i].err);
		keys[i] = (certs_key_t){certs_key_path(st, ids[i], v[i].out.serial), v[i].out.key_pem};
	}
	if (r == 0) r = certs_write_keys(st, keys, (size_t)n, fsync_each ? CERTS_SYNC_EACH : CERTS_SYNC_FS, err);
	double t2 = mono();
	if (r == 0 && (r = store_begin(st)) < 0) *err = xstrdup(store_errmsg(st));
	for (long i = 0; i < n && r == 0; i++) {
		cvm_record_t cvm = {.name = names[i], .scope = "bench", .status = ST_CREATING};
		memcpy(cvm.id, ids[i], sizeof cvm.id);
		if ((r = store_put_cvm(st, &cvm)) < 0)
			*err = xstrdup(store_errmsg(st));
		else
			r = certs_record(st, ids[i], &v[i].out, keys[i].path, true, NULL, err);
	}
	double t3 = mono();
	if (r == 0 && (r = store_commit(st)) < 0) *err = xstrdup(store_errmsg(st));
	if (getenv("BENCH_PHASES"))
		fprintf(stderr, "mint %.3f s, keys %.3f s, records %.3f s, commit %.3f s\n", t1 - t0, t2 - t1, t3 - t2,
		        mono() - t3);
	for (long i = 0; i < n; i++) {
		free((char *)keys[i].path);
		pki_issued_free(&v[i].out);
		free(v[i].err);
	}
	free(v);
	free(ids);
	free(names);
	free(keys);
	return r;
}

int main(int argc, char **argv) {
	if (argc < 4 || (strcmp(argv[1], "durable") && strcmp(argv[1], "floor") && strcmp(argv[1], "batch") &&
	                 strcmp(argv[1], "batch-fsync"))) {
		fprintf(stderr, "usage: bench_certs durable|batch|batch-fsync|floor DIR N [KEY_TYPE]\n");
		return 2;
	}
	bool batch = strncmp(argv[1], "batch", 5) == 0;
	bool durable = batch || strcmp(argv[1], "durable") == 0;
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
	if (batch) {
		int r = create_path(st, ca, n, now, key_type, strcmp(argv[1], "batch-fsync") == 0, &err);
		if (r < 0) return die("batch", err);
	}
	for (long i = 0; i < n && !batch; i++) {
		char name[32], id[37];
		snprintf(name, sizeof name, "web-%ld", i);
		uuid_generate_v4(id);
		if (durable) {
			cvm_record_t cvm = {.name = name, .scope = "bench", .status = ST_CREATING};
			memcpy(cvm.id, id, sizeof cvm.id);
			if (store_begin(st) < 0 || store_put_cvm(st, &cvm) < 0 ||
			    certs_issue(st, ca, id, name, now, 30 * 86400, key_type, true, NULL, &err) < 0 ||
			    store_commit(st) < 0)
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
	double secs = mono() - t0;
	printf("%s %ld %.4f %.1f\n", argv[1], n, secs, (double)n / secs);
	store_close(st);
	pki_ca_free(ca);
	return 0;
}
