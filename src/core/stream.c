/*
 * stream.c - writing to a libuv stream: uv_try_write first, uv_write only
 * for what the socket did not take.
 *
 * Owns nothing; callers keep their buffers and uv_write_t.
 * Runs on: any loop's thread, for streams of that loop.
 */
#include "stream.h"

#include <stddef.h>

int stream_write_some(uv_stream_t *s, uv_write_t *req, uv_buf_t *bufs, int n, uv_write_cb cb)
{
	int r = uv_try_write(s, bufs, (unsigned)n);
	size_t done;

	if (r == UV_EAGAIN)
		r = 0;
	if (r < 0)
		return r;
	done = (size_t)r;
	while (n > 0 && done >= bufs[0].len) {
		done -= bufs[0].len;
		bufs++;
		n--;
	}
	if (n == 0)
		return 0;
	bufs[0].base += done;
	bufs[0].len -= done;
	r = uv_write(req, s, bufs, (unsigned)n, cb);
	return r < 0 ? r : 1;
}
