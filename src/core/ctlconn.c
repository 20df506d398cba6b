/*
 * ctlconn.c - control-thread connections whose requests may outlive their
 * owner (ctlconn.h).
 *
 * Invariants: tcp.data, creq.data and wreq.data all point to the
 *             ctl_conn; it is freed in the close callback, which libuv
 *             runs after every cancelled request's callback.
 * Runs on: the control thread's loop.
 */
#include "ctlconn.h"

#include "common.h"
#include "fds.h"

static void closed_cb(uv_handle_t *h)
{
	free(h->data);
}

struct ctl_conn *ctl_conn_open(uv_loop_t *loop, const struct sockaddr_storage *addr, void *owner,
			       uv_connect_cb cb, int *err)
{
	struct ctl_conn *c = xcalloc(1, sizeof(*c));

	c->owner = owner;
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c->creq.data = c->wreq.data = c;
	*err = fds_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)addr, cb);
	if (*err < 0) {
		ctl_conn_drop(c);
		return NULL;
	}
	return c;
}

void ctl_conn_drop(struct ctl_conn *c)
{
	c->owner = NULL;
	uv_close((uv_handle_t *)&c->tcp, closed_cb);
}
