/*
 * buffer.h - I/O memory from a bounded, per-worker pool: fixed-size
 * buffers (struct buf), and growable ones for whole messages of variable
 * size (struct gbuf) whose memory is counted in the same budget.
 */
#ifndef ND_BUFFER_H
#define ND_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

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

/*
 * A growable buffer. With a pool, its memory is counted there in whole
 * buffers (`used`), so `buffers` bounds it as it bounds fixed buffers: an
 * input waits when the pool is spent (GBUF_NOMEM: stop reading, wait with
 * bufpool_wait), while output, already accepted, is always taken (and
 * makes inputs wait longer; its owner caps it with a watermark). Without
 * a pool (the control thread's connections) nothing is counted.
 */
struct gbuf {
	char *p;
	size_t off, len, cap;
	struct bufpool *pool;		/* where cap is counted; NULL: nowhere */
};

enum gbuf_room { GBUF_OK, GBUF_LIMIT, GBUF_NOMEM };

static inline void gbuf_init(struct gbuf *b, struct bufpool *pool)
{
	*b = (struct gbuf){ .pool = pool };
}

/* Room for n more bytes of input, `limit` bytes in all at most. */
enum gbuf_room gbuf_reserve_input(struct gbuf *b, size_t n, size_t limit) ND_MUST_CHECK;
/* The same for output: never GBUF_NOMEM; false when past `limit`. */
bool gbuf_reserve(struct gbuf *b, size_t n, size_t limit);
void gbuf_append(struct gbuf *b, const void *p, size_t n);	/* after reserve */
/* The first n pending bytes are handled; their memory stays until
 * gbuf_release, so pointers into the buffer stay valid until then. */
void gbuf_consume(struct gbuf *b, size_t n);
/* Empty: give its memory back to the pool (call where no pointer into it
 * is held, e.g. at the end of a read callback). */
void gbuf_release(struct gbuf *b);
void gbuf_free(struct gbuf *b);
static inline size_t gbuf_pending(const struct gbuf *b) { return b->len - b->off; }

/*
 * Write out's pending bytes to stream s: at once as far as the socket takes
 * them, the rest with uv_write(req, ..., cb), out's buffer then becoming
 * *wbuf (swapped, so out is free for more). Returns 0 (all written, out
 * empty), 1 (the rest in flight until cb) or a negative libuv error.
 * Nothing pending: 0. Not while a write from *wbuf is in flight.
 */
int gbuf_write(uv_stream_t *s, uv_write_t *req, struct gbuf *out, struct gbuf *wbuf, uv_write_cb cb);

#endif
