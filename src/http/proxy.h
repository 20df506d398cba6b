/*
 * proxy.h - the HTTP/1.x reverse proxy: a client connection's life.
 */
#ifndef ND_HTTP_PROXY_H
#define ND_HTTP_PROXY_H

#include "upstream.h"

/* A buffer became free for u, which was waiting to read a response. */
void proxy_upconn_buffer_ready(struct upconn *u);

#endif
