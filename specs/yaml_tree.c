/* libyaml events -> ynode tree with positions (see yaml_tree.h). */
#include "specs/yaml_tree.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

#include "common/array.h"
#include "common/cleanup.h"
#include "common/strmap.h"
#include "common/util.h"

struct anchor {
	char *name;
	ynode_t *node;
};

struct pstate {
	yaml_parser_t parser;
	const char *file;
	const char *buf;
	size_t len;
	diags_t *d;
	yfile_t *out;
	struct anchor *anchors; /* of the current document */
	size_t n_anchors, cap_anchors;
	strmap_t anchor_index; /* name -> the latest anchor of that name */
	size_t alias_nodes; /* expansion done by aliases in the current document */
	/* yaml_tree_parse_each: each document is handed over, then freed */
	void (*each)(void *ctx, const ynode_t *root);
	void *ctx;
};

/* Frees every node allocated so far (f->all keeps its capacity). */
static void free_nodes(yfile_t *f) {
	for (size_t i = 0; i < f->n_all; i++) {
		free(f->all[i]->value);
		free(f->all[i]->tag);
		free(f->all[i]->items);
		if (f->all[i]->index) strmap_free(f->all[i]->index);
		free(f->all[i]->index);
		free(f->all[i]);
	}
	f->n_all = 0;
}

static void event_deletep(yaml_event_t *ev) { yaml_event_delete(ev); }
#define _cleanup_event_ _cleanup_(event_deletep)

static ynode_t *node_new(struct pstate *ps, enum ynode_kind kind, const yaml_mark_t *m) {
	yfile_t *f = ps->out;
	ynode_t *n = xcalloc(1, sizeof *n);
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	n->weight = 1;
	if (f->n_all == f->cap_all) {
		f->cap_all = f->cap_all ? 2 * f->cap_all : 64;
		f->all = xrealloc(f->all, f->cap_all * sizeof *f->all);
	}
	f->all[f->n_all++] = n;
	return n;
}

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

static void node_append(ynode_t *parent, ynode_t *child) {
	ARRAY_RESERVE(parent->items, parent->cap_items, parent->n_items + 1);
	parent->items[parent->n_items++] = child;
	parent->weight = sat_add(parent->weight, child->weight);
}

/* Byte offset of a libyaml mark (0-based line, column in characters). */
static size_t mark_offset(const struct pstate *ps, size_t line, size_t col) {
	size_t i = 0;
	for (size_t l = 0; l < line && i < ps->len; i++)
		if (ps->buf[i] == '\n') l++;
	for (size_t c = 0; i < ps->len && ps->buf[i] != '\n'; i++) {
		if (((unsigned char)ps->buf[i] & 0xc0) == 0x80) continue;
		if (c++ == col) break;
	}
	return i;
}

/* Is the mark inside (or just after) the leading whitespace of its line,
 * and does that whitespace hold a tab? libyaml says "found character that
 * cannot start any token" and similar; the user needs to hear "tab". */
static bool tab_in_indentation(const struct pstate *ps, const yaml_mark_t *m) {
	size_t at = mark_offset(ps, m->line, m->column);
	if (at < ps->len && ps->buf[at] == '\t') return true;
	size_t start = at;
	while (start > 0 && ps->buf[start - 1] != '\n') start--;
	for (size_t i = start; i < ps->len && i <= at; i++) {
		if (ps->buf[i] == '\t') return true;
		if (ps->buf[i] != ' ') break;
	}
	return false;
}

static void report_parser_error(struct pstate *ps) {
	yaml_parser_t *p = &ps->parser;
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_READER_ERROR) {
		int line = 1, col = 1;
		for (size_t i = 0; i < p->problem_offset && i < ps->len; i++) {
			if (ps->buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)ps->buf[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		if (strstr(problem, "UTF-8") || strstr(problem, "octet"))
			diags_add(ps->d, ps->file, line, col, "", "text is not valid UTF-8 (%s)", problem);
		else if (p->problem_value >= 0)
			diags_add(ps->d, ps->file, line, col, "", "%s (byte 0x%02x)", problem, p->problem_value);
		else
			diags_add(ps->d, ps->file, line, col, "", "%s", problem);
		return;
	}
	if (p->error == YAML_MEMORY_ERROR) {
		diags_add(ps->d, ps->file, 0, 0, "", "out of memory while parsing");
		return;
	}
	const yaml_mark_t *m = &p->problem_mark;
	if (p->error == YAML_SCANNER_ERROR && tab_in_indentation(ps, m)) {
		diags_add(ps->d, ps->file, (int)m->line + 1, (int)m->column + 1, "", "tab character in indentation");
		return;
	}
	if (p->context)
		diags_add(ps->d, ps->file, (int)m->line + 1, (int)m->column + 1, "",
		          "syntax error: %s (%s at %d:%d)", problem, p->context, (int)p->context_mark.line + 1,
		          (int)p->context_mark.column + 1);
	else
		diags_add(ps->d, ps->file, (int)m->line + 1, (int)m->column + 1, "", "syntax error: %s", problem);
}

static int next_event(struct pstate *ps, yaml_event_t *ev) {
	if (!yaml_parser_parse(&ps->parser, ev)) {
		memset(ev, 0, sizeof *ev);
		report_parser_error(ps);
		return -EINVAL;
	}
	return 0;
}

static bool tag_is(const yaml_char_t *tag, const char *core) {
	static const char prefix[] = "tag:yaml.org,2002:";
	return tag && strncmp((const char *)tag, prefix, sizeof prefix - 1) == 0 &&
	       strcmp((const char *)tag + sizeof prefix - 1, core) == 0;
}

static void set_anchor(struct pstate *ps, const yaml_char_t *name, ynode_t *n) {
	if (!name) return;
	ARRAY_RESERVE(ps->anchors, ps->cap_anchors, ps->n_anchors + 1);
	struct anchor *a = &ps->anchors[ps->n_anchors];
	*a = (struct anchor){xstrdup((const char *)name), n};
	/* A later anchor of the same name shadows the earlier one, as in YAML. */
	bool added;
	*strmap_put(&ps->anchor_index, a->name, &added) = ps->n_anchors++;
}

static ynode_t *find_anchor(struct pstate *ps, const char *name) {
	const size_t *i = strmap_get(&ps->anchor_index, name);
	return i ? ps->anchors[*i].node : NULL;
}

static void clear_anchors(struct pstate *ps) {
	for (size_t i = 0; i < ps->n_anchors; i++) free(ps->anchors[i].name);
	free(ps->anchors);
	strmap_free(&ps->anchor_index);
	ps->anchors = NULL;
	ps->n_anchors = ps->cap_anchors = 0;
	ps->alias_nodes = 0;
}

static const char *collection_tag(const yaml_char_t *tag, const char *core) {
	if (!tag || tag_is(tag, core)) return NULL;
	return (const char *)tag;
}

static bool is_merge_key(const ynode_t *k) {
	return k->kind == YN_SCALAR && !k->quoted && !k->tag && !strcmp(k->value, "<<");
}

/* The pairs a merge source adds to items[0..*n): those whose key is not
 * there yet; `seen` holds the scalar keys already present. */
static int merge_source(struct pstate *ps, const ynode_t *src, ynode_t ***items, size_t *n, size_t *cap,
                        strmap_t *seen) {
	if (src->kind != YN_MAP) {
		diags_add(ps->d, ps->file, src->line, src->col, "", "merge key '<<' takes a mapping or a list of mappings");
		return -EINVAL;
	}
	for (size_t j = 0; j + 1 < src->n_items; j += 2) {
		ynode_t *k = src->items[j];
		/* Only scalar keys can be equal; any other key is always added. */
		if (k->kind == YN_SCALAR && !strmap_add(seen, k->value, 0)) continue;
		ARRAY_RESERVE(*items, *cap, *n + 2);
		(*items)[(*n)++] = k;
		(*items)[(*n)++] = src->items[j + 1];
	}
	return 0;
}

/* YAML merge keys ("<<: *defaults", "<<: [*a, *b]"): the mapping gets the
 * merged pairs its own keys do not override; earlier sources win. */
static int apply_merges(struct pstate *ps, ynode_t *map) {
	bool any = false;
	for (size_t i = 0; i + 1 < map->n_items; i += 2) any |= is_merge_key(map->items[i]);
	if (!any) return 0;

	_cleanup_free_ ynode_t **items = NULL;
	_cleanup_(strmap_free) strmap_t seen = {0};
	size_t n = 0, cap = 0;
	ARRAY_RESERVE(items, cap, map->n_items + 1);
	for (size_t i = 0; i + 1 < map->n_items; i += 2)
		if (!is_merge_key(map->items[i])) {
			if (map->items[i]->kind == YN_SCALAR) strmap_add(&seen, map->items[i]->value, 0);
			items[n++] = map->items[i];
			items[n++] = map->items[i + 1];
		}
	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		if (!is_merge_key(map->items[i])) continue;
		ynode_t *v = map->items[i + 1];
		ynode_t *const *srcs = v->kind == YN_SEQ ? v->items : &v;
		size_t n_srcs = v->kind == YN_SEQ ? v->n_items : 1;
		for (size_t s = 0; s < n_srcs; s++) {
			int r = merge_source(ps, srcs[s], &items, &n, &cap, &seen);
			if (r < 0) return r;
		}
	}
	free(map->items);
	map->items = TAKE_PTR(items);
	map->n_items = n;
	map->cap_items = cap;
	map->weight = 1;
	for (size_t i = 0; i < n; i++) map->weight = sat_add(map->weight, map->items[i]->weight);
	return 0;
}

/* Big mappings get an index of their scalar keys (first occurrence), for
 * ymap_find: the walk looks keys up and checks each key for duplicates. */
static void index_map(ynode_t *map) {
	if (map->n_items / 2 <= YAML_MAP_INDEX_MIN) return;
	map->index = xcalloc(1, sizeof *map->index);
	strmap_reserve(map->index, map->n_items / 2);
	for (size_t i = 0; i + 1 < map->n_items; i += 2)
		if (map->items[i]->kind == YN_SCALAR) strmap_add(map->index, map->items[i]->value, i);
}

size_t ymap_find(const ynode_t *map, const char *key) {
	if (map->index) {
		const size_t *i = strmap_get(map->index, key);
		return i ? *i : SIZE_MAX;
	}
	for (size_t i = 0; i + 1 < map->n_items; i += 2)
		if (map->items[i]->kind == YN_SCALAR && !strcmp(map->items[i]->value, key)) return i;
	return SIZE_MAX;
}

/* Consumes the events of one node, starting with *ev (already read). One
 * switch over the event kinds, kept whole so that every kind's ownership of
 * the event is visible in one place (a little over our usual length). */
static int parse_node(struct pstate *ps, yaml_event_t *ev, int depth, ynode_t **out) {
	ynode_t *n;
	int r;

	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const yaml_char_t *tag = ev->data.scalar.tag;
		n = node_new(ps, YN_SCALAR, &ev->start_mark);
		n->len = ev->data.scalar.length;
		n->value = xmalloc(n->len + 1);
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = 0;
		bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.style == YAML_ANY_SCALAR_STYLE;
		if (tag_is(tag, "str") || (tag && strcmp((const char *)tag, "!") == 0)) {
			n->quoted = true;
		} else if (tag_is(tag, "null")) {
			n->is_null = true;
		} else if (tag && !tag_is(tag, "int") && !tag_is(tag, "bool")) {
			n->tag = xstrdup((const char *)tag);
		} else if (!plain) {
			n->quoted = true;
		} else {
			const char *v = n->value;
			n->is_null = !tag && (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
			                      !strcmp(v, "NULL"));
		}
		set_anchor(ps, ev->data.scalar.anchor, n);
		*out = n;
		return 0;
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		ynode_t *target = find_anchor(ps, name);
		if (!target) {
			diags_add(ps->d, ps->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "",
			          "unknown alias '*%s'", name);
			return -EINVAL;
		}
		ps->alias_nodes = sat_add(ps->alias_nodes, target->weight);
		if (ps->alias_nodes > YAML_ALIAS_EXPANSION_MAX) {
			diags_add(ps->d, ps->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "",
			          "alias expansion exceeds %d nodes", YAML_ALIAS_EXPANSION_MAX);
			return -EINVAL;
		}
		*out = target;
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool is_map = ev->type == YAML_MAPPING_START_EVENT;
		yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
		const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
		const char *tag = is_map ? collection_tag(ev->data.mapping_start.tag, "map")
		                         : collection_tag(ev->data.sequence_start.tag, "seq");
		if (depth >= YAML_DEPTH_MAX) {
			diags_add(ps->d, ps->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "",
			          "nesting deeper than %d levels", YAML_DEPTH_MAX);
			return -EINVAL;
		}
		n = node_new(ps, is_map ? YN_MAP : YN_SEQ, &ev->start_mark);
		n->tag = xstrdup(tag);
		for (;;) {
			_cleanup_event_ yaml_event_t child_ev;
			r = next_event(ps, &child_ev);
			if (r < 0) return r;
			if (child_ev.type == end) break;
			ynode_t *child;
			r = parse_node(ps, &child_ev, depth + 1, &child);
			if (r < 0) return r;
			node_append(n, child);
		}
		if (is_map) {
			r = apply_merges(ps, n);
			if (r < 0) return r;
			index_map(n);
		}
		/* Registered only once complete, so an alias cannot refer to an
		 * enclosing node: no cycles. */
		set_anchor(ps, anchor, n);
		*out = n;
		return 0;
	}
	default:
		diags_add(ps->d, ps->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "",
		          "syntax error: unexpected YAML event");
		return -EINVAL;
	}
}

static int parse_stream(struct pstate *ps) {
	int r;
	{
		_cleanup_event_ yaml_event_t ev;
		r = next_event(ps, &ev);
		if (r < 0) return r;
	}
	for (;;) {
		_cleanup_event_ yaml_event_t ev;
		r = next_event(ps, &ev);
		if (r < 0) return r;
		if (ev.type == YAML_STREAM_END_EVENT) return 0;
		if (ev.type != YAML_DOCUMENT_START_EVENT) return -EINVAL; /* libyaml guarantees otherwise */

		_cleanup_event_ yaml_event_t root_ev;
		r = next_event(ps, &root_ev);
		if (r < 0) return r;
		ynode_t *root;
		r = parse_node(ps, &root_ev, 0, &root);
		clear_anchors(ps);
		if (r < 0) return r;

		_cleanup_event_ yaml_event_t end_ev;
		r = next_event(ps, &end_ev);
		if (r < 0) return r;

		if (root->kind == YN_SCALAR && root->is_null) root = NULL; /* empty document */
		yfile_t *f = ps->out;
		if (ps->each) {
			/* Walked, then freed: memory is one document's, not the file's. */
			if (root) ps->each(ps->ctx, root);
			free_nodes(f);
			continue;
		}
		ARRAY_RESERVE(f->docs, f->cap_docs, f->n_docs + 1);
		f->docs[f->n_docs++] = (ydoc_t){root};
	}
}

/* A UTF-8 byte-order mark is valid YAML at the start of the stream and of
 * each document. Set to UTF-8, libyaml reads the first as a character
 * that cannot start a token, and counts a later one as a column, which
 * breaks the indentation of the document after it. So they go: the first
 * by moving the start, later ones (at the start of the line after a "---"
 * or "..." line) in a copy, only made when there is one. */
static void drop_boms(const char **buf, size_t *len, char **copy) {
	static const char bom[] = "\xef\xbb\xbf";
	if (*len >= 3 && !memcmp(*buf, bom, 3)) *buf += 3, *len -= 3;
	const char *b = *buf, *end = b + *len;
	char *out = NULL;
	size_t o = 0, from = 0;
	for (const char *p = b; (p = memmem(p, (size_t)(end - p), "\n" "\xef\xbb\xbf", 4)); p += 4) {
		const char *line = p;
		while (line > b && line[-1] != '\n') line--;
		if (p - line < 3 || (memcmp(line, "---", 3) && memcmp(line, "...", 3))) continue;
		if (!out) out = xmalloc(*len);
		size_t upto = (size_t)(p - b) + 1; /* keep the newline */
		memcpy(out + o, b + from, upto - from);
		o += upto - from;
		from = upto + 3;
	}
	if (!out) return;
	memcpy(out + o, b + from, *len - from);
	o += *len - from;
	*copy = out;
	*buf = out;
	*len = o;
}

static int parse(struct pstate *ps);

int yaml_tree_parse(const char *file, const char *buf, size_t len, yfile_t *out, diags_t *d) {
	struct pstate ps = {.file = file, .buf = buf, .len = len, .d = d, .out = out};
	*out = (yfile_t){0};
	return parse(&ps);
}

int yaml_tree_parse_each(const char *file, const char *buf, size_t len, void (*each)(void *ctx, const ynode_t *root),
                         void *ctx, diags_t *d) {
	yfile_t f = {0};
	struct pstate ps = {.file = file, .buf = buf, .len = len, .d = d, .out = &f, .each = each, .ctx = ctx};
	int r = parse(&ps);
	yaml_tree_free(&f);
	return r;
}

static int parse(struct pstate *ps) {
	if (!yaml_parser_initialize(&ps->parser)) {
		diags_add(ps->d, ps->file, 0, 0, "", "out of memory while parsing");
		return -ENOMEM;
	}
	/* UTF-8 only: libyaml would otherwise also accept UTF-16 with a BOM. */
	yaml_parser_set_encoding(&ps->parser, YAML_UTF8_ENCODING);
	_cleanup_free_ char *copy = NULL;
	drop_boms(&ps->buf, &ps->len, &copy);
	yaml_parser_set_input_string(&ps->parser, (const unsigned char *)ps->buf, ps->len);
	int r = parse_stream(ps);
	clear_anchors(ps);
	yaml_parser_delete(&ps->parser);
	return r < 0 ? -EINVAL : 0;
}

void yaml_tree_free(yfile_t *f) {
	free_nodes(f);
	free(f->all);
	free(f->docs);
	*f = (yfile_t){0};
}
