/*
 * query.c - the Query API calls (form-encoded POST, XML answers): Auto Scaling's
 * SetDesiredCapacity, DescribeAutoScalingGroups and TerminateInstanceInAutoScalingGroup, EC2's
 * DescribeInstances, ELBv2's DescribeTargetHealth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"

static const struct sf_aws_kv FORM_HEADERS[] = {
    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};

/* POSTs Action with params to service s; the 2xx body in *resp. */
static int query_call(struct sf_aws_client *c, enum sf_aws_service s, const char *action,
                      const struct sf_aws_kv *params, size_t n, struct sf__resp *resp,
                      struct sf_aws_call_info *info, struct sf_err *err)
{
    size_t len = 0;
    char *body = sf__query_body(s, action, params, n, &len);
    if (!body)
        return sf_err_set(err, SF_ENOMEM, "%s: no memory", action);
    struct sf__req req = {.svc = s,
                          .operation = action,
                          .method = "POST",
                          .path = "/",
                          .headers = FORM_HEADERS,
                          .n_headers = SF_ARRAY_LEN(FORM_HEADERS),
                          .body = body,
                          .body_len = len,
                          .max_body_bytes = SF_AWS_XML_MAX_BYTES};
    int rc = sf__aws_call(c, &req, resp, info, err);
    free(body);
    return rc;
}

static int check_name(const char *what, const char *v, size_t max, struct sf_err *err)
{
    if (!v || !*v || strlen(v) > max)
        return sf_err_set(err, SF_EINVAL, "%s: expected 1..%zu bytes", what, max);
    return SF_OK;
}

int sf_aws_asg_set_desired(struct sf_aws_client *c, const char *group, int desired,
                           struct sf_aws_call_info *info, struct sf_err *err)
{
    int rc = check_name("Auto Scaling group name", group, 255, err);
    if (rc)
        return rc;
    if (desired < 0 || desired > 1000000)
        return sf_err_set(err, SF_ERANGE, "desired capacity %d: expected 0..1000000", desired);
    char n[16];
    snprintf(n, sizeof(n), "%d", desired);
    struct sf_aws_kv p[] = {
        {"AutoScalingGroupName", group}, {"DesiredCapacity", n}, {"HonorCooldown", "false"}};
    struct sf__resp r;
    rc = query_call(c, SF_AWS_AUTOSCALING, "SetDesiredCapacity", p, SF_ARRAY_LEN(p), &r, info, err);
    sf__resp_fini(&r);
    return rc;
}

int sf_aws_asg_describe(struct sf_aws_client *c, const char *group, struct sf_aws_asg *out,
                        struct sf_aws_call_info *info, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = check_name("Auto Scaling group name", group, 255, err);
    if (rc)
        return rc;
    struct sf_aws_kv p[] = {{"AutoScalingGroupNames.member.1", group}};
    struct sf__resp r;
    rc = query_call(c, SF_AWS_AUTOSCALING, "DescribeAutoScalingGroups", p, SF_ARRAY_LEN(p), &r,
                    info, err);
    if (!rc) {
        rc = sf_aws_xml_read_asg(r.body, r.len, group, out, err);
        if (rc && rc != SF_ENOTFOUND && info)
            info->outcome = SF_AWS_BAD_RESPONSE;
    }
    sf__resp_fini(&r);
    return rc;
}

int sf_aws_asg_terminate(struct sf_aws_client *c, const char *instance_id, int decrement,
                         struct sf_aws_call_info *info, struct sf_err *err)
{
    int rc = check_name("instance id", instance_id, SF_AWS_ID_MAX - 1, err);
    if (rc)
        return rc;
    struct sf_aws_kv p[] = {{"InstanceId", instance_id},
                            {"ShouldDecrementDesiredCapacity", decrement ? "true" : "false"}};
    struct sf__resp r;
    rc = query_call(c, SF_AWS_AUTOSCALING, "TerminateInstanceInAutoScalingGroup", p,
                    SF_ARRAY_LEN(p), &r, info, err);
    sf__resp_fini(&r);
    return rc;
}

int sf_aws_ec2_describe_instances(struct sf_aws_client *c, const char *const *ids, int n,
                                  struct sf_aws_ec2_instance *out, int cap, int *n_out,
                                  struct sf_aws_call_info *info, struct sf_err *err)
{
    *n_out = 0;
    if (n < 1 || n > SF_AWS_MAX_INSTANCES)
        return sf_err_set(err, SF_ERANGE, "DescribeInstances: %d ids, expected 1..%d", n,
                          SF_AWS_MAX_INSTANCES);
    struct sf_aws_kv *p = calloc((size_t)n + 1, sizeof(*p));
    char(*names)[32] = calloc((size_t)n, sizeof(*names));
    char(*token)[1024] = calloc(1, sizeof(*token));
    int rc = SF_OK;
    if (!p || !names || !token) {
        rc = sf_err_set(err, SF_ENOMEM, "DescribeInstances: no memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if ((rc = check_name("instance id", ids[i], SF_AWS_ID_MAX - 1, err)))
            goto done;
        snprintf(names[i], sizeof(names[i]), "InstanceId.%d", i + 1);
        p[i] = (struct sf_aws_kv){names[i], ids[i]};
    }
    for (int page = 0;; page++) {
        if (page >= SF_AWS_MAX_PAGES) {
            rc = sf_err_set(err, SF_ETOOBIG, "DescribeInstances: more than %d pages",
                            SF_AWS_MAX_PAGES);
            goto done;
        }
        size_t np = (size_t)n;
        if ((*token)[0])
            p[np++] = (struct sf_aws_kv){"NextToken", *token};
        struct sf__resp r;
        rc = query_call(c, SF_AWS_EC2, "DescribeInstances", p, np, &r, info, err);
        if (!rc) {
            char next[sizeof(*token)];
            rc = sf_aws_xml_read_instances(r.body, r.len, out, cap, n_out, next, sizeof(next), err);
            memcpy(*token, next, sizeof(next));
            if (rc && info)
                info->outcome = SF_AWS_BAD_RESPONSE;
        }
        sf__resp_fini(&r);
        if (rc || !(*token)[0])
            break;
    }
done:
    free(p);
    free(names);
    free(token);
    return rc;
}

int sf_aws_elbv2_target_health(struct sf_aws_client *c, const char *target_group_arn,
                               struct sf_aws_target_health *out, int cap, int *n_out,
                               struct sf_aws_call_info *info, struct sf_err *err)
{
    *n_out = 0;
    int rc = check_name("target group ARN", target_group_arn, 1024, err);
    if (rc)
        return rc;
    struct sf_aws_kv p[] = {{"TargetGroupArn", target_group_arn}};
    struct sf__resp r;
    rc = query_call(c, SF_AWS_ELBV2, "DescribeTargetHealth", p, SF_ARRAY_LEN(p), &r, info, err);
    if (!rc) {
        rc = sf_aws_xml_read_target_health(r.body, r.len, out, cap, n_out, err);
        if (rc && info)
            info->outcome = SF_AWS_BAD_RESPONSE;
    }
    sf__resp_fini(&r);
    return rc;
}
