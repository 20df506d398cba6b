/*
 * errlist.c - collected configuration problems, each a ready-to-print
 * "file:line:col: message" line, so a file's every problem is reported in
 * one go rather than one per run; warnings apart ("file:line:col:
 * warning: message"), as they refuse nothing.
 */
#include "errlist.h"

#include <stdarg.h>

static void add(char ***lines, struct errlist_item **items, int *n, const char *kind, const char *file,
		int line, int col, const char *fmt, va_list ap)
{
	char msg[512], *full;
	int len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0) {
		len = snprintf(NULL, 0, "%s:%d:%d: %s%s", file, line, col, kind, msg);
		full = xmalloc((size_t)len + 1);
		snprintf(full, (size_t)len + 1, "%s:%d:%d: %s%s", file, line, col, kind, msg);
	} else {	/* about the file as a whole */
		len = snprintf(NULL, 0, "%s: %s%s", file, kind, msg);
		full = xmalloc((size_t)len + 1);
		snprintf(full, (size_t)len + 1, "%s: %s%s", file, kind, msg);
	}
	*lines = xrealloc(*lines, sizeof(char *) * (size_t)(*n + 1));
	*items = xrealloc(*items, sizeof(**items) * (size_t)(*n + 1));
	(*items)[*n] = (struct errlist_item){ xstrdup(file), line > 0 ? line : 0, line > 0 ? col : 0,
					      xstrdup(msg) };
	(*lines)[(*n)++] = full;
}

void errlist_add(struct errlist *e, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(&e->msgs, &e->items, &e->n, "", file, line, col, fmt, ap);
	va_end(ap);
}

void errlist_warn(struct errlist *e, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(&e->warns, &e->witems, &e->nwarn, "warning: ", file, line, col, fmt, ap);
	va_end(ap);
}

static void free_all(char **lines, struct errlist_item *items, int n)
{
	for (int i = 0; i < n; i++) {
		free(lines[i]);
		free(items[i].file);
		free(items[i].message);
	}
	free(lines);
	free(items);
}

void errlist_free(struct errlist *e)
{
	free_all(e->msgs, e->items, e->n);
	free_all(e->warns, e->witems, e->nwarn);
	memset(e, 0, sizeof(*e));
}
