#include "reconciler/tree.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/util.h"

static int cmp_provider(const void *a, const void *b) {
	return strcmp((*(const provider_spec_t *const *)a)->name, (*(const provider_spec_t *const *)b)->name);
}

static int cmp_cvm(const void *a, const void *b) {
	const cvm_spec_t *x = *(const cvm_spec_t *const *)a, *y = *(const cvm_spec_t *const *)b;
	int c = strcmp(x->name, y->name);
	return c ? c : (int)y->active - (int)x->active;
}

/* One document: its parts, each followed by a NUL byte. */
static void add_doc(strbuf *sb, const char *const *parts, size_t n) {
	for (size_t i = 0; i < n; i++) {
		sb_add(sb, parts[i] ? parts[i] : "");
		sb_addn(sb, "", 1);
	}
}

char *tree_content_hash(const spec_set_t *s) {
	strbuf sb = {0};
	sb_add(&sb, "cvmctl/tree/v1");
	sb_addn(&sb, "", 1);

	_cleanup_free_ const provider_spec_t **ps = xcalloc(s->n_providers + 1, sizeof *ps);
	for (size_t i = 0; i < s->n_providers; i++) ps[i] = &s->providers[i];
	qsort(ps, s->n_providers, sizeof *ps, cmp_provider);
	for (size_t i = 0; i < s->n_providers; i++) {
		const provider_spec_t *p = ps[i];
		_cleanup_free_ char *settings = p->settings ? json_dumps(p->settings, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		_cleanup_free_ char *limits = xasprintf("%d/%.17g", p->concurrency, p->requests_per_second);
		const char *parts[] = {"Provider", p->name, p->type, p->control_plane_url, p->control_plane_ca_file, limits,
		                       settings};
		add_doc(&sb, parts, ARRAY_SIZE(parts));
	}

	if (s->scope) {
		_cleanup_free_ char *cap = xasprintf("%ld", s->scope_max_deletions);
		const char *parts[] = {"Scope", s->scope, cap};
		add_doc(&sb, parts, ARRAY_SIZE(parts));
	}

	_cleanup_free_ const cvm_spec_t **cs = xcalloc(s->n_cvms + 1, sizeof *cs);
	for (size_t i = 0; i < s->n_cvms; i++) cs[i] = &s->cvms[i];
	qsort(cs, s->n_cvms, sizeof *cs, cmp_cvm);
	for (size_t i = 0; i < s->n_cvms; i++) {
		_cleanup_free_ char *canon = cvm_spec_canonical_json(s, cs[i]);
		/* the lifecycle fields the spec hash leaves out decide the plan too */
		const char *parts[] = {"CVM", cs[i]->name, cs[i]->active ? "active" : "inactive",
		                       cs[i]->suspend ? "suspend" : "", cs[i]->orphan ? "Orphan" : "Delete", canon};
		add_doc(&sb, parts, ARRAY_SIZE(parts));
	}

	char hex[65];
	sha256_hex(sb.buf ? sb.buf : "", sb.len, hex);
	sb_free(&sb);
	return xasprintf("sha256:%s", hex);
}

/* ---- git, read directly ---- */

/* The first line of a small file, without its newline; NULL if unreadable. */
static char *first_line(const char *path) {
	char *buf = NULL;
	size_t len = 0;
	if (read_file(path, &buf, &len) < 0) return NULL;
	if (len > 4096) {
		free(buf);
		return NULL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

static bool is_object_id(const char *s) {
	size_t n = strlen(s);
	if (n != 40 && n != 64) return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return false;
	return true;
}

/* A ref name as git allows it in a path: no "..", not absolute. */
static bool safe_ref(const char *ref) {
	return strncmp(ref, "refs/", 5) == 0 && !strstr(ref, "..") && !strchr(ref, '\\');
}

/* The git directory for the checkout at dir: dir/.git, or where a .git
 * file ("gitdir: PATH") points. NULL if none. */
static char *git_dir_at(const char *dir) {
	_cleanup_free_ char *dotgit = xasprintf("%s/.git", dir);
	struct stat st;
	if (stat(dotgit, &st) < 0) return NULL;
	if (S_ISDIR(st.st_mode)) return xstrdup(dotgit);
	if (!S_ISREG(st.st_mode)) return NULL;
	_cleanup_free_ char *line = first_line(dotgit);
	if (!line || strncmp(line, "gitdir: ", 8) != 0 || !line[8]) return NULL;
	return line[8] == '/' ? xstrdup(line + 8) : xasprintf("%s/%s", dir, line + 8);
}

/* The directory shared by a worktree's git directory ("commondir"), or
 * the git directory itself. */
static char *common_dir(const char *gitdir) {
	_cleanup_free_ char *f = xasprintf("%s/commondir", gitdir);
	_cleanup_free_ char *line = first_line(f);
	if (!line || !*line) return xstrdup(gitdir);
	return line[0] == '/' ? xstrdup(line) : xasprintf("%s/%s", gitdir, line);
}

static char *packed_ref(const char *dir, const char *ref) {
	_cleanup_free_ char *f = xasprintf("%s/packed-refs", dir);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_file(f, &buf, &len) < 0) return NULL;
	size_t rl = strlen(ref);
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next) *next++ = '\0';
		char *sp = strchr(line, ' ');
		if (!sp || line[0] == '#' || line[0] == '^') continue;
		*sp = '\0';
		if (strlen(sp + 1) == rl && strcmp(sp + 1, ref) == 0 && is_object_id(line)) return xstrdup(line);
	}
	return NULL;
}

static char *resolve_ref(const char *gitdir, const char *ref) {
	if (!safe_ref(ref)) return NULL;
	_cleanup_free_ char *common = common_dir(gitdir);
	const char *dirs[] = {gitdir, common};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", dirs[i], ref);
		_cleanup_free_ char *line = first_line(f);
		if (line && is_object_id(line)) return xstrdup(line);
	}
	return packed_ref(common, ref);
}

char *tree_revision(const char *const *paths, size_t n_paths) {
	if (n_paths == 0 || strcmp(paths[0], "-") == 0) return NULL;
	char real[PATH_MAX];
	if (!realpath(paths[0], real)) return NULL;
	struct stat st;
	if (stat(real, &st) < 0) return NULL;
	if (!S_ISDIR(st.st_mode)) {
		char *slash = strrchr(real, '/');
		if (!slash) return NULL;
		if (slash == real) slash[1] = '\0';
		else *slash = '\0';
	}
	for (;;) {
		_cleanup_free_ char *gitdir = git_dir_at(real);
		if (gitdir) {
			_cleanup_free_ char *hf = xasprintf("%s/HEAD", gitdir);
			_cleanup_free_ char *head = first_line(hf);
			if (!head) return NULL;
			if (is_object_id(head)) return xstrdup(head); /* detached */
			if (strncmp(head, "ref: ", 5) == 0) return resolve_ref(gitdir, head + 5);
			return NULL;
		}
		char *slash = strrchr(real, '/');
		if (!slash || slash == real) {
			if (strcmp(real, "/") == 0) return NULL;
			strcpy(real, "/");
			continue;
		}
		*slash = '\0';
	}
}
