/*
 * backend.c - names of backend states, as the API and the logs spell them.
 */
#include "backend.h"

const char *backend_state_name(enum backend_state s)
{
	switch (s) {
	case BACKEND_READY: return "ready";
	case BACKEND_DRAINING: return "draining";
	case BACKEND_DRAINED: return "drained";
	case BACKEND_MAINT: return "maint";
	}
	return "?";
}
