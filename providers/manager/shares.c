#include "providers/manager/shares.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

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

static int set_owner_fd(int fd, const char *path, const manager_owner_t *o, char **err) {
	if (!o->set) return 0;
	if (fchown(fd, o->uid, o->gid) == 0) return 0;
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

/* Share directories belong to the hypervisor's user once made, so a path
 * is never trusted twice: each level is opened with openat(O_NOFOLLOW)
 * from the descriptor of the one above, starting at the share root, which
 * is ours and writable by nobody else; files are written and renamed
 * through the directory's descriptor. A symlink swapped in at any level
 * is refused, never followed. */

/* The share root: ours, and nobody else may write it (a group- or
 * world-writable root would let anyone swap a CVM's directory). */
static int open_root(const char *share_dir, char **err) {
	int r = mkdir_p(share_dir, 0711);
	if (r < 0) {
		*err = xasprintf("cannot create share directory %s: %s", share_dir, strerror(-r));
		return r;
	}
	int fd = open(share_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		*err = xasprintf("cannot open share directory %s: %s", share_dir, strerror(-r));
		return r;
	}
	/* Refused, not tightened: the root is the operator's directory (it
	 * may be shared with other things), not one we made private. */
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		*err = xasprintf("share directory %s must be owned by uid %u (who runs cvmctl) and writable by nobody "
		                 "else: another user could swap a CVM's directory in it for a symlink",
		                 share_dir, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* name under dfd: created 0700 if missing, opened without following a
 * symlink, made 0700 and given to the hypervisor's user. */
static int open_private_dir(int dfd, const char *path, const char *name, const manager_owner_t *o, char **err) {
	int r;
	if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		*err = xasprintf("cannot create share directory %s: %s", path, strerror(-r));
		return r;
	}
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP || r == -ENOTDIR)
			*err = xasprintf("share directory %s is not a directory (a symlink?): refusing it", path);
		else
			*err = xasprintf("cannot open share directory %s: %s", path, strerror(-r));
		return r == -ELOOP ? -ENOTDIR : r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)) {
		r = -errno;
		*err = xasprintf("cannot make %s private: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	if ((r = set_owner_fd(fd, path, o, err)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Temporary files a killed delivery left ("NAME.tmp.XXXXXX"): removed
 * before the next one writes, so that no stale copy of a key stays. */
static void sweep_temps(int dfd) {
	int fd = dup(dfd);
	if (fd < 0) return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".tmp.")) unlinkat(dfd, de->d_name, 0);
	closedir(d);
}

/* Writes name in dfd atomically: a temporary file beside it (O_EXCL,
 * O_NOFOLLOW, 0600, given to the hypervisor's user before it has a name
 * the guest reads), renamed over it through the same descriptor. */
static int write_at(int dfd, const char *path, const char *name, const void *data, size_t len,
                    const manager_owner_t *o, char **err) {
	char tmp[NAME_MAX + 1];
	unsigned char rnd[6];
	RAND_bytes(rnd, sizeof rnd);
	snprintf(tmp, sizeof tmp, "%s.tmp.%02x%02x%02x%02x%02x%02x", name, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int r = -errno;
		*err = xasprintf("cannot write %s: %s", path, strerror(-r));
		return r;
	}
	int r = 0;
	for (size_t off = 0; off < len && r == 0;) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0) r = -errno;
		else off += (size_t)w;
	}
	if (r < 0) *err = xasprintf("cannot write %s: %s", path, strerror(-r));
	if (r == 0) r = set_owner_fd(fd, path, o, err);
	if (close(fd) < 0 && r == 0) {
		r = -errno;
		*err = xasprintf("cannot write %s: %s", path, strerror(-r));
	}
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0) {
		r = -errno;
		*err = xasprintf("cannot write %s: %s", path, strerror(-r));
	}
	if (r < 0) unlinkat(dfd, tmp, 0);
	return r;
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
	_cleanup_close_ int root = open_root(share_dir, err);
	if (root < 0) return root;
	_cleanup_free_ char *top = manager_share_path(share_dir, id, NULL);
	_cleanup_free_ char *certs = manager_share_path(share_dir, id, "certs");
	_cleanup_free_ char *env = manager_share_path(share_dir, id, "env");
	_cleanup_close_ int topfd = open_private_dir(root, top, id, owner, err);
	if (topfd < 0) return topfd;
	_cleanup_close_ int certsfd = open_private_dir(topfd, certs, "certs", owner, err);
	if (certsfd < 0) return certsfd;
	_cleanup_close_ int envfd = open_private_dir(topfd, env, "env", owner, err);
	if (envfd < 0) return envfd;
	sweep_temps(certsfd);
	sweep_temps(envfd);
	for (size_t i = 0; i < n_files; i++) {
		bool in_certs = strcmp(files[i].dir, "certs") == 0;
		_cleanup_free_ char *path = xasprintf("%s/%s", in_certs ? certs : env, files[i].name);
		int r = write_at(in_certs ? certsfd : envfd, path, files[i].name, files[i].data, files[i].len, owner, err);
		if (r < 0) return r;
	}
	/* One flush of the share's file system makes every file and rename
	 * above durable before the domain is started or told: an fsync per
	 * file and directory cost eight flushes per CVM. */
	if (syncfs(topfd) < 0) {
		int r = -errno;
		*err = xasprintf("cannot flush %s: %s", top, strerror(-r));
		return r;
	}
	return 0;
}

/* Removes name under dfd and everything below it, through descriptors:
 * each directory opened with O_NOFOLLOW from its parent's descriptor, so
 * that a directory the hypervisor's user swaps for a symlink mid-removal
 * is unlinked as a link, never followed (we may be root). */
static int rm_at(int dfd, const char *name, int depth) {
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) return 0;
		if (errno != ENOTDIR && errno != ELOOP) return -errno;
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	}
	if (depth > 16) {
		close(fd);
		return -ELOOP;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		r = rm_at(dirfd(d), de->d_name, depth + 1);
	}
	closedir(d);
	if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) r = -errno;
	return r;
}

int manager_shares_remove(const char *share_dir, const char *id, char **err) {
	if (!uuid_valid(id)) {
		*err = xasprintf("invalid CVM id '%s'", id);
		return -EINVAL;
	}
	_cleanup_free_ char *top = manager_share_path(share_dir, id, NULL);
	_cleanup_close_ int root = open(share_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		if (errno == ENOENT) return 0;
		int r = -errno;
		*err = xasprintf("cannot remove %s: %s", top, strerror(-r));
		return r;
	}
	int r = rm_at(root, id, 0);
	if (r < 0) {
		*err = xasprintf("cannot remove %s: %s", top, strerror(-r));
		return r;
	}
	return 0;
}
