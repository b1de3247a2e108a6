/* pol_static.c - the best static fleet's registry row. It needs the whole trace to pick its count,
 * so it has no online ops: the simulator chooses the count (sim_oracle.c) and replays a fleet of
 * that size from the first epoch. The server refuses it (a fixed fleet there is --instances N). */
#include "policy_int.h"

const struct sf_policy_desc sf__pol_static = {
    .name = "static",
    .summary = "clairvoyant: the best fixed VM count for the whole\n"
               "trace (simulator only)",
    .path = SF_POLICY_PATH_INSTANCES,
    .needs_future = SF_FUTURE_STATIC};
