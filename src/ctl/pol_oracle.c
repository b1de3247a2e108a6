/* pol_oracle.c - the clairvoyant schedule's registry row. It needs the whole trace, so it has no
 * online ops: the simulator computes its schedule (sim_oracle.c: a dynamic program over
 * (scaling decision, instance count) with the same cold starts and billing) and replays it. The
 * server refuses it. */
#include "policy_int.h"

const struct sf_policy_desc sf__pol_oracle = {
    .name = "oracle",
    .summary = "clairvoyant: the best VM schedule for the whole trace\n"
               "(dynamic program; simulator only)",
    .path = SF_POLICY_PATH_INSTANCES,
    .needs_future = SF_FUTURE_SCHEDULE};
