#include "providers/manager/shares.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

static int parse_id(const char *s, size_t n, bool user, unsigned *out) {
	_cleanup_free_ char *v = xmalloc(n + 1);
	memcpy(v, s, n);
	v[n] = 0;
	if (v[0] == '+') {
		char *end;
		errno = 0;
		unsigned long x = strtoul(v + 1, &end, 10);
		if (errno || end == v + 1 || *end || x > 0x7fffffffUL) return -EINVAL;
		*out = (unsigned)x;
		return 0;
	}
	/* Reentrant lookups: several host workers resolve labels at once. */
	long sz = sysconf(user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
	size_t bufsz = sz > 0 ? (size_t)sz : 16384;
	_cleanup_free_ char *buf = xmalloc(bufsz);
	if (user) {
		struct passwd pw, *res = NULL;
		if (getpwnam_r(v, &pw, buf, bufsz, &res) != 0 || !res) return -ENOENT;
		*out = pw.pw_uid;
	} else {
		struct group gr, *res = NULL;
		if (getgrnam_r(v, &gr, buf, bufsz, &res) != 0 || !res) return -ENOENT;
		*out = gr.gr_gid;
	}
	return 0;
}

/* Text of <tag ...>text</tag> starting the search at p, bounded by end. */
static const char *find_text(const char *p, const char *end, const char *tag, const char **attrs, size_t *len) {
	size_t tl = strlen(tag);
	for (; (p = strstr(p, "<")) && p < end; p++) {
		if (strncmp(p + 1, tag, tl) != 0 || (p[1 + tl] != '>' && p[1 + tl] != ' ')) continue;
		const char *gt = strchr(p, '>');
		if (!gt || gt > end) return NULL;
		const char *close = strstr(gt, "</");
		if (!close || close > end) return NULL;
		if (attrs) *attrs = p + 1 + tl;
		*len = (size_t)(close - gt - 1);
		return gt + 1;
	}
	return NULL;
}

static bool attr_type_is(const char *attrs, const char *virt_type) {
	const char *gt = strchr(attrs, '>');
	for (const char *q = strstr(attrs, "type="); q && q < gt; q = strstr(q + 1, "type=")) {
		char quote = q[5];
		if (quote != '\'' && quote != '"') continue;
		size_t n = strlen(virt_type);
		return strncmp(q + 6, virt_type, n) == 0 && q[6 + n] == quote;
	}
	return false;
}

int manager_parse_dac_label(const char *caps_xml, const char *virt_type, uid_t *uid, gid_t *gid) {
	for (const char *s = strstr(caps_xml, "<secmodel>"); s; s = strstr(s + 1, "<secmodel>")) {
		const char *end = strstr(s, "</secmodel>");
		if (!end) break;
		size_t n;
		const char *model = find_text(s, end, "model", NULL, &n);
		if (!model || n != 3 || strncmp(model, "dac", 3) != 0) continue;
		const char *label = NULL, *attrs;
		size_t ln = 0;
		for (const char *q = s; q < end;) {
			size_t l;
			const char *t = find_text(q, end, "baselabel", &attrs, &l);
			if (!t) break;
			if (!label || attr_type_is(attrs, virt_type)) {
				bool exact = attr_type_is(attrs, virt_type);
				label = t, ln = l;
				if (exact) break;
			}
			q = t + l;
		}
		if (!label) continue;
		const char *colon = memchr(label, ':', ln);
		if (!colon) return -EINVAL;
		unsigned u, g;
		int r = parse_id(label, (size_t)(colon - label), true, &u);
		if (r < 0) return r;
		r = parse_id(colon + 1, ln - (size_t)(colon + 1 - label), false, &g);
		if (r < 0) return r;
		*uid = u;
		*gid = g;
		return 0;
	}
	return -ENOENT;
}

bool manager_uri_is_local(const char *uri) {
	const char *p = strstr(uri, "://");
	if (!p) return true; /* an alias or a bare driver name: resolved on this machine */
	p += 3;
	size_t n = strcspn(p, "/?");
	if (n == 0) return true;
	const char *at = memchr(p, '@', n); /* user@host */
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	static const char *const local[] = {"localhost", "127.0.0.1", "[::1]"};
	for (size_t i = 0; i < ARRAY_SIZE(local); i++) {
		size_t l = strlen(local[i]);
		if (n >= l && strncmp(p, local[i], l) == 0 && (n == l || p[l] == ':')) return true;
	}
	return false;
}

char *manager_share_path(const char *share_dir, const char *id, const char *sub) {
	return sub ? xasprintf("%s/%s/%s", share_dir, id, sub) : xasprintf("%s/%s", share_dir, id);
}

static int set_owner(const char *path, const manager_owner_t *o, char **err) {
	if (!o->set) return 0;
	if (lchown(path, o->uid, o->gid) == 0) return 0;
	int r = -errno;
	if (r == -EPERM && geteuid() != 0) {
		/* An unprivileged cvmctl drives an unprivileged (session) QEMU
		 * that runs as this same user. */
		log_debug("cannot give %s to %u:%u as an unprivileged user; leaving it ours", path, (unsigned)o->uid,
		          (unsigned)o->gid);
		return 0;
	}
	*err = xasprintf("cannot give %s to the hypervisor user %u:%u: %s", path, (unsigned)o->uid, (unsigned)o->gid,
	                 strerror(-r));
	return r;
}

/* A private directory, and never a symlink a guest-side user could have
 * planted to redirect our writes. */
static int private_dir(const char *dir, const manager_owner_t *o, char **err) {
	int r = mkdir_p(dir, 0700);
	struct stat st;
	if (r == 0 && lstat(dir, &st) < 0) r = -errno;
	if (r < 0) {
		*err = xasprintf("cannot create share directory %s: %s", dir, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		*err = xasprintf("share directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0) {
		r = -errno;
		*err = xasprintf("cannot chmod %s: %s", dir, strerror(-r));
		return r;
	}
	return set_owner(dir, o, err);
}

static bool plain_name(const char *s) {
	return s && *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/');
}

int manager_shares_write(const char *share_dir, const char *id, const prov_file_t *files, size_t n_files,
                         const manager_owner_t *owner, char **err) {
	if (!uuid_valid(id)) {
		*err = xasprintf("invalid CVM id '%s'", id);
		return -EINVAL;
	}
	for (size_t i = 0; i < n_files; i++) {
		if (!files[i].dir || (strcmp(files[i].dir, "certs") != 0 && strcmp(files[i].dir, "env") != 0) ||
		    !plain_name(files[i].name)) {
			*err = xasprintf("cannot deliver file '%s/%s': only plain names in certs/ and env/",
			                 files[i].dir ? files[i].dir : "", files[i].name ? files[i].name : "");
			return -EINVAL;
		}
	}
	/* The root only needs to be traversable by the hypervisor's user. */
	int r = mkdir_p(share_dir, 0711);
	if (r < 0) {
		*err = xasprintf("cannot create share directory %s: %s", share_dir, strerror(-r));
		return r;
	}
	_cleanup_free_ char *top = manager_share_path(share_dir, id, NULL);
	_cleanup_free_ char *certs = manager_share_path(share_dir, id, "certs");
	_cleanup_free_ char *env = manager_share_path(share_dir, id, "env");
	if ((r = private_dir(top, owner, err)) < 0 || (r = private_dir(certs, owner, err)) < 0 ||
	    (r = private_dir(env, owner, err)) < 0)
		return r;
	for (size_t i = 0; i < n_files; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", strcmp(files[i].dir, "certs") == 0 ? certs : env,
		                                      files[i].name);
		r = write_file_replace(path, files[i].data, files[i].len, 0600, false);
		if (r < 0) {
			*err = xasprintf("cannot write %s: %s", path, strerror(-r));
			return r;
		}
		if ((r = set_owner(path, owner, err)) < 0) return r;
	}
	/* One flush of the share's file system makes every file and rename
	 * above durable before the domain is started or told: an fsync per
	 * file and directory cost eight flushes per CVM. */
	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0) {
		r = -errno;
		*err = xasprintf("cannot flush %s: %s", top, strerror(-r));
		return r;
	}
	return 0;
}

static __thread int rm_errno; /* nftw passes no user pointer */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st;
	(void)ftw;
	int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
	if (r < 0 && errno != ENOENT) {
		rm_errno = errno;
		return 1;
	}
	return 0;
}

int manager_shares_remove(const char *share_dir, const char *id, char **err) {
	if (!uuid_valid(id)) {
		*err = xasprintf("invalid CVM id '%s'", id);
		return -EINVAL;
	}
	_cleanup_free_ char *top = manager_share_path(share_dir, id, NULL);
	struct stat st;
	if (lstat(top, &st) < 0) {
		if (errno == ENOENT) return 0;
		int r = -errno;
		*err = xasprintf("cannot remove %s: %s", top, strerror(-r));
		return r;
	}
	rm_errno = 0;
	int r = nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (r != 0) {
		r = r > 0 ? -rm_errno : -errno;
		*err = xasprintf("cannot remove %s: %s", top, strerror(-r));
		return r;
	}
	return 0;
}
