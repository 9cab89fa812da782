/* The exit-code contract shared by every command (see the README and cvmctl(1)).
 * When several apply, the first of INVALID, FAILED, REFUSED, CHANGES wins:
 * exit_merge() encodes that order. */
#ifndef CVM_EXITCODE_H
#define CVM_EXITCODE_H

enum {
	EXIT_OK = 0,       /* success, or nothing to do */
	EXIT_FAILED = 1,   /* an operation failed; state recorded, rerun converges */
	EXIT_CHANGES = 2,  /* plan --detailed-exitcode found changes */
	EXIT_INVALID = 3,  /* invalid input or usage; nothing was changed */
	EXIT_REFUSED = 4,  /* refused by a safety rule */
};

static inline int exit_rank(int c) {
	switch (c) {
	case EXIT_INVALID: return 4;
	case EXIT_FAILED: return 3;
	case EXIT_REFUSED: return 2;
	case EXIT_CHANGES: return 1;
	default: return 0;
	}
}

static inline int exit_merge(int a, int b) { return exit_rank(a) >= exit_rank(b) ? a : b; }

#endif
