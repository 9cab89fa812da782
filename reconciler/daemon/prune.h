/* The prune delay: a CVM whose spec vanished is deleted only when its
 * absence persists across loads at least delay_ns apart, so that a file
 * moved, a checkout half done or an `rm` undone never deletes anything. */
#ifndef CVM_DAEMON_PRUNE_H
#define CVM_DAEMON_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct prune_entry {
	char *name;
	int64_t first_absent; /* monotonic ns of the first load without it */
	bool seen, released;  /* this pass: asked about; let go (deleted) */
} prune_entry_t;

typedef struct prune {
	int64_t delay_ns;
	int64_t due_at; /* monotonic ns when the oldest held delete is due; INT64_MAX: none */
	int64_t now;    /* the current pass's time */
	prune_entry_t *v;
	size_t n;
} prune_t;

void prune_begin(prune_t *p, int64_t now_ns);
/* pass_opts_t.hold_delete: true keeps the CVM this pass. */
bool prune_hold(void *ctx, const char *name);
/* Forgets the names that came back or were deleted; sets due_at. */
void prune_end(prune_t *p);
void prune_free(prune_t *p);

#endif
