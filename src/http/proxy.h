/*
 * proxy.h - the HTTP/1.x reverse proxy: a client connection's life.
 */
#ifndef ND_HTTP_PROXY_H
#define ND_HTTP_PROXY_H

#include "upstream.h"

struct wlistener;

/* The module's accept: a client connection is waiting on wl. */
void http_accept(struct wlistener *wl);

/* Read callbacks of a busy backend connection (called by upstream.c). */
void proxy_up_alloc(struct upconn *u, uv_buf_t *b);
void proxy_up_read(struct upconn *u, ssize_t n);

/* A buffer became free for u, which was waiting to read a response. */
void proxy_upconn_buffer_ready(struct upconn *u);

#endif
