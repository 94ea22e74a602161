/* wire_vr.c - bodies of the Viewstamped Replication messages (MSG_VR_*).
 * Placeholder until the VR core lands: every VR type is refused. */
#include "wire/wire.h"

int wire_body_vr(struct msg *m)
{
	(void)m;
	return WIRE_E_TYPE;
}
