#!/usr/bin/python3
"""selftest.py - the fake AWS server checked with boto3 (in ctest as aws_fake_selftest).

Starts tests/aws_fake/fake_aws.py on 127.0.0.1, then with boto3's own clients (standard retry
mode) makes every call serflow's clients make and checks that botocore parses each answer into
the fake's state: Auto Scaling (SetDesiredCapacity, DescribeAutoScalingGroups,
TerminateInstanceInAutoScalingGroup), EC2 DescribeInstances, ELBv2 DescribeTargetHealth, Lambda
Invoke (with a log tail, a function error, 413, 404). Also: a throttled call that boto3 retries
to success, a 5xx, a wrong secret refused as SignatureDoesNotMatch, a request botocore's
serializer would not make refused, and IMDSv2 read by botocore's own InstanceMetadataFetcher.
Stops the server in every case. Exit 0 when all hold.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import botocore.utils

HERE = os.path.dirname(os.path.abspath(__file__))


def control(port, path, obj=None):
    data = None if obj is None else json.dumps(obj).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 method="GET" if obj is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def run(port):
    url = f"http://127.0.0.1:{port}"
    cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 3},
                                 connect_timeout=2, read_timeout=5)
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDFAKESERFLOW",
              aws_secret_access_key="fake/secret+key", config=cfg)
    asg, ec2 = boto3.client("autoscaling", **kw), boto3.client("ec2", **kw)
    elb, lam = boto3.client("elbv2", **kw), boto3.client("lambda", **kw)

    asg.set_desired_capacity(AutoScalingGroupName="serflow-workers", DesiredCapacity=3,
                             HonorCooldown=False)
    g = asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=["serflow-workers"])["AutoScalingGroups"]
    check(len(g) == 1 and g[0]["DesiredCapacity"] == 3 and len(g[0]["Instances"]) == 3,
          "SetDesiredCapacity 3 then DescribeAutoScalingGroups: 3 instances")
    check(all(i["LifecycleState"] == "Pending" for i in g[0]["Instances"]),
          "new instances are Pending")
    time.sleep(0.4)
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["serflow-workers"])
    ids = [i["InstanceId"] for i in g["AutoScalingGroups"][0]["Instances"]]
    check(all(i["LifecycleState"] == "InService" for i in g["AutoScalingGroups"][0]["Instances"]),
          "then InService")
    r = ec2.describe_instances(InstanceIds=ids)
    got = {i["InstanceId"]: i for res in r["Reservations"] for i in res["Instances"]}
    check(set(got) == set(ids) and all(i["State"]["Name"] == "running" and
                                       i["PrivateIpAddress"].startswith("127.0.1.")
                                       for i in got.values()),
          "DescribeInstances: running, with private IPs")
    arn = control(port, "/_fake/state")["target_group_arn"]
    th = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    check(sorted(t["Target"]["Id"] for t in th) == sorted(ids) and
          all(t["TargetHealth"]["State"] == "healthy" for t in th),
          "DescribeTargetHealth: every instance healthy")
    a = asg.terminate_instance_in_auto_scaling_group(InstanceId=ids[0],
                                                     ShouldDecrementDesiredCapacity=True)
    check(a["Activity"]["StatusCode"] == "InProgress", "TerminateInstanceInAutoScalingGroup")
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["serflow-workers"])
    check(g["AutoScalingGroups"][0]["DesiredCapacity"] == 2, "decrement: desired 2")
    try:
        asg.set_desired_capacity(AutoScalingGroupName="serflow-workers", DesiredCapacity=99)
        check(False, "above max refused")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "ValidationError", "above max: ValidationError")

    out = lam.invoke(FunctionName="serflow-fn", Payload=b'{"x": 1}', LogType="Tail")
    body = json.loads(out["Payload"].read())
    check(out["StatusCode"] == 200 and body["bytes"] == 8 and
          out["ExecutedVersion"] == "$LATEST" and "FunctionError" not in out,
          "Invoke: 200, payload, executed version")
    import base64
    check("Billed Duration: " in base64.b64decode(out["LogResult"]).decode(),
          "Invoke: the log tail has a REPORT line")
    control(port, "/_fake/fault", {"service": "lambda", "kind": "function_error"})
    out = lam.invoke(FunctionName="serflow-fn", Payload=b"{}")
    check(out.get("FunctionError") == "Unhandled", "Invoke: function error header")
    for name, payload, code in (("nosuch", b"{}", "ResourceNotFoundException"),
                                ("serflow-fn", b"x" * (6 * 1024 * 1024 + 1),
                                 "RequestTooLargeException")):
        try:
            lam.invoke(FunctionName=name, Payload=payload)
            check(False, code)
        except botocore.exceptions.ClientError as e:
            check(e.response["Error"]["Code"] == code, f"Invoke: {code}")

    # throttling and 5xx: boto3 retries (standard mode) to success
    control(port, "/_fake/reset", {})
    control(port, "/_fake/fault", {"service": "autoscaling", "operation": "SetDesiredCapacity",
                                   "kind": "throttle", "count": 1})
    control(port, "/_fake/fault", {"service": "lambda", "kind": "throttle", "count": 1})
    control(port, "/_fake/fault", {"service": "ec2", "kind": "server_error", "count": 1})
    asg.set_desired_capacity(AutoScalingGroupName="serflow-workers", DesiredCapacity=1)
    lam.invoke(FunctionName="serflow-fn", Payload=b"{}")
    ec2.describe_instances(InstanceIds=ids[1:2])
    calls = control(port, "/_fake/calls")
    st = [(c["operation"], c["status"]) for c in calls["calls"]]
    check(st == [("SetDesiredCapacity", 400), ("SetDesiredCapacity", 200), ("Invoke", 429),
                 ("Invoke", 200), ("DescribeInstances", 500), ("DescribeInstances", 200)],
          f"throttles and 5xx retried by boto3 ({st})")
    check(calls["problems"] == [], "botocore parsed every answer, every signature matched")

    # a fault window: every matching call fails for for_s seconds from the first, then none
    control(port, "/_fake/reset", {})
    control(port, "/_fake/fault", {"service": "ec2", "operation": "DescribeInstances",
                                   "kind": "server_error", "for_s": 0.5})
    raw = boto3.client("ec2", **dict(kw, config=botocore.config.Config(
        retries={"total_max_attempts": 1})))
    t0, failed = time.time(), 0
    while time.time() - t0 < 0.3:
        try:
            raw.describe_instances(InstanceIds=ids[1:2])
        except botocore.exceptions.ClientError:
            failed += 1
    time.sleep(0.3)
    raw.describe_instances(InstanceIds=ids[1:2])
    st = [c["status"] for c in control(port, "/_fake/calls")["calls"]]
    check(failed >= 2 and st == [500] * failed + [200],
          f"a fault window fails every call in it, none after ({st})")

    # a window ended early by clear_faults
    control(port, "/_fake/reset", {})
    control(port, "/_fake/fault", {"service": "ec2", "operation": "DescribeInstances",
                                   "kind": "server_error", "for_s": 60})
    for _ in range(2):
        try:
            raw.describe_instances(InstanceIds=ids[1:2])
        except botocore.exceptions.ClientError:
            pass
    control(port, "/_fake/clear_faults", {"service": "ec2"})
    raw.describe_instances(InstanceIds=ids[1:2])
    st = [c["status"] for c in control(port, "/_fake/calls")["calls"]]
    check(st == [500, 500, 200], f"clear_faults ends a window ({st})")

    # a wrong secret, a request botocore would not make
    bad = boto3.client("autoscaling", **dict(kw, aws_secret_access_key="wrong"))
    try:
        bad.describe_auto_scaling_groups()
        check(False, "wrong secret refused")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "SignatureDoesNotMatch",
              "wrong secret: SignatureDoesNotMatch")
    control(port, "/_fake/reset", {})
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="POST", url=url + "/",
                     data=b"Action=SetDesiredCapacity&Version=2011-01-01&DesiredCapacity=x",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("AKIDFAKESERFLOW", "fake/secret+key"), "autoscaling",
              "us-east-1").add_auth(req)
    p = req.prepare()
    r = urllib.request.Request(p.url, data=p.body, headers=dict(p.headers), method="POST")
    try:
        urllib.request.urlopen(r, timeout=10)
        check(False, "malformed request refused")
    except urllib.error.HTTPError as e:
        check(e.code == 400 and b"InvalidParameterValue" in e.read(),
              "a request the model does not allow: 400")

    # IMDSv2 through botocore's own fetcher
    f = botocore.utils.InstanceMetadataFetcher(
        timeout=2, num_attempts=1, env={},
        config={"ec2_metadata_service_endpoint": url + "/"})
    creds = f.retrieve_iam_role_credentials()
    check(creds.get("access_key", "").startswith("ASIAFAKE") and creds.get("token"),
          "IMDSv2: botocore's fetcher reads the role's credentials")
    c2 = boto3.client("autoscaling", endpoint_url=url, region_name="us-east-1", config=cfg,
                      aws_access_key_id=creds["access_key"],
                      aws_secret_access_key=creds["secret_key"],
                      aws_session_token=creds["token"])
    c2.describe_auto_scaling_groups()
    check(True, "a call signed with the IMDS credentials and token is accepted")
    check(control(port, "/_fake/calls")["problems"] == [], "no problems recorded")


def main():
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fake_aws.py"),
                          "--lifetime-s", "120"], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("ready "):
            print("fake did not start:", line)
            return 1
        run(int(line.split()[1]))
        print("selftest: all checks passed")
        return 0
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
