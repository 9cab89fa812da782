#include "reconciler/certs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "common/cleanup.h"
#include "common/strmap.h"
#include "common/trust.h"
#include "common/util.h"

char *certs_ca_dir(store_t *st) { return xasprintf("%s/ca", store_dir(st)); }

/* Set before a revocation is recorded and cleared once the CRL that lists
 * it is written: a kill in between leaves the revocation for the next
 * refresh to publish, instead of off the CRL until the CRL's half-life. */
#define CRL_PENDING "crl_pending"

int certs_open_ca(store_t *st, bool create, pki_ca_t **ca, char **err) {
	_cleanup_free_ char *dir = certs_ca_dir(st);
	char *e = NULL;
	int r = pki_ca_load(dir, ca, &e);
	if (r == -ENOENT && create) {
		free(e);
		e = NULL;
		r = pki_ca_init(dir, PKI_DEFAULT_KEY_TYPE, ca, &e);
		if (r == -EEXIST) { /* another process made it meanwhile */
			free(e);
			e = NULL;
			r = pki_ca_load(dir, ca, &e);
		}
	}
	if (r < 0) {
		*err = e ? e : xasprintf("cannot load the CA in %s: %s", dir, strerror(-r));
		return r;
	}
	free(e);
	return 0;
}

int certs_mint(pki_ca_t *ca, const char *id, const char *name, int64_t now, int64_t validity_s, const char *key_type,
               pki_issued_t *out, char **err) {
	const char *dns[] = {name};
	pki_issue_req_t req = {
		.common_name = name,
		.cvm_id = id,
		.dns_names = dns,
		.n_dns = 1,
		.key_type = key_type,
		.not_before = now,
		.validity_s = validity_s,
	};
	memset(out, 0, sizeof *out);
	return pki_issue(ca, &req, out, err);
}

static void mint_req(pki_ca_t *ca, certs_mint_req_t *m) {
	m->rc = certs_mint(ca, m->id, m->name, m->now, m->validity_s, m->key_type, &m->out, &m->err);
	m->ran = true;
}

typedef struct mint_range {
	pki_ca_t *ca;
	certs_mint_req_t *v;
	size_t from, to;
} mint_range_t;

static void *mint_range(void *arg) {
	mint_range_t *r = arg;
	for (size_t i = r->from; i < r->to; i++) mint_req(r->ca, &r->v[i]);
	return NULL;
}

void certs_mint_many(pki_ca_t *ca, certs_mint_req_t *v, size_t n) {
	if (n == 0) return;
	/* The first in this thread, so that the CA key has signed once (and
	 * done whatever it caches on first use) before it is shared; then
	 * the rest split with one more thread. A thread that cannot be
	 * started leaves its share to this one: a request counts as minted
	 * only once it ran. */
	mint_req(ca, &v[0]);
	mint_range_t half = {ca, v, 1 + (n - 1) / 2, n};
	pthread_t th;
	bool threaded = n >= 4 && pthread_create(&th, NULL, mint_range, &half) == 0;
	mint_range_t mine = {ca, v, 1, threaded ? half.from : n};
	mint_range(&mine);
	if (threaded) pthread_join(th, NULL);
	for (size_t i = 1; i < n; i++)
		if (!v[i].ran) mint_req(ca, &v[i]);
}

char *certs_key_path(store_t *st, const char *id, const char *serial) {
	/* One directory for every key (0700): a directory per CVM cost a
	 * mkdir per certificate, the most expensive step of the create path.
	 * Keys written by older versions keep the paths their records name. */
	return xasprintf("%s/keys/%s.%s.key", store_dir(st), id, serial);
}

/* A directory for keys: 0700 and ours (trust_dir: one of ours that is too
 * open is tightened, anybody else's is refused; never a symlink). */
static int key_dir(const char *dir, char **err) {
	int r = mkdir_p(dir, 0700);
	if (r < 0) {
		*err = xasprintf("cannot create the key directory %s: %s", dir, strerror(-r));
		return r;
	}
	return trust_dir(dir, false, err);
}

static int write_key_nosync(const char *root, const char *path, const char *pem, bool sync_it, char **err) {
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash) return -EINVAL;
	*slash = 0;
	int r = strcmp(dir, root) ? key_dir(dir, err) : 0; /* the root was checked once */
	if (r < 0) return r;
	/* A key file's name is its certificate's fresh random serial: it never
	 * exists yet, and nobody reads it before the record naming it commits,
	 * so it is written in place (no temporary file and rename). */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) return -errno;
	size_t len = strlen(pem), off = 0;
	while (off < len) {
		ssize_t w = write(fd, pem + off, len - off);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (r == 0 && sync_it && fsync(fd) < 0) r = -errno;
	if (close(fd) < 0 && r == 0) r = -errno;
	if (r < 0) unlink(path);
	return r;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

static bool is_temp_name(const char *name) { return strstr(name, ".tmp.") != NULL; }

static bool has_suffix(const char *s, const char *suf) {
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && !strcmp(s + n - m, suf);
}

/* A key file by its place under keys/: "ID.SERIAL.key", or "ID/SERIAL.key"
 * for the per-CVM directories older states made. Not by full path: a
 * record written with --state-dir ./st names the same file as one
 * written with /abs/st. NULL when the path has no such tail. */
static char *key_tail(const char *path, int depth) {
	const char *end = path + strlen(path), *p = end;
	for (int seen = 0; p > path; p--)
		if (p[-1] == '/' && seen++ == depth) break;
	return p > path || depth == 0 ? xstrdup(p) : NULL;
}

/* One directory of the sweep; depth 0 may hold the per-CVM directories. */
static size_t sweep_dir(const char *dir, const char *rel, const strmap_t *named, int depth, bool keys) {
	_cleanup_(closedirp) DIR *d = opendir(dir);
	if (!d) return 0;
	size_t removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]))) continue;
		/* The entry's type from readdir where the file system gives it:
		 * a pass over many keys costs no stat each. */
		unsigned char type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (type == DT_DIR) {
			if (!keys || depth != 0) continue;
			_cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
			removed += sweep_dir(p, de->d_name, named, 1, keys);
			continue;
		}
		if (type != DT_REG) continue;
		bool orphan = is_temp_name(de->d_name);
		if (!orphan && keys && has_suffix(de->d_name, ".key")) {
			_cleanup_free_ char *tail = rel ? xasprintf("%s/%s", rel, de->d_name) : NULL;
			orphan = !strmap_get(named, tail ? tail : de->d_name);
		}
		if (orphan && unlinkat(dirfd(d), de->d_name, 0) == 0) removed++;
	}
	return removed;
}

int certs_sweep_orphans(store_t *st) {
	char **paths = NULL;
	size_t n = 0;
	int r = store_list_key_paths(st, &paths, &n);
	if (r < 0) return r;
	/* Both tails of every named key: kept if either matches. */
	strmap_t named = {0};
	char **tails = xcalloc(2 * n + 1, sizeof *tails);
	strmap_reserve(&named, 2 * n);
	for (size_t i = 0; i < n; i++) {
		for (int depth = 0; depth < 2; depth++)
			if ((tails[2 * i + depth] = key_tail(paths[i], depth))) strmap_add(&named, tails[2 * i + depth], i);
		free(paths[i]);
	}
	free(paths);
	_cleanup_free_ char *keys = xasprintf("%s/keys", store_dir(st)), *ca = xasprintf("%s/ca", store_dir(st));
	size_t removed = sweep_dir(keys, NULL, &named, 0, true) + sweep_dir(ca, NULL, &named, 0, false);
	strmap_free(&named);
	for (size_t i = 0; i < 2 * n; i++) free(tails[i]);
	free(tails);
	return (int)removed;
}

int certs_write_keys(store_t *st, const certs_key_t *keys, size_t n, certs_sync_t how, char **err) {
	if (n == 0) return 0;
	_cleanup_free_ char *root = xasprintf("%s/keys", store_dir(st));
	int r = key_dir(root, err);
	if (r < 0) return r;
	for (size_t i = 0; i < n; i++) {
		if ((r = write_key_nosync(root, keys[i].path, keys[i].pem, how == CERTS_SYNC_EACH, err)) < 0) {
			if (!*err) *err = xasprintf("cannot write the key file %s: %s", keys[i].path, strerror(-r));
			/* The caller fails them all: none may stay without a record. */
			for (size_t k = 0; k < i; k++) unlink(keys[k].path);
			return r;
		}
	}
	if (how == CERTS_SYNC_EACH) {
		/* Each file is synced; their directory entries (and the per-CVM
		 * directories, in the root) too. */
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *dir = xstrdup(keys[i].path);
			*strrchr(dir, '/') = 0;
			if ((r = fsync_dir(dir)) < 0) break;
		}
		if (r == 0) r = fsync_dir(root);
	} else {
		/* One flush of the file system the keys live on: every file,
		 * directory and entry written above at once. */
		int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || syncfs(fd) < 0) r = -errno;
		if (fd >= 0) close(fd);
	}
	if (r < 0) {
		*err = xasprintf("cannot make the key files under %s durable: %s", root, strerror(-r));
		for (size_t k = 0; k < n; k++) unlink(keys[k].path);
	}
	return r;
}

int certs_record(store_t *st, const char *id, const pki_issued_t *is, const char *key_path, bool is_default,
                 cert_record_t *out, char **err) {
	int r;
	if (is_default) {
		/* The previous default stays valid until it expires: superseded. */
		cert_record_t *v = NULL;
		size_t n = 0;
		if ((r = store_list_certs(st, id, &v, &n)) < 0) goto store_fail;
		for (size_t i = 0; i < n; i++) {
			if (!v[i].is_default || v[i].status != CERT_VALID) continue;
			v[i].status = CERT_SUPERSEDED;
			if ((r = store_put_cert(st, &v[i])) < 0) {
				cert_records_free(v, n);
				goto store_fail;
			}
		}
		cert_records_free(v, n);
	}
	cert_record_t c = {
		.serial = (char *)is->serial,
		.is_default = is_default,
		.status = CERT_VALID,
		.not_before = is->not_before,
		.not_after = is->not_after,
		.revoke_reason = -1,
		.cert_pem = is->cert_pem,
		.key_path = (char *)key_path,
	};
	memcpy(c.cvm_id, id, sizeof c.cvm_id);
	if ((r = store_put_cert(st, &c)) < 0) goto store_fail;
	if (out) {
		memset(out, 0, sizeof *out);
		out->serial = xstrdup(is->serial);
		memcpy(out->cvm_id, id, sizeof out->cvm_id);
		out->is_default = is_default;
		out->status = CERT_VALID;
		out->not_before = is->not_before;
		out->not_after = is->not_after;
		out->revoke_reason = -1;
		out->cert_pem = xstrdup(is->cert_pem);
		out->key_path = xstrdup(key_path);
	}
	return 0;
store_fail:
	*err = xasprintf("cannot record certificate %s: %s", is->serial, store_errmsg(st));
	return r;
}

int certs_issue(store_t *st, pki_ca_t *ca, const char *id, const char *name, int64_t now, int64_t validity_s,
                const char *key_type, bool is_default, cert_record_t *out, char **err) {
	pki_issued_t is;
	int r = certs_mint(ca, id, name, now, validity_s, key_type, &is, err);
	if (r < 0) return r;
	_cleanup_free_ char *path = certs_key_path(st, id, is.serial);
	certs_key_t k = {path, is.key_pem};
	r = certs_write_keys(st, &k, 1, CERTS_SYNC_EACH, err);
	if (r == 0) r = certs_record(st, id, &is, path, is_default, out, err);
	pki_issued_free(&is);
	return r;
}

int certs_current_default(store_t *st, const char *id, cert_record_t *out) {
	cert_record_t *v = NULL;
	size_t n = 0;
	int r = store_list_certs(st, id, &v, &n);
	if (r < 0) return r;
	ssize_t best = -1;
	for (size_t i = 0; i < n; i++)
		if (v[i].is_default && v[i].status == CERT_VALID && (best < 0 || v[i].not_after > v[best].not_after))
			best = (ssize_t)i;
	if (best < 0) {
		cert_records_free(v, n);
		return -ENOENT;
	}
	*out = v[best];
	memset(&v[best], 0, sizeof v[best]);
	cert_records_free(v, n);
	return 0;
}

bool certs_due(const cert_record_t *c, int64_t now, int64_t renew_before_s) {
	return now >= c->not_after - renew_before_s;
}

int certs_mark_revoked(store_t *st, const char *serial, int reason, int64_t now, char **err) {
	cert_record_t c = {0};
	int r = store_get_cert(st, serial, &c);
	if (r < 0) {
		*err = r == -ENOENT ? xasprintf("no certificate with serial %s", serial)
		                    : xasprintf("cannot read certificate %s: %s", serial, store_errmsg(st));
		return r;
	}
	if (c.status != CERT_REVOKED) {
		c.status = CERT_REVOKED;
		c.revoked_at = now;
		c.revoke_reason = reason;
		if ((r = store_set_setting(st, CRL_PENDING, "1")) < 0 || (r = store_put_cert(st, &c)) < 0)
			*err = xasprintf("cannot record the revocation: %s", store_errmsg(st));
	}
	cert_record_free(&c);
	return r;
}

int certs_revoke_all(store_t *st, const char *id, int64_t now, char **err) {
	cert_record_t *v = NULL;
	size_t n = 0;
	int r = store_list_certs(st, id, &v, &n);
	if (r < 0) {
		*err = xasprintf("cannot read certificates: %s", store_errmsg(st));
		return r;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (v[i].status == CERT_REVOKED) continue;
		v[i].status = CERT_REVOKED;
		v[i].revoked_at = now;
		v[i].revoke_reason = pki_reason_from_name("cessationOfOperation");
		if ((r = store_set_setting(st, CRL_PENDING, "1")) < 0 || (r = store_put_cert(st, &v[i])) < 0)
			*err = xasprintf("cannot record the revocation: %s", store_errmsg(st));
	}
	cert_records_free(v, n);
	return r;
}

int certs_publish_crl(store_t *st, pki_ca_t *ca, int64_t now, char **err) {
	cert_record_t *v = NULL;
	size_t n = 0;
	int r = store_list_certs(st, NULL, &v, &n);
	if (r < 0) {
		*err = xasprintf("cannot read certificates: %s", store_errmsg(st));
		return r;
	}
	pki_revoked_t *rv = xcalloc(n + 1, sizeof *rv);
	size_t nr = 0;
	for (size_t i = 0; i < n; i++) {
		/* An expired certificate may leave the CRL (RFC 5280 3.3). */
		if (v[i].status != CERT_REVOKED || v[i].not_after < now) continue;
		rv[nr++] = (pki_revoked_t){v[i].serial, v[i].revoked_at, v[i].revoke_reason};
	}
	_cleanup_free_ char *num_s = NULL;
	uint64_t number = 0;
	if (store_get_setting(st, "crl_number", &num_s) == 0 && num_s) number = strtoull(num_s, NULL, 10);
	number++;
	unsigned char *pem = NULL;
	size_t len = 0;
	r = pki_crl(ca, rv, nr, number, now, now + CRL_VALIDITY_S, false, &pem, &len, err);
	free(rv);
	cert_records_free(v, n);
	if (r < 0) return r;
	_cleanup_free_ char *dir = certs_ca_dir(st);
	_cleanup_free_ char *path = xasprintf("%s/crl.pem", dir);
	char buf[32];
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)number);
	/* The number is recorded first: a crash between the two never reuses
	 * a CRL number, it only skips one. */
	if ((r = store_set_setting(st, "crl_number", buf)) < 0) {
		*err = xasprintf("cannot record the CRL number: %s", store_errmsg(st));
	} else if ((r = write_file_atomic(path, pem, len, 0644)) < 0) {
		*err = xasprintf("cannot write %s: %s", path, strerror(-r));
	} else {
		/* Recorded only once the file is there: a date recorded for a CRL
		 * that was never written would keep the old one from a refresh.
		 * If these fail, the next refresh re-signs it. */
		snprintf(buf, sizeof buf, "%lld", (long long)now);
		if ((r = store_set_setting(st, "crl_this_update", buf)) < 0 ||
		    (r = store_set_setting(st, CRL_PENDING, "0")) < 0)
			*err = xasprintf("%s is written but the state does not record it: %s", path, store_errmsg(st));
	}
	free(pem);
	return r;
}

int certs_refresh_crl(store_t *st, pki_ca_t *ca, int64_t now, char **err) {
	_cleanup_free_ char *dir = certs_ca_dir(st);
	_cleanup_free_ char *path = xasprintf("%s/crl.pem", dir);
	_cleanup_free_ char *tu = NULL, *pending = NULL;
	struct stat sb;
	bool unlisted = store_get_setting(st, CRL_PENDING, &pending) == 0 && pending && strcmp(pending, "1") == 0;
	if (!unlisted && stat(path, &sb) == 0 && store_get_setting(st, "crl_this_update", &tu) == 0 && tu &&
	    now < strtoll(tu, NULL, 10) + CRL_VALIDITY_S / 2)
		return 0;
	return certs_publish_crl(st, ca, now, err);
}

int certs_read_key(const cert_record_t *c, char **key_pem, char **err) {
	if (!c->key_path) return -ENOENT;
	return read_secret_file(c->key_path, key_pem, NULL, err);
}

char *certs_delivered_serial(store_t *st, const char *id) {
	char *v = NULL;
	if (store_get_delivered(st, id, &v) < 0) return NULL;
	return v;
}

int certs_set_delivered(store_t *st, const char *id, const char *serial) {
	return store_set_delivered(st, id, serial);
}
