/* Where a pass's time goes: a monotonic clock in nanoseconds and laps
 * between phases. CVMCTL_TIMINGS=1 makes `cvmctl reconcile` print one line
 * per pass on stderr ("timings: load=12.3ms store=..."), for benchmarks and
 * for operators asking why a pass is slow; nothing else reads it. */
#ifndef CVM_TIMING_H
#define CVM_TIMING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline int64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Adds the time since *t to *phase and restarts *t: one line between two
 * phases. */
static inline void timing_lap(int64_t *t, int64_t *phase) {
	int64_t now = mono_ns();
	*phase += now - *t;
	*t = now;
}

static inline double ns_to_ms(int64_t ns) { return (double)ns / 1e6; }

/* CVMCTL_TIMINGS set to anything but "" or "0". */
static inline bool timings_enabled(void) {
	const char *v = getenv("CVMCTL_TIMINGS");
	return v && *v && strcmp(v, "0") != 0;
}

#endif
