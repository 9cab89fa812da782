/* Time as the engine sees it: a monotonic clock and a way to wait, behind
 * a small table so that the scheduler and the fake backend can run in fake
 * time in unit tests (a test of "N creates with latency L finish within
 * 2L" must not take L of real time, nor flake under load). */
#ifndef CVM_COMMON_CLOCK_H
#define CVM_COMMON_CLOCK_H

#include <stdint.h>

typedef struct clock_src {
	/* Milliseconds on a monotonic clock (CLOCK_MONOTONIC for the real one). */
	int64_t (*now_ms)(void *ctx);
	/* Returns once now_ms() >= deadline_ms, or earlier when woken (a real
	 * clock may return early; callers loop). A fake clock advances itself
	 * to the deadline. */
	void (*sleep_until_ms)(void *ctx, int64_t deadline_ms);
	void *ctx;
} clock_src_t;

/* The real clock. */
extern const clock_src_t clock_real;

static inline int64_t clock_now_ms(const clock_src_t *c) {
	return c->now_ms(c->ctx);
}

static inline void clock_sleep_until_ms(const clock_src_t *c, int64_t deadline_ms) {
	c->sleep_until_ms(c->ctx, deadline_ms);
}

/* A fake clock for tests: time moves only when somebody sleeps. */
typedef struct fake_clock {
	int64_t now_ms;
} fake_clock_t;

clock_src_t fake_clock_src(fake_clock_t *fc);

#endif
