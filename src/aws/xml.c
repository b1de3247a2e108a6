/*
 * xml.c - the Query API's XML (Auto Scaling, EC2, ELBv2) read with libxml2: error bodies and the
 * three describe responses. Untrusted input: no network, no entity substitution, no DTD (a
 * document with one is refused), no parser messages on stderr, element nesting capped, every
 * field copied into a fixed buffer only when it fits (ids) or cut (messages), every number
 * range-checked, and the element count bounded before anything is allocated.
 */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"

static xmlDocPtr parse(const char *body, size_t len, struct sf_err *err)
{
    if (len > SF_AWS_XML_MAX_BYTES) {
        sf_err_set(err, SF_ETOOBIG, "response: larger than %zu bytes", SF_AWS_XML_MAX_BYTES);
        return NULL;
    }
    xmlDocPtr d = xmlReadMemory(body, (int)len, "response.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                    XML_PARSE_NOCDATA);
    if (!d) {
        sf_err_set(err, SF_EPARSE, "response: not well-formed XML");
        return NULL;
    }
    if (d->intSubset || d->extSubset || !xmlDocGetRootElement(d)) {
        xmlFreeDoc(d);
        sf_err_set(err, SF_EPARSE, "response: a DTD or no root element");
        return NULL;
    }
    return d;
}

static int is(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (is(c, name))
            return c;
    return NULL;
}

/* The element at a path of child names under n ("A/B/C"), or NULL. */
static xmlNodePtr path(xmlNodePtr n, const char *p)
{
    char seg[64];
    while (n && *p) {
        size_t l = strcspn(p, "/");
        if (l >= sizeof(seg))
            return NULL;
        memcpy(seg, p, l);
        seg[l] = '\0';
        n = child(n, seg);
        p += l + (p[l] == '/');
    }
    return n;
}

static int depth_ok(xmlNodePtr n, int depth)
{
    if (depth > SF_AWS_XML_MAX_DEPTH)
        return 0;
    for (xmlNodePtr c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !depth_ok(c, depth + 1))
            return 0;
    return 1;
}

/* Text of element n into out: 1 copied, 0 absent, -1 too long (cut when cut is set). */
static int text(xmlNodePtr n, char *out, size_t size, int cut)
{
    out[0] = '\0';
    if (!n)
        return 0;
    xmlChar *t = xmlNodeGetContent(n);
    if (!t)
        return 0;
    size_t l = strlen((const char *)t);
    int rc = 1;
    if (l >= size) {
        rc = cut ? 1 : -1;
        l = cut ? size - 1 : 0;
    }
    memcpy(out, t, l);
    out[l] = '\0';
    xmlFree(t);
    return rc;
}

static int int_of(xmlNodePtr n, long lo, long hi, long *out)
{
    char buf[32], *end;
    if (text(n, buf, sizeof(buf), 0) != 1 || !buf[0])
        return -1;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int count(xmlNodePtr list, const char *item)
{
    int n = 0;
    for (xmlNodePtr c = list ? list->children : NULL; c; c = c->next)
        n += is(c, item);
    return n;
}

int sf_aws_xml_error(const char *body, size_t len, char *code, size_t code_size, char *msg,
                     size_t msg_size)
{
    code[0] = msg[0] = '\0';
    if (len > SF_AWS_ERROR_BODY_MAX_BYTES)
        return SF_ETOOBIG;
    xmlDocPtr d = parse(body, len, NULL);
    if (!d)
        return SF_EPARSE;
    xmlNodePtr r = xmlDocGetRootElement(d), e = NULL;
    if (is(r, "ErrorResponse"))
        e = child(r, "Error");
    else if (is(r, "Response"))
        e = path(r, "Errors/Error");
    int rc = SF_EPARSE;
    /* an error without a code is no error answer (an empty <Code/> reads as "") */
    if (e && depth_ok(r, 0) && text(child(e, "Code"), code, code_size, 1) == 1 && code[0]) {
        text(child(e, "Message"), msg, msg_size, 1);
        rc = SF_OK;
    }
    xmlFreeDoc(d);
    return rc;
}

int sf_aws_xml_read_asg(const char *body, size_t len, const char *group, struct sf_aws_asg *out,
                        struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d = parse(body, len, err);
    if (!d)
        return SF_EPARSE;
    int rc = SF_OK;
    xmlNodePtr r = xmlDocGetRootElement(d);
    xmlNodePtr groups = path(r, "DescribeAutoScalingGroupsResult/AutoScalingGroups");
    if (!is(r, "DescribeAutoScalingGroupsResponse") || !groups || !depth_ok(r, 0)) {
        rc = sf_err_set(err, SF_EPARSE,
                        "DescribeAutoScalingGroups: expected "
                        "DescribeAutoScalingGroupsResult/AutoScalingGroups");
        goto done;
    }
    xmlNodePtr g = NULL;
    for (xmlNodePtr m = groups->children; m; m = m->next) {
        char name[256];
        if (is(m, "member") && text(child(m, "AutoScalingGroupName"), name, sizeof(name), 0) == 1 &&
            !strcmp(name, group)) {
            g = m;
            break;
        }
    }
    if (!g) {
        rc = sf_err_set(err, SF_ENOTFOUND, "Auto Scaling group %s: not found", group);
        goto done;
    }
    long mn, mx, des;
    if (int_of(child(g, "MinSize"), 0, 1000000, &mn) ||
        int_of(child(g, "MaxSize"), 0, 1000000, &mx) ||
        int_of(child(g, "DesiredCapacity"), 0, 1000000, &des)) {
        rc = sf_err_set(err, SF_EPARSE,
                        "Auto Scaling group %s: MinSize, MaxSize, DesiredCapacity: expected "
                        "integers in 0..1000000",
                        group);
        goto done;
    }
    out->min_size = (int)mn;
    out->max_size = (int)mx;
    out->desired_capacity = (int)des;
    xmlNodePtr list = child(g, "Instances");
    int n = count(list, "member");
    if (n > SF_AWS_MAX_INSTANCES) {
        rc = sf_err_set(err, SF_ETOOBIG, "Auto Scaling group %s: %d instances, at most %d", group,
                        n, SF_AWS_MAX_INSTANCES);
        goto done;
    }
    if (n && !(out->instances = calloc((size_t)n, sizeof(*out->instances)))) {
        rc = sf_err_set(err, SF_ENOMEM, "no memory");
        goto done;
    }
    for (xmlNodePtr m = list ? list->children : NULL; m; m = m->next) {
        if (!is(m, "member"))
            continue;
        struct sf_aws_asg_instance *in = &out->instances[out->n_instances];
        if (text(child(m, "InstanceId"), in->instance_id, sizeof(in->instance_id), 0) != 1 ||
            !in->instance_id[0] ||
            text(child(m, "LifecycleState"), in->lifecycle_state, sizeof(in->lifecycle_state), 0) !=
                1 ||
            text(child(m, "HealthStatus"), in->health_status, sizeof(in->health_status), 0) < 0 ||
            text(child(m, "AvailabilityZone"), in->availability_zone, sizeof(in->availability_zone),
                 0) < 0) {
            rc = sf_err_set(err, SF_EPARSE,
                            "Auto Scaling group %s: instance %d: InstanceId and LifecycleState "
                            "required, each shorter than %d bytes",
                            group, out->n_instances + 1, SF_AWS_ID_MAX);
            goto done;
        }
        out->n_instances++;
    }
done:
    xmlFreeDoc(d);
    if (rc)
        sf_aws_asg_fini(out);
    return rc;
}

void sf_aws_asg_fini(struct sf_aws_asg *g)
{
    if (!g)
        return;
    free(g->instances);
    memset(g, 0, sizeof(*g));
}

int sf_aws_xml_read_instances(const char *body, size_t len, struct sf_aws_ec2_instance *out,
                              int cap, int *n_out, char *next_token, size_t next_size,
                              struct sf_err *err)
{
    if (next_size)
        next_token[0] = '\0';
    xmlDocPtr d = parse(body, len, err);
    if (!d)
        return SF_EPARSE;
    int rc = SF_OK, n = *n_out;
    xmlNodePtr r = xmlDocGetRootElement(d);
    xmlNodePtr rs = child(r, "reservationSet");
    if (!is(r, "DescribeInstancesResponse") || !rs || !depth_ok(r, 0)) {
        rc = sf_err_set(err, SF_EPARSE, "DescribeInstances: expected reservationSet");
        goto done;
    }
    for (xmlNodePtr res = rs->children; res; res = res->next) {
        if (!is(res, "item"))
            continue;
        for (xmlNodePtr it = child(res, "instancesSet") ? child(res, "instancesSet")->children
                                                        : NULL;
             it; it = it->next) {
            if (!is(it, "item"))
                continue;
            if (n >= cap) {
                rc = sf_err_set(err, SF_ETOOBIG, "DescribeInstances: more than %d instances", cap);
                goto done;
            }
            struct sf_aws_ec2_instance *e = &out[n];
            if (text(child(it, "instanceId"), e->instance_id, sizeof(e->instance_id), 0) != 1 ||
                !e->instance_id[0] ||
                text(path(it, "instanceState/name"), e->state, sizeof(e->state), 0) != 1 ||
                text(child(it, "privateIpAddress"), e->private_ip, sizeof(e->private_ip), 0) < 0) {
                rc = sf_err_set(err, SF_EPARSE,
                                "DescribeInstances: instance %d: instanceId and "
                                "instanceState/name required, each shorter than %d bytes",
                                n + 1, SF_AWS_ID_MAX);
                goto done;
            }
            n++;
        }
    }
    if (next_size && text(child(r, "nextToken"), next_token, next_size, 0) < 0)
        rc = sf_err_set(err, SF_EPARSE, "DescribeInstances: nextToken longer than %zu bytes",
                        next_size - 1);
done:
    *n_out = n;
    xmlFreeDoc(d);
    return rc;
}

int sf_aws_xml_read_target_health(const char *body, size_t len, struct sf_aws_target_health *out,
                                  int cap, int *n_out, struct sf_err *err)
{
    *n_out = 0;
    xmlDocPtr d = parse(body, len, err);
    if (!d)
        return SF_EPARSE;
    int rc = SF_OK, n = 0;
    xmlNodePtr r = xmlDocGetRootElement(d);
    xmlNodePtr list = path(r, "DescribeTargetHealthResult/TargetHealthDescriptions");
    if (!is(r, "DescribeTargetHealthResponse") || !list || !depth_ok(r, 0)) {
        rc = sf_err_set(err, SF_EPARSE,
                        "DescribeTargetHealth: expected "
                        "DescribeTargetHealthResult/TargetHealthDescriptions");
        goto done;
    }
    for (xmlNodePtr m = list->children; m; m = m->next) {
        if (!is(m, "member"))
            continue;
        if (n >= cap) {
            rc = sf_err_set(err, SF_ETOOBIG, "DescribeTargetHealth: more than %d targets", cap);
            goto done;
        }
        struct sf_aws_target_health *t = &out[n];
        long port = 0;
        xmlNodePtr pn = path(m, "Target/Port");
        if (text(path(m, "Target/Id"), t->target_id, sizeof(t->target_id), 0) != 1 ||
            !t->target_id[0] ||
            text(path(m, "TargetHealth/State"), t->state, sizeof(t->state), 0) != 1 ||
            (pn && int_of(pn, 1, 65535, &port))) {
            rc = sf_err_set(err, SF_EPARSE,
                            "DescribeTargetHealth: target %d: Target/Id and TargetHealth/State "
                            "required, Port in 1..65535",
                            n + 1);
            goto done;
        }
        t->port = (int)port;
        n++;
    }
done:
    *n_out = n;
    xmlFreeDoc(d);
    return rc;
}
