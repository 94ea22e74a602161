/* admin.h - the admin plane from the client side, beyond status (client.h):
 * byzlab-client --config F faults I SPEC sets replica I's network and clock faults at
 * run time (replica/faults.h; wire MSG_ADMIN_FAULTS).  The admin address is local and
 * trusted: nothing here is authenticated (docs/PROTOCOL.md). */
#ifndef BYZLAB_CLIENT_ADMIN_H
#define BYZLAB_CLIENT_ADMIN_H

#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

/* Send SPEC ("k=v;k=v", or "none") to replica id's admin address and print its
 * answer (its status line, which shows the faults now in force) to out.  Returns an
 * exit code: 0 set, 1 refused (the replica's reason on err) or no answer, 2 usage. */
int client_admin_faults(const struct config *c, uint32_t id, const char *spec, uint32_t timeout_ms,
			FILE *out, FILE *err);

#endif
