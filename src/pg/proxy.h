/*
 * proxy.h - PostgreSQL client sessions: the module's accept (pg/module.c)
 * and what pg/pool.c calls back.
 */
#ifndef ND_PG_PROXY_H
#define ND_PG_PROXY_H

#include "../core/list.h"
#include "../core/proto.h"

struct pgclient;
struct pgserver;

struct wlistener;

/* The module's accept: a client connection is waiting on wl. */
void pg_accept(struct wlistener *wl);

/* c waits on `waiters` for a server. */
void pg_proxy_wait(struct pgclient *c, struct list *waiters);
/* The client behind a waiters list node. */
struct pgclient *pg_proxy_waiter(struct list *node);

/* c got server s (linked); or no server could be had. */
void pg_proxy_linked(struct pgclient *c, struct pgserver *s);
void pg_proxy_link_failed(struct pgclient *c, const char *why);

/* Bytes arrived from c's server; c's server wrote everything queued; c's
 * server is closing under it. */
void pg_proxy_server_data(struct pgclient *c, struct pgserver *s);
void pg_proxy_server_drained(struct pgclient *c);
void pg_proxy_server_gone(struct pgclient *c, struct pgserver *s);

#endif
