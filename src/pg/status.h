/*
 * status.h - the pg module's fields in GET /status and its metric
 * families in GET /metrics (control thread).
 */
#ifndef ND_PG_STATUS_H
#define ND_PG_STATUS_H

#include <jansson.h>

struct daemon;
struct metrics_text;

void pg_pool_status(struct daemon *d, int p, json_t *pool);
void pg_metrics(struct daemon *d, struct metrics_text *t);

#endif
