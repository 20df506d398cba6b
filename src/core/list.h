/*
 * list.h - intrusive circular doubly linked list (as in the Linux kernel
 * and PgBouncer): a node embedded in its owner, O(1) insert and remove.
 */
#ifndef ND_LIST_H
#define ND_LIST_H

#include <stdbool.h>

struct list {
	struct list *next, *prev;
};

static inline void list_init(struct list *l)
{
	l->next = l->prev = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

/* Insert n right after head (at the front). */
static inline void list_push(struct list *head, struct list *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

/* Insert n before head (at the back). */
static inline void list_append(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Unlink n and leave it self-linked, so a second del is harmless. */
static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

/* Move every node of src, in order, to the empty list dst; src is left empty. */
static inline void list_move_all(struct list *dst, struct list *src)
{
	if (list_empty(src)) {
		list_init(dst);
		return;
	}
	dst->next = src->next;
	dst->prev = src->prev;
	dst->next->prev = dst;
	dst->prev->next = dst;
	list_init(src);
}

/* Safe against removing pos, not against removing tmp (the next node):
 * a walk whose step may unlink other nodes takes them from a private list
 * one at a time instead (see worker.c's each_client). */
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
