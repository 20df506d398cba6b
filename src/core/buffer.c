/*
 * buffer.c - bounded pool of fixed-size I/O buffers.
 *
 * Owns: the free list and the wait list of one worker's buffers.
 * Invariant: used <= max; a buffer is either on the free list or held by
 *            exactly one connection; waiters are woken only by buf_put.
 * Runs on: the owning worker's loop only; no locking.
 *
 * A connection that finds the pool empty stops reading and waits; memory
 * therefore never grows with load or body size, only with `max` (and, for
 * output already accepted into growable buffers, with its owners'
 * watermarks).
 */
#include "buffer.h"

#include "stream.h"

void buf_waiter_init(struct buf_waiter *w, void (*wake)(struct buf_waiter *))
{
	w->next = w->prev = w;
	w->wake = wake;
}

void bufpool_init(struct bufpool *p, size_t size, unsigned max)
{
	memset(p, 0, sizeof(*p));
	p->size = size;
	p->max = max;
	p->keep = max < 256 ? max : 256;
	buf_waiter_init(&p->waiters, NULL);
}

void bufpool_destroy(struct bufpool *p)
{
	struct buf *b;

	while ((b = p->free)) {
		p->free = b->next;
		free(b);
	}
	p->nfree = 0;
}

struct buf *buf_get(struct bufpool *p)
{
	struct buf *b;

	if (p->used >= p->max) {
		p->exhausted++;
		return NULL;
	}
	b = p->free;
	if (b) {
		p->free = b->next;
		p->nfree--;
	} else {
		b = xmalloc(sizeof(*b) + p->size);
	}
	b->next = NULL;
	b->off = b->len = 0;
	p->used++;
	return b;
}

/* n buffers' worth came back: wake as many waiters. */
static void wake(struct bufpool *p, unsigned n)
{
	while (n-- > 0 && p->waiters.next != &p->waiters) {
		struct buf_waiter *w = p->waiters.next;

		bufpool_unwait(w);
		w->wake(w);
	}
}

void buf_put(struct bufpool *p, struct buf *b)
{
	if (!b)
		return;
	BUG_ON(p->used == 0);
	p->used--;
	if (p->nfree < p->keep) {
		b->next = p->free;
		p->free = b;
		p->nfree++;
	} else {
		free(b);
	}
	wake(p, 1);
}

void buf_compact(struct buf *b)
{
	size_t n = b->len - b->off;

	if (b->off == 0)
		return;
	if (n)
		memmove(b->data, b->data + b->off, n);
	b->off = 0;
	b->len = n;
}

void bufpool_wait(struct bufpool *p, struct buf_waiter *w)
{
	if (w->next != w)
		return;
	w->prev = p->waiters.prev;
	w->next = &p->waiters;
	p->waiters.prev->next = w;
	p->waiters.prev = w;
}

void bufpool_unwait(struct buf_waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = w;
}

/* ---- growable buffers --------------------------------------------------------- */

static size_t units(const struct gbuf *b, size_t bytes)
{
	return (bytes + b->pool->size - 1) / b->pool->size;
}

/*
 * A growable buffer's memory is the data of a struct buf. Blocks of one
 * unit come from the pool's free list and go back to it, as fixed buffers
 * do: the common case (a read or a write of up to one unit) then costs no
 * malloc, and the heap is not trimmed and grown again at every request.
 */
static struct buf *block_of(char *p)
{
	return (struct buf *)(p - offsetof(struct buf, data));
}

static char *block_resize(struct gbuf *b, size_t cap)
{
	struct bufpool *pool = b->pool;
	struct buf *blk;

	if (!b->p && pool && cap == pool->size && pool->free) {
		blk = pool->free;
		pool->free = blk->next;
		pool->nfree--;
		return blk->data;
	}
	blk = xrealloc(b->p ? block_of(b->p) : NULL, sizeof(struct buf) + cap);
	return blk->data;
}

static void block_put(struct bufpool *pool, char *p, size_t cap)
{
	struct buf *blk = block_of(p);

	if (pool && cap == pool->size && pool->nfree < pool->keep) {
		blk->next = pool->free;
		pool->free = blk;
		pool->nfree++;
	} else {
		free(blk);
	}
}

/* Move the pending bytes to the front; room for n more after them? */
static bool compact(struct gbuf *b, size_t n)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n <= b->cap)
		return true;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	return b->len + n <= b->cap;
}

static enum gbuf_room grow(struct gbuf *b, size_t n, size_t limit, bool input)
{
	size_t cap;

	if (compact(b, n))
		return GBUF_OK;
	if (b->len + n > limit)
		return GBUF_LIMIT;
	cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
	if (b->pool) {
		size_t more;

		cap = units(b, cap) * b->pool->size;
		more = units(b, cap) - units(b, b->cap);
		if (input && b->pool->used + more > b->pool->max) {
			b->pool->exhausted++;
			return GBUF_NOMEM;
		}
		b->pool->used += (unsigned)more;
	}
	b->p = block_resize(b, cap);
	b->cap = cap;
	return GBUF_OK;
}

enum gbuf_room gbuf_reserve_input(struct gbuf *b, size_t n, size_t limit)
{
	return grow(b, n, limit, true);
}

bool gbuf_reserve(struct gbuf *b, size_t n, size_t limit)
{
	return grow(b, n, limit, false) == GBUF_OK;
}

void gbuf_append(struct gbuf *b, const void *p, size_t n)
{
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void gbuf_consume(struct gbuf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void gbuf_release(struct gbuf *b)
{
	if (b->len == b->off && b->cap)
		gbuf_free(b);
}

void gbuf_free(struct gbuf *b)
{
	struct bufpool *pool = b->pool;
	unsigned n = pool && b->cap ? (unsigned)units(b, b->cap) : 0;

	if (b->p)
		block_put(pool, b->p, b->cap);
	gbuf_init(b, pool);
	if (n) {
		BUG_ON(pool->used < n);
		pool->used -= n;
		wake(pool, n);
	}
}

int gbuf_write(uv_stream_t *s, uv_write_t *req, struct gbuf *out, struct gbuf *wbuf, uv_write_cb cb)
{
	struct gbuf t;
	uv_buf_t b;
	int r;

	if (gbuf_pending(out) == 0)
		return 0;
	b = uv_buf_init(out->p + out->off, (unsigned)gbuf_pending(out));
	r = stream_write_some(s, req, &b, 1, cb);
	if (r == 1) {	/* the bytes uv_write holds go with wbuf */
		t = *wbuf;
		*wbuf = *out;
		*out = t;
	} else if (r == 0) {
		out->off = out->len = 0;
		gbuf_release(out);
	}
	return r;
}
