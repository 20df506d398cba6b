/*
 * monitor.h - the control thread's own connections to PostgreSQL servers,
 * as the pool's monitor_user: one query at a time, one text value back.
 * Health checks and switchovers talk to servers through these.
 */
#ifndef ND_PG_MONITOR_H
#define ND_PG_MONITOR_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "../core/ctlconn.h"
#include "login.h"
#include "pool.h"

struct pg_mon;

/* status 0: value is the first column of the first row ("" if none, "NULL"
 * for a null); -1: value says what failed. */
typedef void (*pg_mon_cb)(struct pg_mon *m, int status, const char *value, void *arg);

enum pg_mon_state { M_CLOSED, M_CONNECTING, M_LOGIN, M_READY, M_QUERY };

struct pg_mon {
	uv_loop_t *loop;
	struct ctl_conn *conn;		/* while open */
	uv_timer_t timer;		/* the running query's timeout */
	struct sockaddr_storage addr;
	const struct pg_user *user;	/* borrowed from the current config's auth file */
	char database[PG_AUTH_USER_MAX + 1];
	enum pg_mon_state state;
	struct pg_login login;
	struct gbuf in, out, wbuf;
	bool writing;
	char sql[512];			/* the query to send once logged in */
	pg_mon_cb cb;
	void *arg;
	bool have_value;
	char value[256];
	char error[300];
	bool freed;			/* pg_mon_free called: free once closed */
	unsigned server_auth;		/* what the server may ask for at login */
};

/* server_auth: the enum pg_server_auth methods the server may ask for. */
void pg_mon_init(struct pg_mon *m, uv_loop_t *loop, const struct sockaddr_storage *addr,
		 const struct pg_user *user, const char *database, unsigned server_auth);

/* Run sql (connecting and logging in first if need be); cb runs exactly
 * once, within timeout_ms. One query at a time (BUG otherwise). */
void pg_mon_query(struct pg_mon *m, const char *sql, uint64_t timeout_ms, pg_mon_cb cb, void *arg);

bool pg_mon_busy(const struct pg_mon *m);

/* Close the connection (a running query gets its callback with -1). */
void pg_mon_close(struct pg_mon *m);

/* Close and free m (allocated by the caller with malloc) once its handles are closed. */
void pg_mon_free(struct pg_mon *m);

#endif
