/* The ownership marker: format and a small tolerant parser. We wrote the
 * element ourselves and it holds only flat <tag>text</tag> children, so a
 * scanner that understands prefixes, attributes, comments and entities is
 * enough; libxml2 would be a dependency for no gain. */
#include "providers/manager/metadata.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

static void add_field(strbuf *sb, const char *indent, const char *pfx, const char *tag, const char *val) {
	if (!val) return;
	sb_addf(sb, "%s  <%s%s>", indent, pfx, tag);
	sb_add_xml_escaped(sb, val);
	sb_addf(sb, "</%s%s>\n", pfx, tag);
}

static void add_int(strbuf *sb, const char *indent, const char *pfx, const char *tag, int val) {
	sb_addf(sb, "%s  <%s%s>%d</%s%s>\n", indent, pfx, tag, val, pfx, tag);
}

void manager_meta_format(strbuf *sb, const manager_meta_t *m, bool prefixed, const char *indent) {
	const char *pfx = prefixed ? MANAGER_NS_PREFIX ":" : "";
	if (prefixed)
		sb_addf(sb, "%s<%sinstance xmlns:%s='%s'>\n", indent, pfx, MANAGER_NS_PREFIX, MANAGER_NS_URI);
	else
		sb_addf(sb, "%s<instance>\n", indent);
	add_field(sb, indent, pfx, "managed-by", m->managed_by ? m->managed_by : MANAGER_MANAGED_BY);
	add_field(sb, indent, pfx, "id", m->id);
	add_field(sb, indent, pfx, "name", m->name);
	add_field(sb, indent, pfx, "scope", m->scope);
	add_field(sb, indent, pfx, "installation", m->installation);
	add_field(sb, indent, pfx, "spec-hash", m->spec_hash);
	add_field(sb, indent, pfx, "attempt", m->attempt);
	add_field(sb, indent, pfx, "share-root", m->share_root);
	add_int(sb, indent, pfx, "port", m->port);
	add_int(sb, indent, pfx, "vcpus", m->vcpus);
	add_int(sb, indent, pfx, "memory-gib", m->memory_gib);
	if (m->insecure_no_sev) add_field(sb, indent, pfx, "insecure-no-sev", "true");
	sb_addf(sb, "%s</%sinstance>\n", indent, pfx);
}

static bool is_name_char(char c) {
	return c && !strchr(" \t\r\n/>='\"<", c);
}

/* Reads an element name at p; returns its local part (after any prefix)
 * in [*ls, *le) and the end of the whole name. */
static const char *read_name(const char *p, const char **ls, const char **le) {
	const char *s = p;
	while (is_name_char(*p)) p++;
	const char *colon = memchr(s, ':', (size_t)(p - s));
	*ls = colon ? colon + 1 : s;
	*le = p;
	return p;
}

/* Skips attributes up to and past '>'. *selfclosing tells "<x/>". NULL
 * if the tag never ends. */
static const char *skip_tag(const char *p, bool *selfclosing) {
	char quote = 0;
	*selfclosing = false;
	for (; *p; p++) {
		if (quote) {
			if (*p == quote) quote = 0;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == '>') {
			*selfclosing = p[-1] == '/';
			return p + 1;
		}
	}
	return NULL;
}

static void add_utf8(strbuf *sb, unsigned long cp) {
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	}
	sb_addn(sb, b, n);
}

static char *unescape(const char *s, size_t n) {
	static const struct {
		const char *ent, *ch;
	} named[] = {{"lt;", "<"}, {"gt;", ">"}, {"amp;", "&"}, {"apos;", "'"}, {"quot;", "\""}};
	strbuf sb = {0};
	sb_add(&sb, "");
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '&') {
			sb_addn(&sb, s + i, 1);
			continue;
		}
		const char *e = memchr(s + i, ';', n - i);
		bool done = false;
		for (size_t k = 0; e && k < ARRAY_SIZE(named) && !done; k++) {
			size_t l = strlen(named[k].ent);
			if ((size_t)(e + 1 - (s + i + 1)) == l && memcmp(s + i + 1, named[k].ent, l) == 0) {
				sb_add(&sb, named[k].ch);
				i += l;
				done = true;
			}
		}
		if (!done && e && s[i + 1] == '#') {
			bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
			char *end;
			unsigned long cp = strtoul(s + i + (hex ? 3 : 2), &end, hex ? 16 : 10);
			if (end == e && cp > 0 && cp <= 0x10ffff) {
				add_utf8(&sb, cp);
				i = (size_t)(e - s);
				done = true;
			}
		}
		if (!done) sb_addn(&sb, s + i, 1); /* not an entity we know: keep it */
	}
	return sb_take(&sb);
}

static int parse_int(const char *s, int *out) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX) return -EINVAL;
	*out = (int)v;
	return 0;
}

static bool name_is(const char *ls, const char *le, const char *want) {
	return (size_t)(le - ls) == strlen(want) && memcmp(ls, want, (size_t)(le - ls)) == 0;
}

static int set_field(manager_meta_t *m, const char *ls, const char *le, char *val) {
	static const struct {
		const char *tag;
		size_t off;
	} strs[] = {
		{"managed-by", offsetof(manager_meta_t, managed_by)},
		{"id", offsetof(manager_meta_t, id)},
		{"name", offsetof(manager_meta_t, name)},
		{"scope", offsetof(manager_meta_t, scope)},
		{"installation", offsetof(manager_meta_t, installation)},
		{"spec-hash", offsetof(manager_meta_t, spec_hash)},
		{"attempt", offsetof(manager_meta_t, attempt)},
		{"share-root", offsetof(manager_meta_t, share_root)},
	};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		if (!name_is(ls, le, strs[i].tag)) continue;
		char **slot = (char **)((char *)m + strs[i].off);
		free(*slot);
		*slot = val;
		return 0;
	}
	_cleanup_free_ char *v = val;
	if (name_is(ls, le, "port")) return parse_int(v, &m->port);
	if (name_is(ls, le, "vcpus")) return parse_int(v, &m->vcpus);
	if (name_is(ls, le, "memory-gib")) return parse_int(v, &m->memory_gib);
	if (name_is(ls, le, "insecure-no-sev")) m->insecure_no_sev = strcmp(v, "true") == 0;
	return 0; /* a field a later version added: not ours to judge */
}

/* Next markup start at or after p that is not a comment, PI or doctype. */
static const char *next_tag(const char *p) {
	for (;;) {
		p = strchr(p, '<');
		if (!p) return NULL;
		if (strncmp(p, "<!--", 4) == 0) {
			const char *e = strstr(p + 4, "-->");
			if (!e) return NULL;
			p = e + 3;
		} else if (p[1] == '?' || p[1] == '!') {
			const char *e = strchr(p, '>');
			if (!e) return NULL;
			p = e + 1;
		} else {
			return p;
		}
	}
}

int manager_meta_parse(const char *xml, manager_meta_t *out) {
	memset(out, 0, sizeof *out);
	const char *ls, *le;
	bool sc;
	const char *p = next_tag(xml);
	if (!p || p[1] == '/') return -EINVAL;
	p = read_name(p + 1, &ls, &le);
	if (!name_is(ls, le, "instance")) return -EINVAL;
	p = skip_tag(p, &sc);
	if (!p) return -EINVAL;
	if (sc) return 0;
	int r = 0;
	while ((p = next_tag(p))) {
		if (p[1] == '/') {
			read_name(p + 2, &ls, &le);
			if (name_is(ls, le, "instance")) {
				if (r < 0) manager_meta_free(out);
				return r;
			}
			p += 2;
			continue;
		}
		p = read_name(p + 1, &ls, &le);
		const char *name_s = ls, *name_e = le;
		p = skip_tag(p, &sc);
		if (!p) break;
		if (sc) continue;
		const char *text_end = next_tag(p);
		if (!text_end) break;
		if (text_end[1] != '/') continue; /* nested markup: not one of ours */
		read_name(text_end + 2, &ls, &le);
		if ((le - ls) != (name_e - name_s) || memcmp(ls, name_s, (size_t)(le - ls)) != 0) continue;
		if (set_field(out, name_s, name_e, unescape(p, (size_t)(text_end - p))) < 0) r = -EINVAL;
		p = text_end;
	}
	manager_meta_free(out);
	return -EINVAL; /* never closed */
}

void manager_meta_free(manager_meta_t *m) {
	free(m->managed_by);
	free(m->id);
	free(m->name);
	free(m->scope);
	free(m->installation);
	free(m->spec_hash);
	free(m->attempt);
	free(m->share_root);
	memset(m, 0, sizeof *m);
}

bool manager_meta_is_ours(const manager_meta_t *m) {
	return m->managed_by && strcmp(m->managed_by, MANAGER_MANAGED_BY) == 0;
}
