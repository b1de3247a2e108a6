/* fuzz_aws_xml.c - libFuzzer target for the Query API response readers (libxml2): the first byte
 * picks the error reader, DescribeAutoScalingGroups, DescribeInstances or DescribeTargetHealth;
 * the rest is the body. Any bytes give SF_OK or a clean error; what is read stays in bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/aws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct sf_err err = {{0}};
    int rc = SF_OK;
    switch (data[0] % 4) {
    case 0: {
        char code[64], msg[256];
        if (sf_aws_xml_error(body, len, code, sizeof(code), msg, sizeof(msg)) == SF_OK &&
            (strlen(code) >= sizeof(code) || strlen(msg) >= sizeof(msg) || !code[0]))
            abort();
        return 0;
    }
    case 1: {
        struct sf_aws_asg g;
        rc = sf_aws_xml_read_asg(body, len, "g", &g, &err);
        if (rc == SF_OK) {
            if (g.n_instances < 0 || g.n_instances > SF_AWS_MAX_INSTANCES)
                abort();
            for (int i = 0; i < g.n_instances; i++)
                if (!g.instances[i].instance_id[0])
                    abort();
            sf_aws_asg_fini(&g);
        }
        break;
    }
    case 2: {
        struct sf_aws_ec2_instance in[8];
        int n = 0;
        char next[128];
        rc = sf_aws_xml_read_instances(body, len, in, 8, &n, next, sizeof(next), &err);
        if (n < 0 || n > 8)
            abort();
        break;
    }
    default: {
        struct sf_aws_target_health t[8];
        int n = 0;
        rc = sf_aws_xml_read_target_health(body, len, t, 8, &n, &err);
        if (n < 0 || n > 8)
            abort();
        break;
    }
    }
    if (rc != SF_OK && err.msg[0] == '\0')
        abort();
    return 0;
}
