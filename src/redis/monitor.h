/*
 * monitor.h - the control thread's own connection to a Redis server, for
 * the switchover's steps: one command at a time, its whole reply back.
 * It logs in with the pool's username/password and names itself
 * "nodown" (CLIENT SETNAME), so that CLIENT LIST can leave it out.
 */
#ifndef ND_REDIS_MONITOR_H
#define ND_REDIS_MONITOR_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "../core/buffer.h"
#include "../core/ctlconn.h"
#include "resp.h"

#define REDIS_MON_NAME "nodown"

struct redis_mon;

/*
 * A reply: type is its first byte ('+', '-', ':', '$', '*', '%', ...);
 * p[0, len) is the line of a simple string, error or number, the payload
 * of a bulk string, or the whole frame of anything else. status -1: no
 * reply, p says why (type 0).
 */
struct redis_reply {
	char type;
	const char *p;
	size_t len;
};

typedef void (*redis_mon_cb)(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg);

struct redis_mon {
	uv_loop_t *loop;
	struct ctl_conn *conn;		/* while open */
	uv_timer_t timer;		/* the running command's timeout */
	struct sockaddr_storage addr;
	const char *username, *password;	/* borrowed from the pool's config (the op holds it) */
	struct resp_reader rd;
	struct gbuf in, out, wbuf;
	bool connected, writing;
	int skip;			/* replies to the login still to come */
	size_t fed;			/* bytes of the reply being read that the reader has judged */
	redis_mon_cb cb;
	void *arg;
	char error[300];
};

void redis_mon_init(struct redis_mon *m, uv_loop_t *loop, const struct sockaddr_storage *addr,
		    const char *username, const char *password);

/* Send the command argv[0, argc) (connecting and logging in first if need
 * be); cb runs exactly once, within timeout_ms. One at a time. */
void redis_mon_cmd(struct redis_mon *m, uint64_t timeout_ms, redis_mon_cb cb, void *arg, int argc,
		   const char *const *argv);

static inline bool redis_mon_busy(const struct redis_mon *m)
{
	return m->cb != NULL;
}

/* Close and free m (malloc'd by the caller) once its handles are closed;
 * a command running gets its callback with -1. */
void redis_mon_free(struct redis_mon *m);

/* CLIENT LIST's answer as a JSON array of {id, addr, name, age, idle, db,
 * flags, cmd} (strings, "" when absent) of the clients that are neither
 * nodown's own (named REDIS_MON_NAME) nor replication links (flags S or
 * M); blocked_only: only those blocked or in a transaction (flags b, x). */
json_t *redis_client_list(const struct redis_reply *rep, bool blocked_only);

/* The value of field `key` in an INFO answer ("key:value" lines), into
 * out; false if absent. */
bool redis_info_field(const struct redis_reply *rep, const char *key, char *out, size_t n);

#endif
