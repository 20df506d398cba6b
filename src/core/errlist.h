/*
 * errlist.h - problems found in a configuration, collected for the user.
 */
#ifndef ND_ERRLIST_H
#define ND_ERRLIST_H

#include "common.h"

/* Collected "file:line:col: message" lines ("file: message" when line is 0). */
struct errlist {
	char **msgs;			/* owned */
	int n;
};

void errlist_add(struct errlist *e, const char *file, int line, int col,
		 const char *fmt, ...) ND_PRINTF(5, 6);
void errlist_free(struct errlist *e);

#endif
