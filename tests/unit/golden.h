/* Golden-file checks shared by the unit tests of generated output (domain
 * XML, request bodies): a file under tests/golden/DIR per case, found from
 * the working directory or $CVMCTL_SRCDIR; UPDATE_GOLDEN=1 rewrites them for
 * review. Header-only: each test binary links only its own object. Include
 * after <cmocka.h>. */
#ifndef CVM_TESTS_GOLDEN_H
#define CVM_TESTS_GOLDEN_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/util.h"

static inline char *golden_src_path(const char *rel) {
	const char *top = getenv("CVMCTL_SRCDIR");
	return xasprintf("%s/%s", top && *top ? top : ".", rel);
}

static inline bool golden_updating(void) {
	const char *upd = getenv("UPDATE_GOLDEN");
	return upd && strcmp(upd, "1") == 0;
}

/* got must equal DIR/FILE byte for byte (or becomes it under UPDATE_GOLDEN=1);
 * `what` names the output in the failure ("request", "domain XML"). */
static inline void golden_check(const char *dir, const char *file, const char *got, const char *what) {
	_cleanup_free_ char *rel = xasprintf("%s/%s", dir, file);
	_cleanup_free_ char *path = golden_src_path(rel);
	if (golden_updating()) {
		_cleanup_free_ char *d = golden_src_path(dir);
		mkdir(d, 0755);
		assert_int_equal(write_file_atomic(path, got, strlen(got), 0644), 0);
		return;
	}
	_cleanup_free_ char *want = NULL;
	size_t len;
	int r = read_file(path, &want, &len);
	if (r < 0) fail_msg("cannot read golden %s: %s (run from the source tree, or UPDATE_GOLDEN=1)", path, strerror(-r));
	if (strcmp(want, got) != 0) {
		fprintf(stderr, "# golden %s differs; got:\n%s", path, got);
		fail_msg("%s differs from %s (UPDATE_GOLDEN=1 regenerates it)", what, path);
	}
}

/* DIR holds exactly the n files named (each case + suffix): anything else is
 * a stale golden nobody checks. */
static inline void golden_dir_exactly(const char *dir, const char *const *cases, size_t n, const char *suffix) {
	if (getenv("UPDATE_GOLDEN")) return;
	_cleanup_free_ char *path = golden_src_path(dir);
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	size_t seen = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		bool claimed = false;
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *f = xasprintf("%s%s", cases[i], suffix);
			claimed |= strcmp(f, e->d_name) == 0;
		}
		if (!claimed) fprintf(stderr, "# unused golden file: %s/%s\n", path, e->d_name);
		assert_true(claimed);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, n);
}

#endif
