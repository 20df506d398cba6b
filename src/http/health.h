/*
 * health.h - active health checks of HTTP pools' backends.
 */
#ifndef ND_HTTP_HEALTH_H
#define ND_HTTP_HEALTH_H

struct daemon;

/* Start checking every backend of every http pool (control thread). */
void health_start(struct daemon *d);
/* Stop all checks; their memory is released as their handles close. */
void health_stop(struct daemon *d);

#endif
