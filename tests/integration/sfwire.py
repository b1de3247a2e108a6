"""sfwire.py - serflow's internal wire, written again from its documentation (include/serflow/
auth.h, include/serflow/wire.h) for the integration tests: identities and request signatures,
response MACs, input and result frames. Not a test itself (the tests are the *.sh scripts)."""
import hashlib
import hmac
import os
import struct
import time
import urllib.request


def derive(root, principal):
    """K(p) = HMAC-SHA256(root, "serflow principal " p)"""
    return hmac.new(root, b"serflow principal " + principal.encode(), hashlib.sha256).digest()


def sign(key, principal, method, path, ts_ms=None, nonce=None):
    """the X-Serflow-Auth value and its nonce"""
    ts_ms = ts_ms if ts_ms is not None else int(time.time() * 1000)
    nonce = nonce or os.urandom(16).hex()
    msg = "serflow-v1 request\n%s\n%s\n%d\n%s" % (method, path, ts_ms, nonce)
    mac = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
    return "%s %d %s %s" % (principal, ts_ms, nonce, mac), nonce


def response_ok(key, nonce, status, header):
    msg = "serflow-v1 response\n%s\n%d" % (nonce, status)
    want = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(want, header)


def input_frame(ids, x, dims, tau=0.5):
    """SFIB: 0 magic, 4 u16 version, 6 u16 ndim, 8 u32 n, 12 f32 tau, 16 u32 dims[3], 28 u32 0,
    n x u64 id, n x numel x f32"""
    d = list(dims) + [0] * (3 - len(dims))
    head = b"SFIB" + struct.pack("<HHIf3II", 1, len(dims), len(ids), tau, *d, 0)
    return head + struct.pack("<%dQ" % len(ids), *ids) + struct.pack("<%df" % len(x), *x)


def result_frame(records, classes=10):
    """SFRS from (id, label, status, exit_stage, probs) tuples"""
    out = b"SFRS" + struct.pack("<HHII", 1, classes, len(records), 0)
    for rid, label, status, stage, probs in records:
        out += struct.pack("<QhBBBBHfI", rid, label, status, stage, 0, 0, 0, max(probs), 0)
        out += struct.pack("<%df" % classes, *probs)
    return out


def input_ids(frame):
    n = struct.unpack_from("<I", frame, 8)[0]
    return list(struct.unpack_from("<%dQ" % n, frame, 32))


def request(url, body=None, headers=None, method=None, timeout=10):
    """(status, headers, body) of one HTTP request; errors are answers too, and no answer at all
    (refused, reset, timed out) is status 0"""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    except (urllib.error.URLError, OSError):
        return 0, {}, b""
