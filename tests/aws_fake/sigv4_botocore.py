#!/usr/bin/python3
"""sigv4_botocore.py - signs requests with botocore's own SigV4 signer and compares the result
with serflow's (tests/unit/test_aws.c writes the requests and serflow's Authorization headers).

Usage: sigv4_botocore.py FILE.jsonl
Each line: {"method", "url", "headers": [[name, value], ...], "body_hex", "region", "service",
"access_key", "secret_key", "token", "amz_date", "authorization"}. Prints "checked N" and exits
0 when every signature matches; else prints the first differences (canonical requests included)
and exits 1. Uses only botocore's public signer methods; the date comes from the line (not the
clock), which botocore's add_auth would read.
"""
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def botocore_sign(r):
    req = AWSRequest(method=r["method"], url=r["url"], data=bytes.fromhex(r["body_hex"]))
    for name, value in r["headers"]:
        req.headers[name] = value  # HTTPHeaders appends: repeated names stay repeated
    req.context["timestamp"] = r["amz_date"]
    auth = SigV4Auth(Credentials(r["access_key"], r["secret_key"], r["token"] or None),
                     r["service"], r["region"])
    # add_auth without its utcnow(): the same steps, in the same order
    auth._modify_request_before_signing(req)
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    sig = auth.signature(sts, req)
    auth._inject_signature_to_request(req, sig)
    return req.headers["Authorization"], creq


def main():
    n = bad = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            n += 1
            got, creq = botocore_sign(r)
            if got != r["authorization"]:
                bad += 1
                if bad <= 3:
                    print(f"request {n}: {r['method']} {r['url']}")
                    print(f"  botocore: {got}\n  serflow:  {r['authorization']}")
                    print("  botocore canonical request:\n    " + creq.replace("\n", "\n    "))
                    if "creq" in r:
                        print("  serflow canonical request:\n    " +
                              r["creq"].replace("\n", "\n    "))
    print(f"checked {n}, {bad} differ")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
