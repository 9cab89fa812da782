/* spec_load: which files, in which order, and the all-or-nothing result. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/array.h"
#include "common/cleanup.h"
#include "common/strmap.h"
#include "common/util.h"
#include "specs/load_internal.h"

#define STDIN_NAME "<stdin>"
#define DIR_DEPTH_MAX 32
/* No spec is near this; a file that is (a log, an image, a runaway
 * generator) would only cost memory and parse time. */
#define SPEC_BYTES_DEFAULT ((size_t)16 << 20)
#define SPEC_BYTES_ENV "CVMCTL_MAX_SPEC_BYTES"
/* Reads of a file that keeps changing before the load gives up on it. */
#define SPEC_READ_TRIES 3

/* Files and directories are told apart by (device, inode), not by path:
 * "-f spec -f ./spec", a symlink to the same tree, or a symlink loop
 * (a link to ".") reach each file once, and the walk ends. */
struct filelist {
	char **v, **ids; /* the files, by their first path; their "dev:ino" ("-" for stdin) */
	size_t n, cap, cap_ids;
	strmap_t seen; /* ids -> index in v (keys borrowed from ids) */
	char **dirs, **dir_ids; /* the directories walked */
	size_t n_dirs, cap_dirs, cap_dir_ids;
	strmap_t dirs_seen;
	strbuf skipped; /* what was reached again, for one info line */
	size_t n_skipped;
};

#define SKIPPED_LISTED 5

static char *file_id(const struct stat *st) {
	return xasprintf("%ju:%ju", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino);
}

static void note_skipped(struct filelist *fl, const char *path, const char *first) {
	if (++fl->n_skipped > SKIPPED_LISTED) return;
	sb_addf(&fl->skipped, "%s%s (the same as %s)", fl->n_skipped > 1 ? ", " : "", path, first);
}

/* Takes path; st is NULL for stdin. */
static void filelist_add(struct filelist *fl, char *path, const struct stat *st) {
	char *id = st ? file_id(st) : xstrdup("-");
	const size_t *i = strmap_get(&fl->seen, id);
	if (i) {
		note_skipped(fl, path, fl->v[*i]);
		free(path);
		free(id);
		return;
	}
	ARRAY_RESERVE(fl->v, fl->cap, fl->n + 1);
	ARRAY_RESERVE(fl->ids, fl->cap_ids, fl->n + 1);
	fl->v[fl->n] = path;
	fl->ids[fl->n] = id;
	strmap_add(&fl->seen, id, fl->n++);
}

/* Whether dir is new (then it is recorded): a directory walked before is
 * not walked again. */
static bool filelist_enter_dir(struct filelist *fl, const char *dir, const struct stat *st) {
	_cleanup_free_ char *id = file_id(st);
	const size_t *i = strmap_get(&fl->dirs_seen, id);
	if (i) {
		note_skipped(fl, dir, fl->dirs[*i]);
		return false;
	}
	ARRAY_RESERVE(fl->dirs, fl->cap_dirs, fl->n_dirs + 1);
	ARRAY_RESERVE(fl->dir_ids, fl->cap_dir_ids, fl->n_dirs + 1);
	fl->dirs[fl->n_dirs] = xstrdup(dir);
	fl->dir_ids[fl->n_dirs] = TAKE_PTR(id);
	strmap_add(&fl->dirs_seen, fl->dir_ids[fl->n_dirs], fl->n_dirs);
	fl->n_dirs++;
	return true;
}

/* "loaded once: skipped A (the same as B), ...", or NULL. */
static char *filelist_skipped(struct filelist *fl) {
	if (!fl->n_skipped) return NULL;
	if (fl->n_skipped > SKIPPED_LISTED) sb_addf(&fl->skipped, " and %zu more", fl->n_skipped - SKIPPED_LISTED);
	_cleanup_free_ char *list = sb_take(&fl->skipped);
	return xasprintf("loaded once: skipped %s", list);
}

static void filelist_free(struct filelist *fl) {
	for (size_t i = 0; i < fl->n; i++) {
		free(fl->v[i]);
		free(fl->ids[i]);
	}
	free(fl->v);
	free(fl->ids);
	strmap_free(&fl->seen);
	for (size_t i = 0; i < fl->n_dirs; i++) {
		free(fl->dirs[i]);
		free(fl->dir_ids[i]);
	}
	free(fl->dirs);
	free(fl->dir_ids);
	strmap_free(&fl->dirs_seen);
	sb_free(&fl->skipped);
	*fl = (struct filelist){0};
}

/* A spec file found by a walk, before the tree's files are sorted. */
struct found {
	char *path;
	struct stat st;
};

struct foundlist {
	struct found *v;
	size_t n, cap;
};

static int cmp_found(const void *a, const void *b) {
	return strcmp(((const struct found *)a)->path, ((const struct found *)b)->path);
}

static bool has_yaml_suffix(const char *name) {
	size_t n = strlen(name);
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* What a path is when it is not a regular file or a directory, for the
 * message: a FIFO would block the read, a device never ends. */
static const char *file_kind(mode_t m) {
	if (S_ISFIFO(m)) return "a FIFO";
	if (S_ISSOCK(m)) return "a socket";
	if (S_ISCHR(m)) return "a character device";
	if (S_ISBLK(m)) return "a block device";
	return "not a regular file";
}

static void closedirp(DIR **d) {
	if (*d) closedir(*d);
}

static void free_names(char ***v) {
	/* NULL-terminated */
	if (!*v) return;
	for (char **p = *v; *p; p++) free(*p);
	free(*v);
}

/* The entries of a directory, sorted, hidden ones left out: the walk's
 * order, so that of two paths to one directory the first by name is the
 * one walked. NULL-terminated; NULL if it cannot be read (errno). */
static char **dir_names(const char *dir) {
	_cleanup_(closedirp) DIR *dh = opendir(dir);
	if (!dh) return NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	ARRAY_RESERVE(v, cap, 1);
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.') continue;
		ARRAY_RESERVE(v, cap, n + 2);
		v[n++] = xstrdup(de->d_name);
	}
	qsort(v, n, sizeof *v, cmp_str);
	v[n] = NULL;
	return v;
}

/* Directories are searched for *.yaml / *.yml; hidden entries (".git",
 * ".github", editor files) are skipped. dir has been entered already. */
static void collect_dir(const char *dir, int depth, struct filelist *fl, struct foundlist *out, diags_t *d) {
	if (depth > DIR_DEPTH_MAX) {
		diags_add(d, dir, 0, 0, "", "directories nested deeper than %d levels", DIR_DEPTH_MAX);
		return;
	}
	_cleanup_(free_names) char **names = dir_names(dir);
	if (!names) {
		diags_add(d, dir, 0, 0, "", "cannot read directory: %s", strerror(errno));
		return;
	}
	for (char **name = names; *name; name++) {
		size_t dl = strlen(dir);
		_cleanup_free_ char *path = xasprintf("%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", *name);
		struct stat st;
		if (stat(path, &st) < 0) {
			/* A dangling symlink that looks like a spec is worth a word. */
			if (has_yaml_suffix(*name)) diags_add(d, path, 0, 0, "", "cannot read: %s", strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (filelist_enter_dir(fl, path, &st)) collect_dir(path, depth + 1, fl, out, d);
		} else if (S_ISREG(st.st_mode) && has_yaml_suffix(*name)) {
			ARRAY_RESERVE(out->v, out->cap, out->n + 1);
			out->v[out->n++] = (struct found){TAKE_PTR(path), st};
		} else if (has_yaml_suffix(*name)) {
			/* Skipping it would drop its CVMs from the tree, and deleting
			 * them is the opposite of failing closed. */
			diags_add(d, path, 0, 0, "", "%s, not a regular file: only regular files are specs",
			          file_kind(st.st_mode));
		}
	}
}

static void collect(const char *path, struct filelist *fl, diags_t *d) {
	if (!strcmp(path, "-")) {
		filelist_add(fl, xstrdup("-"), NULL);
		return;
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		diags_add(d, path, 0, 0, "", "cannot read: %s", strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		diags_add(d, path, 0, 0, "", "%s, not a regular file or a directory", file_kind(st.st_mode));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		filelist_add(fl, xstrdup(path), &st); /* named explicitly: taken whatever its name */
		return;
	}
	if (!filelist_enter_dir(fl, path, &st)) return;
	struct foundlist sub = {0};
	collect_dir(path, 0, fl, &sub, d);
	if (sub.n) qsort(sub.v, sub.n, sizeof *sub.v, cmp_found); /* NULL for an empty tree */
	/* The paths move to fl. */
	for (size_t i = 0; i < sub.n; i++) filelist_add(fl, sub.v[i].path, &sub.v[i].st);
	free(sub.v);
}

/* The size cap: CVMCTL_MAX_SPEC_BYTES, else 16 MiB; 0 if the variable is
 * not a positive whole number (reported once by spec_load). */
static size_t spec_max_bytes(void) {
	const char *v = getenv(SPEC_BYTES_ENV);
	if (!v || !*v) return SPEC_BYTES_DEFAULT;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end || n == 0 || *v == '-' || n >= SIZE_MAX) return 0;
	return (size_t)n;
}

/* Reading stops one byte past the cap: enough to know it is exceeded. */
static int read_stdin(char **out, size_t *len, size_t cap) {
	strbuf sb = {0};
	char buf[8192];
	size_t n;
	while (sb.len <= cap && (n = fread(buf, 1, sizeof buf, stdin)) > 0) sb_addn(&sb, buf, n);
	if (ferror(stdin)) {
		sb_free(&sb);
		return -EIO;
	}
	if (sb.len > cap) {
		sb_free(&sb);
		return -EFBIG;
	}
	*len = sb.len;
	*out = sb_take(&sb);
	return 0;
}

#ifdef CVM_TEST_HOOKS
extern char **environ;
/* CVMCTL_TEST_AFTER_SPEC_READ=CMD (test builds only): `sh -c CMD sh PATH`
 * runs after each read of a spec file and before the check that it did not
 * change, so that a test can rewrite the file at the worst moment. */
static void test_after_read(const char *path) {
	const char *cmd = getenv("CVMCTL_TEST_AFTER_SPEC_READ");
	if (!cmd || !*cmd) return;
	char *argv[] = {"sh", "-c", (char *)cmd, "sh", (char *)path, NULL};
	pid_t pid;
	int st = 0;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0) waitpid(pid, &st, 0);
}
#else
static void test_after_read(const char *path) { (void)path; }
#endif

/* The same file with the same content, as far as the inode tells: a
 * rewrite changes the size, mtime or ctime (ctime cannot be set back), a
 * rename over the path changes the inode. */
static bool same_file(const struct stat *a, const struct stat *b) {
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Reads a spec through one descriptor. O_NONBLOCK: if the path became a
 * FIFO since it was listed, the open does not wait for a writer, and fstat
 * says what it is before anything is read: then *kind names it. *stable
 * says whether the file was the same before and after the read (fstat of
 * the descriptor) and the path still names it (stat). */
static int read_spec_once(const char *path, char **out, size_t *len, const char **kind, size_t cap, bool *stable) {
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) return -errno;
	if (!S_ISREG(st.st_mode)) {
		*kind = file_kind(st.st_mode);
		return -EINVAL;
	}
	if ((uintmax_t)st.st_size > cap) return -EFBIG;
	strbuf sb = {0};
	char buf[8192];
	while (sb.len <= cap) { /* it may have grown since fstat */
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			int r = -errno;
			sb_free(&sb);
			return r;
		}
		if (n == 0) break;
		sb_addn(&sb, buf, (size_t)n);
	}
	if (sb.len > cap) {
		sb_free(&sb);
		return -EFBIG;
	}
	test_after_read(path);
	struct stat after, named;
	*stable = fstat(fd, &after) == 0 && stat(path, &named) == 0 && same_file(&st, &after) &&
	          same_file(&st, &named) && (uintmax_t)after.st_size == sb.len;
	*len = sb.len;
	*out = sb_take(&sb);
	return 0;
}

/* A file that changed while it was read (an editor or a checkout writing
 * it) is read again: what was read may be half of it, and the missing half
 * would be planned as deletions. -EAGAIN if it never held still. */
static int read_spec(const char *path, char **out, size_t *len, const char **kind, size_t cap) {
	for (int i = 0; i < SPEC_READ_TRIES; i++) {
		bool stable = false;
		int r = read_spec_once(path, out, len, kind, cap, &stable);
		if (r < 0 || stable) return r;
		free(*out);
		*out = NULL;
	}
	return -EAGAIN;
}

struct walk_ctx {
	struct load *l;
	const char *file;
};

static void walk_one(void *ctx, const ynode_t *root) {
	struct walk_ctx *c = ctx;
	walk_document(c->l, c->file, root);
}

static void load_text(struct load *l, const char *file, const char *buf, size_t len) {
	struct walk_ctx c = {l, file};
	/* Documents before a syntax error still get their own checks. */
	if (yaml_tree_parse_each(file, buf, len, walk_one, &c, l->d) < 0) l->incomplete = true;
}

static void load_file(struct load *l, const char *path) {
	spec_set_t *s = l->set;
	const char *name = strcmp(path, "-") ? path : STDIN_NAME;
	ARRAY_RESERVE(s->files, l->cap_files, s->n_files + 1);
	s->files[s->n_files] = xstrdup(name);
	const char *file = s->files[s->n_files++];

	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	const char *kind = NULL;
	int r = strcmp(path, "-") ? read_spec(path, &buf, &len, &kind, l->max_bytes)
	                          : read_stdin(&buf, &len, l->max_bytes);
	if (kind) {
		diags_add(l->d, file, 0, 0, "", "%s, not a regular file", kind);
		l->incomplete = true;
		return;
	}
	if (r == -EAGAIN) {
		diags_add(l->d, file, 0, 0, "", "changed while it was being read, %d times: not loaded (a tree that will not "
		          "hold still is not planned against; retry when it is written)", SPEC_READ_TRIES);
		l->incomplete = true;
		return;
	}
	if (r == -EFBIG) {
		diags_add(l->d, file, 0, 0, "", "larger than the limit of %zu bytes for a spec file (%s)", l->max_bytes,
		          SPEC_BYTES_ENV);
		l->incomplete = true;
		return;
	}
	if (r < 0) {
		diags_add(l->d, file, 0, 0, "", "cannot read: %s", strerror(-r));
		l->incomplete = true;
		return;
	}

	load_text(l, file, buf, len);
}

/* The checks across documents, then the result: all or nothing. */
static int finish_load(struct load *l, spec_set_t *set, spec_set_t *out, size_t before) {
	diags_t *d = l->d;
	validate_set(l);
	free(l->px);
	free(l->cx);

	if (d->n > before) {
		spec_set_free(set);
		return -EINVAL;
	}
	spec_set_hash_all(set);
	*out = *set;
	return 0;
}

int spec_load_buffer(const char *name, const char *buf, size_t len, const spec_schemas_t *schemas, spec_set_t *out,
                     diags_t *d) {
	*out = (spec_set_t){0};
	size_t before = d->n;
	spec_set_t set = {0};
	struct load l = {.schemas = schemas, .d = d, .set = &set};
	set.files = xcalloc(1, sizeof *set.files);
	set.files[set.n_files++] = xstrdup(name);
	load_text(&l, set.files[0], buf, len);
	return finish_load(&l, &set, out, before);
}

int spec_load(const char *const *paths, size_t n_paths, const spec_schemas_t *schemas, spec_set_t *out, diags_t *d) {
	*out = (spec_set_t){0};
	size_t before = d->n;

	struct filelist fl = {0};
	for (size_t i = 0; i < n_paths; i++) collect(paths[i], &fl, d);

	spec_set_t set = {0};
	struct load l = {.schemas = schemas, .d = d, .set = &set, .incomplete = d->n > before};
	l.max_bytes = spec_max_bytes();
	if (!l.max_bytes) {
		diags_add(d, SPEC_BYTES_ENV, 0, 0, "", "'%s' is not a positive whole number of bytes", getenv(SPEC_BYTES_ENV));
		filelist_free(&fl);
		return finish_load(&l, &set, out, before);
	}
	for (size_t i = 0; i < fl.n; i++) load_file(&l, fl.v[i]);
	_cleanup_free_ char *skipped = filelist_skipped(&fl);
	filelist_free(&fl);
	int r = finish_load(&l, &set, out, before);
	if (r == 0) out->skipped = TAKE_PTR(skipped);
	return r;
}

void spec_set_free(spec_set_t *s) {
	if (!s) return;
	free(s->scope);
	s->scope = NULL;
	for (size_t i = 0; i < s->n_providers; i++) provider_spec_clear(&s->providers[i]);
	free(s->providers);
	for (size_t i = 0; i < s->n_cvms; i++) cvm_spec_clear(&s->cvms[i]);
	free(s->cvms);
	for (size_t i = 0; i < s->n_files; i++) free(s->files[i]);
	free(s->files);
	free(s->skipped);
	*s = (spec_set_t){0};
}
