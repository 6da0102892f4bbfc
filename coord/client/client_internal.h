/* SPDX-License-Identifier: MIT */
/* client_internal: what client.c shares with sync.c, the synchronous face
 * built on the asynchronous one. Not installed, not a contract for anyone
 * outside coord/client/. */
#ifndef COORD_CLIENT_CLIENT_INTERNAL_H
#define COORD_CLIENT_CLIENT_INTERNAL_H

#include "coord/client/client.h"
#include "coord/client/codec.h"

/* Only from inside a coord_client_cb of c: move the memory the callback's
 * struct coord_result points to into keeper (after freeing what keeper held),
 * so that the views stay valid after the callback returns, until keeper is
 * reset or closed. The result's endpoint string stays valid while c lives. */
void coord_client_keep(struct coord_client *c, struct coord_client_arena *keeper);

#endif /* COORD_CLIENT_CLIENT_INTERNAL_H */
