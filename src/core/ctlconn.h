/*
 * ctlconn.h - a TCP connection of the control thread (health-check-like
 * monitors, switchover steps) whose libuv requests may outlive its owner:
 * the socket, its connect and write requests live together, are freed
 * only once the close is done, and their callbacks find `owner` NULL once
 * the owner dropped the connection (libuv runs the cancelled requests'
 * callbacks during the close, possibly after the owner is gone).
 */
#ifndef ND_CTLCONN_H
#define ND_CTLCONN_H

#include <sys/socket.h>
#include <uv.h>

struct ctl_conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	void *owner;		/* NULL once dropped */
};

/* Connect to addr for owner; cb gets &conn->creq. NULL (errno-style
 * libuv error in *err) if the connect cannot start. */
struct ctl_conn *ctl_conn_open(uv_loop_t *loop, const struct sockaddr_storage *addr, void *owner,
			       uv_connect_cb cb, int *err);

/* Close it: callbacks still to come see owner NULL; freed once closed. */
void ctl_conn_drop(struct ctl_conn *c);

/* The owner of the connection a handle or request belongs to (NULL once
 * dropped). */
static inline void *ctl_conn_owner(void *data)
{
	return ((struct ctl_conn *)data)->owner;
}

#endif
