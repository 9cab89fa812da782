/* Diagnostics: collected during a whole load, printed together, sorted by
 * file and position so that the output reads like the files. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "specs/spec.h"

void diags_add(diags_t *d, const char *file, int line, int col, const char *field, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0) {
		fputs("cvmctl: out of memory\n", stderr);
		abort();
	}
	va_end(ap);
	ARRAY_RESERVE(d->v, d->cap, d->n + 1);
	d->v[d->n++] = (diag_t){
		.file = xstrdup(file ? file : ""),
		.line = line,
		.col = col,
		.field = xstrdup(field ? field : ""),
		.msg = msg,
	};
}

static int diag_cmp(const void *a, const void *b) {
	const diag_t *x = *(const diag_t *const *)a, *y = *(const diag_t *const *)b;
	int c = strcmp(x->file, y->file);
	if (c) return c;
	if (x->line != y->line) return x->line < y->line ? -1 : 1;
	if (x->col != y->col) return x->col < y->col ? -1 : 1;
	/* Same place: keep the order they were found in (qsort is not stable). */
	return x < y ? -1 : x > y;
}

char *diags_format(const diags_t *d) {
	_cleanup_free_ const diag_t **order = xcalloc(d->n ? d->n : 1, sizeof *order);
	for (size_t i = 0; i < d->n; i++) order[i] = &d->v[i];
	qsort(order, d->n, sizeof *order, diag_cmp);

	strbuf sb = {0};
	sb_add(&sb, "");
	for (size_t i = 0; i < d->n; i++) {
		const diag_t *g = order[i];
		/* A file name or value with an escape sequence in it must not
		 * drive the terminal that shows the message. */
		sb_add_escaped(&sb, g->file, strlen(g->file));
		if (g->line > 0) sb_addf(&sb, ":%d:%d", g->line, g->col);
		sb_add(&sb, ": ");
		if (g->field && *g->field) {
			sb_add_escaped(&sb, g->field, strlen(g->field));
			sb_add(&sb, ": ");
		}
		sb_add_escaped(&sb, g->msg, strlen(g->msg));
		sb_add(&sb, "\n");
	}
	return sb_take(&sb);
}

/* Under --log-format json, one object per diagnostic, in the same order:
 * {"time", "level": "error", "file", "line", "column", "field", "msg"}. */
void diags_print(const diags_t *d) {
	if (log_get_format() != LOG_JSON) {
		_cleanup_free_ char *text = diags_format(d);
		fputs(text, stderr);
		return;
	}
	_cleanup_free_ const diag_t **order = xcalloc(d->n ? d->n : 1, sizeof *order);
	for (size_t i = 0; i < d->n; i++) order[i] = &d->v[i];
	qsort(order, d->n, sizeof *order, diag_cmp);
	for (size_t i = 0; i < d->n; i++)
		log_diag(LOG_ERROR, order[i]->file, order[i]->line, order[i]->col, order[i]->field, order[i]->msg);
}

void diags_free(diags_t *d) {
	if (!d) return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].field);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}
