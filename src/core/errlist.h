/*
 * errlist.h - problems found in a configuration, collected for the user.
 */
#ifndef ND_ERRLIST_H
#define ND_ERRLIST_H

#include "common.h"

/* One problem, in parts (for JSON). */
struct errlist_item {
	char *file;			/* owned */
	int line, col;			/* 0: the file as a whole */
	char *message;			/* owned */
};

/* Collected "file:line:col: message" lines ("file: message" when line is
 * 0), and the same in parts; warnings apart. */
struct errlist {
	char **msgs;			/* owned */
	struct errlist_item *items;	/* owned, [n] */
	int n;				/* errors: a config with any is refused */
	char **warns;			/* owned: "file:line:col: warning: message" */
	struct errlist_item *witems;	/* owned, [nwarn] */
	int nwarn;			/* warnings: reported, refuse nothing */
};

void errlist_add(struct errlist *e, const char *file, int line, int col,
		 const char *fmt, ...) ND_PRINTF(5, 6);
void errlist_warn(struct errlist *e, const char *file, int line, int col,
		  const char *fmt, ...) ND_PRINTF(5, 6);
void errlist_free(struct errlist *e);

#endif
