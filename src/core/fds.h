/*
 * fds.h - file descriptors as a resource: a reserve that lets a backend
 * connect succeed when clients have taken every other descriptor, and
 * reports of running out that cannot flood the log.
 */
#ifndef ND_FDS_H
#define ND_FDS_H

#include <stdbool.h>
#include <uv.h>

#include "common.h"

/* Raise the soft descriptor limit to the hard one, open the reserve
 * (a few descriptors, scaled to the limit), and return the limit.
 * Control thread, before any worker starts. */
long fds_init(void);

/* Close the reserve (at exit). */
void fds_close(void);

/* Is err (a negative errno or libuv error) "out of descriptors"? */
bool fds_exhausted(int err);

/*
 * Log "out of file descriptors while <what>" at most once a second for
 * the whole process, with how many times it happened meanwhile. Any
 * thread.
 */
void fds_report(const char *what);

/*
 * May a new client connection be accepted? False while part of the
 * reserve is lent out and cannot be taken back yet: the descriptors left
 * belong to connections already accepted. Any thread; one atomic load
 * when the reserve is whole.
 */
bool fds_admit(void);

/*
 * uv_tcp_connect, with one retry on a descriptor released from the
 * reserve when the process is out of them (the reserve is refilled as
 * descriptors are closed, and new clients wait until it is). Returns
 * 0 or a libuv error; on running out, also reports it.
 */
int fds_tcp_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *addr,
		    uv_connect_cb cb) ND_MUST_CHECK;

#endif
