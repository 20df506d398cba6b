/*
 * confdir.h - a configuration given as a directory (like conf.d/): every
 * *.yml and *.yaml file in it, in name order, each a fragment of the one
 * configuration (typically one listener or pool per file), merged into one
 * YAML document whose nodes remember the file they came from.
 */
#ifndef ND_CONFDIR_H
#define ND_CONFDIR_H

#include <yaml.h>

#include "errlist.h"

struct confdir {
	yaml_document_t doc;	/* the merged document */
	char **node_files;	/* node i + 1 came from node_files[i] (pointers into files) */
	char **files;		/* the paths read, owned */
	int nfiles;
};

/*
 * Read dir into cd: the `listeners` and `pools` of every file are one list,
 * in file order; any other top-level key may be set in one file only (two
 * files setting it: an error naming both places). 0, or -1 with the
 * problems in errs (file:line:col). Free cd with confdir_free either way.
 */
int confdir_load(const char *dir, struct confdir *cd, struct errlist *errs);
void confdir_free(struct confdir *cd);

#endif
