/*
 * buffer.c - bounded pool of fixed-size I/O buffers.
 *
 * Owns: the free list and the wait list of one worker's buffers.
 * Invariant: used <= max; a buffer is either on the free list or held by
 *            exactly one connection; waiters are woken only by buf_put.
 * Runs on: the owning worker's loop only; no locking.
 *
 * A connection that finds the pool empty stops reading and waits; memory
 * therefore never grows with load or body size, only with `max`.
 */
#include "buffer.h"

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

void buf_put(struct bufpool *p, struct buf *b)
{
	struct buf_waiter *w;

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
	w = p->waiters.next;
	if (w != &p->waiters) {
		bufpool_unwait(w);
		w->wake(w);
	}
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
