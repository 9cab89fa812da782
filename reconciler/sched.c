/* The operation scheduler: see sched.h for what it promises. */
#include "reconciler/sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"

const char *sched_kind_name(sched_kind_t k) {
	switch (k) {
	case SK_LOCAL: return "record";
	case SK_REMOVE: return "remove";
	case SK_CREATE: return "create";
	case SK_START: return "start";
	case SK_UPDATE: return "update";
	}
	return "?";
}

void sched_backend_limits(sched_backend_t *b, int spec_concurrency, double spec_rps, int override) {
	b->concurrency = override > 0 ? override : spec_concurrency > 0 ? spec_concurrency : SCHED_DEFAULT_CONCURRENCY;
	b->requests_per_second = spec_rps > 0 ? spec_rps : SCHED_DEFAULT_RPS;
}

/* ---- jitter: xorshift64*, seeded per run (a fixed seed in tests) ---- */

static uint64_t rng_next(sched_t *s) {
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* The n-th wait without a hint: BASE * 2^n up to CAP, then a random
 * 50..100 % of it, so that operations submitted together do not all come
 * back in the same millisecond. */
static int64_t backoff_ms(sched_t *s, int n) {
	int64_t d = SCHED_POLL_BASE_MS;
	for (int i = 0; i < n && d < SCHED_POLL_CAP_MS; i++) d *= 2;
	if (d > SCHED_POLL_CAP_MS) d = SCHED_POLL_CAP_MS;
	return d / 2 + (int64_t)(rng_next(s) % (uint64_t)(d / 2 + 1));
}

/* ---- the token bucket of mutating requests ---- */

static double burst_of(const sched_backend_t *b) {
	/* One second's worth, and at least one request. */
	return b->requests_per_second > 1 ? b->requests_per_second : 1;
}

static void refill(sched_backend_t *b, int64_t now) {
	if (now > b->refilled_at) {
		b->tokens += (double)(now - b->refilled_at) * b->requests_per_second / 1000.0;
		if (b->tokens > burst_of(b)) b->tokens = burst_of(b);
	}
	b->refilled_at = now;
}

static bool take_token(sched_backend_t *b, int64_t now) {
	refill(b, now);
	if (b->tokens < 1.0) return false;
	b->tokens -= 1.0;
	return true;
}

static int64_t next_token_at(const sched_backend_t *b, int64_t now) {
	double missing = 1.0 - b->tokens;
	int64_t wait = missing <= 0 ? 0 : (int64_t)(missing * 1000.0 / b->requests_per_second) + 1;
	return now + wait;
}

/* ---- steps ---- */

static void step_finished(sched_task_t *t) {
	t->cur++;
	t->polls = 0;
	t->throttled = 0;
	t->next_at = 0;
	if (t->cur >= t->n_steps) t->done = true;
}

static void task_fail(sched_task_t *t, int rc, char *err) {
	t->rc = rc < 0 ? rc : -EIO;
	free(t->err);
	t->err = err ? err : xasprintf("%s failed: %s", sched_kind_name(t->steps[t->cur].kind), strerror(-t->rc));
	t->failed_step = t->cur;
	t->done = true;
}

static void op_settled(sched_backend_t *b, sched_task_t *t) {
	prov_op_free(b->ops, t->op);
	t->op = NULL;
	t->in_flight = false;
	b->in_flight--;
}

static void poll_one(sched_t *s, sched_task_t *t, int64_t now) {
	const sched_step_t *st = &t->steps[t->cur];
	sched_backend_t *b = &s->backends[st->backend];
	prov_call_t c = {0};
	int r = prov_poll(b->ops, b->conn, t->op, &c);
	b->polls++;
	if (r == 0 || r == -EAGAIN) {
		if (now - t->op_since >= SCHED_OP_TIMEOUT_MS) {
			op_settled(b, t);
			task_fail(t, -ETIMEDOUT,
			          xasprintf("the %s on provider %s did not finish within %d minutes; the next pass looks again",
			                    sched_kind_name(st->kind), b->name, SCHED_OP_TIMEOUT_MS / 60000));
		} else {
			t->next_at = now + (c.again_ms > 0 ? c.again_ms : backoff_ms(s, t->polls++));
		}
		prov_call_clear(&c);
		return;
	}
	op_settled(b, t);
	if (r < 0) {
		task_fail(t, r, TAKE_PTR(c.err));
	} else {
		s->hooks.done(s->hooks.ctx, t, st, &c);
		step_finished(t);
	}
	prov_call_clear(&c);
}

/* Submits step st of t on backend b, which has a slot and a token. */
static void submit_one(sched_t *s, sched_task_t *t, sched_backend_t *b, int64_t now) {
	const sched_step_t *st = &t->steps[t->cur];
	prov_call_t c = {0};
	int r = s->hooks.submit(s->hooks.ctx, t, st, &c);
	b->submits++;
	if (r == -EAGAIN) {
		/* Throttled: not a failure. An operation handed back anyway is not
		 * ours to poll. */
		prov_op_free(b->ops, TAKE_PTR(c.op));
		b->throttled++;
		if (++t->throttled > SCHED_MAX_THROTTLED)
			task_fail(t, -EBUSY,
			          xasprintf("provider %s kept throttling the %s (%d times in a row); the next pass retries",
			                    b->name, sched_kind_name(st->kind), SCHED_MAX_THROTTLED));
		else
			t->next_at = now + (c.again_ms > 0 ? c.again_ms : backoff_ms(s, t->throttled));
	} else if (r < 0) {
		prov_op_free(b->ops, TAKE_PTR(c.op));
		task_fail(t, r, TAKE_PTR(c.err));
	} else if (c.op) {
		t->op = TAKE_PTR(c.op);
		t->in_flight = true;
		t->op_since = now;
		t->polls = 0;
		t->next_at = now + (c.again_ms > 0 ? c.again_ms : backoff_ms(s, t->polls++));
		if (++b->in_flight > b->peak_in_flight) b->peak_in_flight = b->in_flight;
	} else {
		s->hooks.done(s->hooks.ctx, t, st, &c);
		step_finished(t);
	}
	prov_call_clear(&c);
}

/* Takes t as far as it goes now. Returns whether anything happened. */
static bool advance(sched_t *s, sched_task_t *t, int64_t now) {
	bool moved = false;
	while (!t->done && !t->in_flight && t->next_at <= now) {
		const sched_step_t *st = &t->steps[t->cur];
		if (st->kind == SK_LOCAL) {
			char *err = NULL;
			int r = s->hooks.local(s->hooks.ctx, t, st, &err);
			if (r < 0)
				task_fail(t, r, err);
			else
				step_finished(t);
			moved = true;
			continue;
		}
		sched_backend_t *b = &s->backends[st->backend];
		if (b->in_flight >= b->concurrency || !take_token(b, now)) break;
		submit_one(s, t, b, now);
		moved = true;
	}
	return moved;
}

/* The earliest moment something can happen, or INT64_MAX. */
static int64_t next_deadline(sched_t *s, int64_t now) {
	int64_t d = INT64_MAX;
	for (size_t i = 0; i < s->n_tasks; i++) {
		sched_task_t *t = s->tasks[i];
		if (t->done) continue;
		int64_t at;
		if (t->in_flight || t->next_at > now) {
			at = t->next_at;
		} else {
			sched_backend_t *b = &s->backends[t->steps[t->cur].backend];
			/* Waiting for a slot: an operation in flight frees it, and
			 * its poll is a deadline of its own. */
			if (b->in_flight >= b->concurrency) continue;
			at = next_token_at(b, now);
		}
		if (at < d) d = at;
	}
	return d;
}

void sched_run(sched_t *s) {
	const clock_src_t *clk = s->clock ? s->clock : &clock_real;
	int64_t now = clock_now_ms(clk);
	s->started_ms = now;
	s->rng = s->seed ? s->seed : (uint64_t)now * 0x9E3779B97F4A7C15ULL + 1;
	for (size_t i = 0; i < s->n_backends; i++) {
		sched_backend_t *b = &s->backends[i];
		if (b->concurrency <= 0) b->concurrency = SCHED_DEFAULT_CONCURRENCY;
		if (b->requests_per_second <= 0) b->requests_per_second = SCHED_DEFAULT_RPS;
		b->tokens = burst_of(b);
		b->refilled_at = now;
		b->in_flight = 0;
	}
	for (size_t i = 0; i < s->n_tasks; i++)
		if (s->tasks[i]->cur >= s->tasks[i]->n_steps) s->tasks[i]->done = true;

	for (;;) {
		now = clock_now_ms(clk);
		for (size_t i = 0; i < s->n_tasks; i++) {
			sched_task_t *t = s->tasks[i];
			if (t->in_flight && t->next_at <= now) poll_one(s, t, now);
		}
		bool all_done = true;
		for (size_t i = 0; i < s->n_tasks; i++) {
			advance(s, s->tasks[i], now);
			all_done &= s->tasks[i]->done;
		}
		if (all_done) break;
		int64_t d = next_deadline(s, now);
		if (d == INT64_MAX) {
			/* Cannot happen (a waiting task always has a deadline or an
			 * operation ahead of it); failing beats hanging. */
			for (size_t i = 0; i < s->n_tasks; i++)
				if (!s->tasks[i]->done)
					task_fail(s->tasks[i], -EDEADLK, xstrdup("the scheduler found nothing to wait for"));
			break;
		}
		if (d <= now) d = now + 1; /* never spin */
		s->sleeps++;
		clock_sleep_until_ms(clk, d);
	}
	s->elapsed_ms = clock_now_ms(clk) - s->started_ms;
}
