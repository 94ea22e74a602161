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
	case PROTO_HOTSTUFF: return "hotstuff";
	}
	return "unknown";
}

uint32_t protocol_n(enum protocol p, uint32_t f)
{
	switch (p) {
	case PROTO_PBFT: return 3 * f + 1;
	case PROTO_VR: return 2 * f + 1;
	case PROTO_SINGLE: return 1;
	case PROTO_HOTSTUFF: return 3 * f + 1;
	}
	return 0;
}

int protocol_parse(const char *name, enum protocol *p)
{
	static const enum protocol all[] = {PROTO_PBFT, PROTO_VR, PROTO_SINGLE, PROTO_HOTSTUFF};
	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *a = protocol_name(all[i]), *b = name;
		while (*a && *a == *b) {
			a++;
			b++;
		}
		if (!*a && !*b) {
			*p = all[i];
			return 0;
		}
	}
	return -1;
}

int protocol_is_bft(enum protocol p)
{
	return p == PROTO_PBFT || p == PROTO_HOTSTUFF;
}
