/* cloud_int.h - what the files of src/cloud/ share (never installed): the function providers'
 * call helpers and constructors. */
#ifndef SERFLOW_CLOUD_INT_H
#define SERFLOW_CLOUD_INT_H

#include "serflow/cloud.h"

/* A function's name or ARN (Lambda takes at most 170 characters with a qualifier; the aws
 * module refuses above 256). */
#define SF_FN_NAME_MAX 256
/* An Invoke URL: a base URL (512) and the encoded name. */
#define SF_FN_URL_MAX (512 + 3 * SF_FN_NAME_MAX + 64)

/* Clears a call's outputs (frees an answer left from before): status SF_EIO, no bill. */
void sf__fn_call_reset(struct sf_fn_call *c);
/* Copies msg into c->error (cut to its size). */
void sf__fn_call_error(struct sf_fn_call *c, const char *msg);
/* The status of an HTTP answer of an Invoke API (Lambda's semantics; 0: no answer). */
int sf__fn_status_of_http(long status);
/* The aws function provider (fn_aws.c). */
int sf__fn_aws_new(struct sf_fn *out, const struct sf_fn_cfg *cfg, struct sf_err *err);

#endif
