/* What a saved plan says about the spec tree it was made from: a hash of
 * its content (what decides the plan) and, when the tree lives in a git
 * checkout, the commit it is at (for people: where the plan came from). */
#ifndef CVM_TREE_H
#define CVM_TREE_H

#include <stddef.h>

#include "specs/spec.h"

/* "sha256:" and the hex SHA-256 over every loaded document in a stable
 * order (Providers by name, then CVMs by name): each one's kind, name and
 * canonical content. The same documents give the same hash whichever
 * files hold them and in whatever order. Caller frees. */
char *tree_content_hash(const spec_set_t *s);

/* The commit HEAD names in the git repository around paths[0] (its .git
 * directory, or the .git file of a worktree), read from HEAD, the ref
 * files and packed-refs without running git; NULL when it is not in one,
 * is standard input, or HEAD names no commit yet. Caller frees. */
char *tree_revision(const char *const *paths, size_t n_paths);

#endif
