#include "reconciler/daemon/prune.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

void prune_begin(prune_t *p, int64_t now_ns) {
	p->now = now_ns;
	for (size_t i = 0; i < p->n; i++) p->v[i].seen = p->v[i].released = false;
}

bool prune_hold(void *ctx, const char *name) {
	prune_t *p = ctx;
	prune_entry_t *e = NULL;
	for (size_t i = 0; i < p->n && !e; i++)
		if (strcmp(p->v[i].name, name) == 0) e = &p->v[i];
	if (!e) {
		p->v = xrealloc(p->v, (p->n + 1) * sizeof *p->v);
		e = &p->v[p->n++];
		*e = (prune_entry_t){.name = xstrdup(name), .first_absent = p->now};
	}
	e->seen = true;
	int64_t absent = p->now - e->first_absent;
	if (absent >= p->delay_ns) {
		e->released = true;
		return false;
	}
	log_info("keeping %s: its spec has been absent %.1fs of the %.0fs prune delay", name, (double)absent / 1e9,
	         (double)p->delay_ns / 1e9);
	return true;
}

void prune_end(prune_t *p) {
	size_t k = 0;
	p->due_at = INT64_MAX;
	for (size_t i = 0; i < p->n; i++) {
		if (!p->v[i].seen || p->v[i].released) {
			free(p->v[i].name);
			continue;
		}
		int64_t due = p->v[i].first_absent + p->delay_ns;
		if (due < p->due_at) p->due_at = due;
		p->v[k++] = p->v[i];
	}
	p->n = k;
}

void prune_free(prune_t *p) {
	for (size_t i = 0; i < p->n; i++) free(p->v[i].name);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}
