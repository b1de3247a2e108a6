/* policy_extra.h - the registry row of the test-only policy (pol_hold.c): test_registry builds
 * src/ctl/policy.c with SF_POLICY_EXTRA_LIST naming this file. */
#define SF_POLICY_EXTRA(X) X(HOLD, hold)
