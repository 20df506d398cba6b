/*
 * errlist.c - collected configuration problems, each a ready-to-print
 * "file:line:col: message" line, so a file's every problem is reported in
 * one go rather than one per run.
 */
#include "errlist.h"

#include <stdarg.h>

void errlist_add(struct errlist *e, const char *file, int line, int col,
		 const char *fmt, ...)
{
	char msg[512], *full;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0) {
		n = snprintf(NULL, 0, "%s:%d:%d: %s", file, line, col, msg);
		full = xmalloc((size_t)n + 1);
		snprintf(full, (size_t)n + 1, "%s:%d:%d: %s", file, line, col, msg);
	} else {	/* about the file as a whole */
		n = snprintf(NULL, 0, "%s: %s", file, msg);
		full = xmalloc((size_t)n + 1);
		snprintf(full, (size_t)n + 1, "%s: %s", file, msg);
	}
	e->msgs = xrealloc(e->msgs, sizeof(char *) * (size_t)(e->n + 1));
	e->items = xrealloc(e->items, sizeof(*e->items) * (size_t)(e->n + 1));
	e->items[e->n] = (struct errlist_item){ xstrdup(file), line > 0 ? line : 0, line > 0 ? col : 0,
						xstrdup(msg) };
	e->msgs[e->n++] = full;
}

void errlist_free(struct errlist *e)
{
	for (int i = 0; i < e->n; i++) {
		free(e->msgs[i]);
		free(e->items[i].file);
		free(e->items[i].message);
	}
	free(e->msgs);
	free(e->items);
	e->msgs = NULL;
	e->items = NULL;
	e->n = 0;
}
