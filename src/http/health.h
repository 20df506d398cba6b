/*
 * health.h - active health checks of HTTP pools' backends.
 */
#ifndef ND_HTTP_HEALTH_H
#define ND_HTTP_HEALTH_H

struct daemon;

/* Check every backend of every http pool of the current snapshot, keeping
 * the running checks of backends that stay (control thread). */
void health_apply(struct daemon *d);
/* Stop all checks; their memory is released as their handles close. */
void health_stop(struct daemon *d);

#endif
