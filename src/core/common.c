/*
 * common.c - abort-on-failure allocation, BUG_ON reporting and clocks.
 *
 * Safe from any thread.
 */
#include "common.h"

#include <stdarg.h>
#include <time.h>

void nd_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "nodown: BUG at %s:%d: %s\n", file, line, what);
	abort();
}

void nd_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("nodown: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		nd_die("out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		nd_die("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		nd_die("out of memory reallocating %zu bytes", n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

uint64_t nd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t nd_now_ms(void)
{
	return nd_now_ns() / 1000000u;
}
