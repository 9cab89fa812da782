#include "common/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static size_t hash_str(const char *s) {
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	/* FNV-1a mixes the high bits poorly; the table uses the low ones. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h;
}

/* The slot holding key, or the empty slot where it would go. */
static strmap_slot_t *find_slot(const strmap_t *m, const char *key, size_t h) {
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		strmap_slot_t *s = &m->slots[i];
		if (!s->key || (s->hash == h && strcmp(s->key, key) == 0)) return s;
	}
}

static void rehash(strmap_t *m, size_t cap) {
	strmap_t bigger = {.slots = xcalloc(cap, sizeof *bigger.slots), .cap = cap, .n = m->n};
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key) *find_slot(&bigger, m->slots[i].key, m->slots[i].hash) = m->slots[i];
	free(m->slots);
	*m = bigger;
}

void strmap_reserve(strmap_t *m, size_t n) {
	size_t cap = m->cap ? m->cap : 16;
	while (cap / 2 < n) {
		if (cap > SIZE_MAX / 2 / sizeof *m->slots) abort();
		cap *= 2;
	}
	if (cap != m->cap) rehash(m, cap);
}

size_t *strmap_put(strmap_t *m, const char *key, bool *added) {
	strmap_reserve(m, m->n + 1);
	size_t h = hash_str(key);
	strmap_slot_t *s = find_slot(m, key, h);
	*added = !s->key;
	if (*added) {
		*s = (strmap_slot_t){.key = key, .hash = h};
		m->n++;
	}
	return &s->val;
}

bool strmap_add(strmap_t *m, const char *key, size_t val) {
	bool added;
	size_t *v = strmap_put(m, key, &added);
	if (added) *v = val;
	return added;
}

const size_t *strmap_get(const strmap_t *m, const char *key) {
	if (!key || m->n == 0) return NULL;
	const strmap_slot_t *s = find_slot(m, key, hash_str(key));
	return s->key ? &s->val : NULL;
}

void strmap_free(strmap_t *m) {
	free(m->slots);
	*m = (strmap_t){0};
}
