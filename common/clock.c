#include "common/clock.h"

#include "common/timing.h"

#include <errno.h>
#include <time.h>

static int64_t real_now_ms(void *ctx) {
	(void)ctx;
	return mono_ns() / 1000000;
}

static void real_sleep_until_ms(void *ctx, int64_t deadline_ms) {
	int64_t wait = deadline_ms - real_now_ms(ctx);
	if (wait <= 0) return;
	struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

const clock_src_t clock_real = {real_now_ms, real_sleep_until_ms, NULL};

static int64_t fake_now_ms(void *ctx) {
	return ((fake_clock_t *)ctx)->now_ms;
}

static void fake_sleep_until_ms(void *ctx, int64_t deadline_ms) {
	fake_clock_t *fc = ctx;
	if (deadline_ms > fc->now_ms) fc->now_ms = deadline_ms;
}

clock_src_t fake_clock_src(fake_clock_t *fc) {
	return (clock_src_t){fake_now_ms, fake_sleep_until_ms, fc};
}
