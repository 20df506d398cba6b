/*
 * statuspage.h - the status page: one self-contained HTML document (no
 * external asset) that reads GET api/status and api/operations and draws
 * pools, backends, rates and operations, refreshing itself every second.
 * Served at / by the admin API and by the read-only status listener.
 */
#ifndef ND_STATUSPAGE_H
#define ND_STATUSPAGE_H

extern const char status_page_html[];

#endif
