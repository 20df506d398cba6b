/*
 * buffer.h - fixed-size I/O buffers from a bounded, per-worker pool.
 */
#ifndef ND_BUFFER_H
#define ND_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct buf {
	struct buf *next;	/* free list link; NULL while in use */
	size_t off;		/* first byte not yet consumed */
	size_t len;		/* end of valid data; off <= len <= pool size */
	char data[];		/* pool->size bytes */
};

/* Someone waiting for a buffer: woken, first come first served, when one
 * is released. Embedded in the waiting connection. */
struct buf_waiter {
	struct buf_waiter *next, *prev;	/* pool's wait list; self-linked when not waiting */
	void (*wake)(struct buf_waiter *w);
};

struct bufpool {
	size_t size;		/* bytes of data per buffer */
	unsigned max;		/* buffers this pool may hand out at once */
	unsigned used;		/* buffers handed out now */
	unsigned nfree;		/* buffers on the free list */
	unsigned keep;		/* free buffers kept cached; more are freed */
	struct buf *free;	/* cached free buffers */
	struct buf_waiter waiters;	/* list head */
	unsigned long long exhausted;	/* times a get found the pool at max */
};

void bufpool_init(struct bufpool *p, size_t size, unsigned max);
void bufpool_destroy(struct bufpool *p);

/* A buffer with off = len = 0, or NULL when `max` buffers are out. */
struct buf *buf_get(struct bufpool *p) ND_MUST_CHECK;

/* Return b to p and wake one waiter. b may be NULL. */
void buf_put(struct bufpool *p, struct buf *b);

/* Move the unconsumed bytes [off, len) to the start of the buffer. */
void buf_compact(struct buf *b);

static inline size_t buf_avail(const struct bufpool *p, const struct buf *b)
{
	return p->size - b->len;
}

static inline size_t buf_pending(const struct buf *b)
{
	return b->len - b->off;
}

/* Queue w to be woken when a buffer is released (no-op if queued). */
void bufpool_wait(struct bufpool *p, struct buf_waiter *w);
/* Remove w from the wait list (no-op if not queued). */
void bufpool_unwait(struct buf_waiter *w);
void buf_waiter_init(struct buf_waiter *w, void (*wake)(struct buf_waiter *));

#endif
