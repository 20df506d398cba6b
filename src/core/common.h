/*
 * common.h - small helpers every module uses: invariants, allocation,
 * container_of and compiler attributes.
 *
 * Allocation failure aborts with a message: a proxy half-alive after OOM is
 * worse than a restart (STYLE.md, habit 8).
 */
#ifndef ND_COMMON_H
#define ND_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ND_MUST_CHECK __attribute__((warn_unused_result))
#define ND_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ND_UNUSED(x) ((void)(x))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Always-on check for the impossible: abort with the place it happened. */
#define BUG_ON(cond)                                                      \
	do {                                                              \
		if (__builtin_expect(!!(cond), 0))                        \
			nd_bug(__FILE__, __LINE__, #cond);                \
	} while (0)

__attribute__((noreturn)) void nd_bug(const char *file, int line, const char *what);
__attribute__((noreturn)) ND_PRINTF(1, 2) void nd_die(const char *fmt, ...);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Monotonic clock in milliseconds / nanoseconds. */
uint64_t nd_now_ms(void);
uint64_t nd_now_ns(void);

/* The value of hexadecimal digit c, or -1. */
static inline int nd_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
