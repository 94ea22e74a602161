/* protocol.c - the protocols' names and group sizes: the one place n is computed from f.
 *
 * Apart from config.c (which parses cluster.ini with inih and reads files) because the
 * cores and the simulator need these, and they belong in the pure core library
 * (byzlab_core, docs/ARCHITECTURE.md), which links no inih.
 */
#include "config/config.h"

const char *protocol_name(enum protocol p)
{
	switch (p) {
	case PROTO_PBFT: return "pbft";
	case PROTO_VR: return "vr";
	case PROTO_SINGLE: return "single";
	}
	return "unknown";
}

uint32_t protocol_n(enum protocol p, uint32_t f)
{
	switch (p) {
	case PROTO_PBFT: return 3 * f + 1;
	case PROTO_VR: return 2 * f + 1;
	case PROTO_SINGLE: return 1;
	}
	return 0;
}
