/* A small YAML node tree built from libyaml's event stream. Every node keeps
 * its 1-based line:column so that the typed walk can name where a value came
 * from. Aliases are not copied: an alias node points at its anchor's node, so
 * the tree is a DAG and memory stays linear; expansion is still bounded
 * because a "billion laughs" tree is expensive to walk. Internal to specs/. */
#ifndef CVM_SPECS_YAML_TREE_H
#define CVM_SPECS_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "specs/spec.h"

/* Nodes an alias may stand for, summed over one document. */
#define YAML_ALIAS_EXPANSION_MAX 10000
/* Collections nested deeper than this are refused (the walk recurses). */
#define YAML_DEPTH_MAX 64
/* Mappings with more pairs than this get a key index (ynode.index): below
 * it a scan is as fast, above it a scan per key is quadratic. */
#define YAML_MAP_INDEX_MIN 8

struct strmap;

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

typedef struct ynode {
	enum ynode_kind kind;
	int line, col;
	char *value;  /* scalar text, NUL-terminated */
	size_t len;   /* its length: a "\0" escape puts a NUL inside it, which strlen would stop at */
	bool quoted;  /* single/double quoted or block scalar, or tagged !!str: never a number/bool/null */
	bool is_null; /* plain "", "~", "null", or tagged !!null */
	char *tag;    /* explicit tag other than the core ones handled above, or NULL */
	/* seq: items[i]; map: items[2i] key, items[2i+1] value */
	struct ynode **items;
	size_t n_items, cap_items;
	size_t weight;         /* nodes in the full expansion (saturating) */
	struct strmap *index;  /* big maps: scalar key text -> item index of its first occurrence */
} ynode_t;

typedef struct ydoc {
	ynode_t *root; /* NULL for an empty document */
} ydoc_t;

typedef struct yfile {
	ydoc_t *docs;
	size_t n_docs, cap_docs;
	ynode_t **all; /* every node allocated, for freeing */
	size_t n_all, cap_all;
} yfile_t;

/* Parses buf (len bytes) from `file` into documents. Problems (syntax, tabs,
 * bad UTF-8, unknown aliases, alias bombs) go into *d with their position.
 * Documents completed before a fatal error are kept in *out, so that their
 * own mistakes can still be reported. Returns 0, or -EINVAL if any problem
 * was reported. */
int yaml_tree_parse(const char *file, const char *buf, size_t len, yfile_t *out, diags_t *d);
void yaml_tree_free(yfile_t *f);
/* The same, handing each complete document to each(ctx, root) and freeing
 * it before the next is parsed: a load's memory is one document's tree,
 * not the whole file's. Documents before a fatal error are handed over. */
int yaml_tree_parse_each(const char *file, const char *buf, size_t len, void (*each)(void *ctx, const ynode_t *root),
                         void *ctx, diags_t *d);

/* The item index of the first scalar key of map whose text is key (its
 * value is at index + 1), or SIZE_MAX if none: O(1) for big mappings. */
size_t ymap_find(const ynode_t *map, const char *key);

#endif
