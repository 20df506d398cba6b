/*
 * test_buffer.c - core/buffer.c: the bounded buffer pool.
 *
 * Covers buf_get/buf_put accounting and the free-list cache, the `max`
 * bound (NULL and the exhausted counter), waiters woken one per buf_put in
 * FIFO order, bufpool_unwait (and that waiting twice does not queue twice),
 * and buf_compact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buffer.h"

/* A waiter that records the order it was woken in. */
struct tw {
	struct buf_waiter w;
	int id;
};

static int woken[16];
static int nwoken;

static void record_wake(struct buf_waiter *w)
{
	struct tw *t = container_of(w, struct tw, w);

	assert_true(nwoken < (int)ARRAY_LEN(woken));
	woken[nwoken++] = t->id;
}

static void reset_woken(void)
{
	nwoken = 0;
	memset(woken, 0, sizeof(woken));
}

static void test_get_put(void **state)
{
	struct bufpool p;
	struct buf *a, *b;

	(void)state;
	bufpool_init(&p, 4096, 4);
	assert_int_equal(p.size, 4096);
	assert_int_equal(p.used, 0);

	a = buf_get(&p);
	assert_non_null(a);
	assert_int_equal(a->off, 0);
	assert_int_equal(a->len, 0);
	assert_null(a->next);
	assert_int_equal(buf_avail(&p, a), 4096);
	assert_int_equal(buf_pending(a), 0);
	assert_int_equal(p.used, 1);

	/* The whole data area is writable (ASan catches an undersized one). */
	memset(a->data, 'x', p.size);
	a->len = p.size;
	a->off = 10;
	assert_int_equal(buf_avail(&p, a), 0);
	assert_int_equal(buf_pending(a), 4086);

	buf_put(&p, a);
	assert_int_equal(p.used, 0);
	assert_int_equal(p.nfree, 1);

	/* A cached buffer comes back reset. */
	b = buf_get(&p);
	assert_ptr_equal(b, a);
	assert_int_equal(b->off, 0);
	assert_int_equal(b->len, 0);
	assert_int_equal(p.nfree, 0);
	assert_int_equal(p.used, 1);
	buf_put(&p, b);

	buf_put(&p, NULL);	/* allowed, no effect */
	assert_int_equal(p.used, 0);
	bufpool_destroy(&p);
	assert_int_equal(p.nfree, 0);
	assert_null(p.free);
}

static void test_max_enforced(void **state)
{
	struct bufpool p;
	struct buf *b[3];

	(void)state;
	bufpool_init(&p, 4096, 3);
	for (int i = 0; i < 3; i++) {
		b[i] = buf_get(&p);
		assert_non_null(b[i]);
	}
	assert_int_equal(p.used, 3);
	assert_int_equal(p.exhausted, 0);

	assert_null(buf_get(&p));
	assert_int_equal(p.exhausted, 1);
	assert_null(buf_get(&p));
	assert_int_equal(p.exhausted, 2);
	assert_int_equal(p.used, 3);

	buf_put(&p, b[1]);
	b[1] = buf_get(&p);
	assert_non_null(b[1]);
	assert_int_equal(p.exhausted, 2);
	assert_null(buf_get(&p));
	assert_int_equal(p.exhausted, 3);

	for (int i = 0; i < 3; i++)
		buf_put(&p, b[i]);
	assert_int_equal(p.used, 0);
	bufpool_destroy(&p);
}

/* Free buffers beyond `keep` are released, not cached. */
static void test_keep_bound(void **state)
{
	struct bufpool p;
	struct buf *b[300];

	(void)state;
	bufpool_init(&p, 64, 300);
	assert_int_equal(p.keep, 256);
	for (int i = 0; i < 300; i++) {
		b[i] = buf_get(&p);
		assert_non_null(b[i]);
	}
	for (int i = 0; i < 300; i++)
		buf_put(&p, b[i]);
	assert_int_equal(p.used, 0);
	assert_int_equal(p.nfree, 256);
	bufpool_destroy(&p);

	bufpool_init(&p, 64, 2);
	assert_int_equal(p.keep, 2);
	bufpool_destroy(&p);
}

static void test_waiters_fifo(void **state)
{
	struct bufpool p;
	struct tw t[4];
	struct buf *b[2];

	(void)state;
	reset_woken();
	bufpool_init(&p, 4096, 2);
	for (int i = 0; i < 4; i++) {
		buf_waiter_init(&t[i].w, record_wake);
		t[i].id = i + 1;
	}
	b[0] = buf_get(&p);
	b[1] = buf_get(&p);
	assert_null(buf_get(&p));

	bufpool_wait(&p, &t[2].w);
	bufpool_wait(&p, &t[0].w);
	bufpool_wait(&p, &t[3].w);
	bufpool_wait(&p, &t[0].w);	/* already queued: keeps its place */
	bufpool_wait(&p, &t[1].w);

	/* One buf_put wakes exactly one waiter, the oldest. */
	buf_put(&p, b[0]);
	assert_int_equal(nwoken, 1);
	assert_int_equal(woken[0], 3);
	/* A woken waiter is off the list (self-linked). */
	assert_ptr_equal(t[2].w.next, &t[2].w);
	assert_ptr_equal(t[2].w.prev, &t[2].w);

	b[0] = buf_get(&p);
	assert_non_null(b[0]);
	buf_put(&p, b[1]);
	buf_put(&p, b[0]);
	assert_int_equal(nwoken, 3);
	assert_int_equal(woken[1], 1);
	assert_int_equal(woken[2], 4);

	b[0] = buf_get(&p);
	buf_put(&p, b[0]);
	assert_int_equal(nwoken, 4);
	assert_int_equal(woken[3], 2);

	/* Nobody left: a put wakes no one. */
	b[0] = buf_get(&p);
	buf_put(&p, b[0]);
	assert_int_equal(nwoken, 4);
	assert_ptr_equal(p.waiters.next, &p.waiters);
	assert_ptr_equal(p.waiters.prev, &p.waiters);
	bufpool_destroy(&p);
}

static void test_unwait(void **state)
{
	struct bufpool p;
	struct tw t[3];
	struct buf *b;

	(void)state;
	reset_woken();
	bufpool_init(&p, 4096, 1);
	for (int i = 0; i < 3; i++) {
		buf_waiter_init(&t[i].w, record_wake);
		t[i].id = i + 1;
	}
	b = buf_get(&p);
	bufpool_wait(&p, &t[0].w);
	bufpool_wait(&p, &t[1].w);
	bufpool_wait(&p, &t[2].w);

	/* Leaving from the middle and the head keeps the rest in order. */
	bufpool_unwait(&t[1].w);
	assert_ptr_equal(t[1].w.next, &t[1].w);
	bufpool_unwait(&t[1].w);	/* not queued: no-op */
	bufpool_unwait(&t[0].w);

	buf_put(&p, b);
	assert_int_equal(nwoken, 1);
	assert_int_equal(woken[0], 3);

	/* A waiter that left can queue again, at the tail. */
	b = buf_get(&p);
	bufpool_wait(&p, &t[1].w);
	bufpool_wait(&p, &t[0].w);
	buf_put(&p, b);
	assert_int_equal(nwoken, 2);
	assert_int_equal(woken[1], 2);
	bufpool_unwait(&t[0].w);
	assert_ptr_equal(p.waiters.next, &p.waiters);
	bufpool_destroy(&p);
}

/* The wake callback may take the released buffer at once. */
static struct bufpool *wake_pool;
static struct buf *wake_got;

static void take_on_wake(struct buf_waiter *w)
{
	(void)w;
	wake_got = buf_get(wake_pool);
}

static void test_wake_takes_buffer(void **state)
{
	struct bufpool p;
	struct buf_waiter w;
	struct buf *b;

	(void)state;
	bufpool_init(&p, 4096, 1);
	wake_pool = &p;
	wake_got = NULL;
	buf_waiter_init(&w, take_on_wake);
	b = buf_get(&p);
	bufpool_wait(&p, &w);
	buf_put(&p, b);
	assert_non_null(wake_got);
	assert_int_equal(p.used, 1);
	assert_int_equal(p.exhausted, 0);
	buf_put(&p, wake_got);
	bufpool_destroy(&p);
}

static void test_compact(void **state)
{
	struct bufpool p;
	struct buf *b;

	(void)state;
	bufpool_init(&p, 4096, 1);
	b = buf_get(&p);

	/* Nothing consumed: unchanged. */
	memcpy(b->data, "hello world", 11);
	b->len = 11;
	buf_compact(b);
	assert_int_equal(b->off, 0);
	assert_int_equal(b->len, 11);
	assert_memory_equal(b->data, "hello world", 11);

	/* Partly consumed: the rest moves to the front. */
	b->off = 6;
	buf_compact(b);
	assert_int_equal(b->off, 0);
	assert_int_equal(b->len, 5);
	assert_memory_equal(b->data, "world", 5);
	assert_int_equal(buf_avail(&p, b), 4091);

	/* All consumed: empty. */
	b->off = 5;
	buf_compact(b);
	assert_int_equal(b->off, 0);
	assert_int_equal(b->len, 0);

	/* Overlapping move of a full buffer. */
	for (size_t i = 0; i < p.size; i++)
		b->data[i] = (char)(i & 0xff);
	b->len = p.size;
	b->off = 1;
	buf_compact(b);
	assert_int_equal(b->len, p.size - 1);
	for (size_t i = 0; i < p.size - 1; i++)
		assert_int_equal((unsigned char)b->data[i], (i + 1) & 0xff);

	buf_put(&p, b);
	bufpool_destroy(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put),
		cmocka_unit_test(test_max_enforced),
		cmocka_unit_test(test_keep_bound),
		cmocka_unit_test(test_waiters_fifo),
		cmocka_unit_test(test_unwait),
		cmocka_unit_test(test_wake_takes_buffer),
		cmocka_unit_test(test_compact),
	};

	return cmocka_run_group_tests_name("buffer", tests, NULL, NULL);
}
