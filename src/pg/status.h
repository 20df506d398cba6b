/*
 * status.h - the pg module's fields in GET /status and its metric
 * families in GET /metrics (control thread).
 */
#ifndef ND_PG_STATUS_H
#define ND_PG_STATUS_H

#include <jansson.h>

struct daemon;
struct metrics_text;

/* "unknown", "primary", "standby" (enum backend_role). */
const char *pg_role_name(int role);

void pg_pool_status(struct daemon *d, int p, json_t *pool);
void pg_backend_status(struct daemon *d, int p, int b, json_t *backend);
void pg_metrics(struct daemon *d, struct metrics_text *t);

#endif
