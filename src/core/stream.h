/*
 * stream.h - writing to a libuv stream with as few system calls and loop
 * turns as the socket allows.
 */
#ifndef ND_STREAM_H
#define ND_STREAM_H

#include <uv.h>

/*
 * Write bufs[0, n) to s: synchronously if the socket takes it all, else the
 * rest with uv_write (cb called later; bufs is adjusted to that rest, and
 * the bytes it points to must stay untouched until cb). Returns 0 when
 * everything is written now, 1 when a write is pending, or a negative
 * libuv error. Unlike a plain uv_write, a write that completes at once
 * costs no epoll_ctl and no callback on the next loop turn.
 */
int stream_write_some(uv_stream_t *s, uv_write_t *req, uv_buf_t *bufs, int n, uv_write_cb cb);

#endif
