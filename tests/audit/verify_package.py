#!/usr/bin/env python3
"""Checks a zhaoshang audit package independently of zhaoshang.

Needs only Python's standard library and `cryptography` (for Ed25519).
Usage: verify_package.py PACKAGE.tar
Exits 0 and prints a summary when every check passes; exits 1 naming the
first thing that fails.
"""

import hashlib
import json
import sys
import tarfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fail(message):
    print(f"FAILED: {message}")
    sys.exit(1)


def canonical(value):
    # RFC 8785 for the values zhaoshang stores: integers only, ASCII keys.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(envelope):
    rest = {k: v for k, v in envelope.items() if k != "hash"}
    return hashlib.sha256(canonical(rest)).hexdigest()


def leaf(hash_hex):
    return hashlib.sha256(b"\x00" + bytes.fromhex(hash_hex)).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_hash, index, size, path, root):
    """RFC 9162 section 2.1.3.2, every element checked."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 section 2.1.4.2, every element checked."""
    if first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def check_head(head, key, key_id):
    if head["key_id"] != key_id:
        fail(f"tree head {head['tree_size']} names another key")
    message = "\n".join(
        ["zhaoshang-tree-head-v1", head["stream"], str(head["tree_size"]), head["root_hash"], head["timestamp"]]
    ).encode("utf-8")
    try:
        key.verify(bytes.fromhex(head["signature"]), message)
    except (InvalidSignature, ValueError):
        fail(f"the signature of tree head {head['tree_size']} does not verify")


def main(path):
    with tarfile.open(path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    for name in ["events.jsonl", "tree-head.json", "consistency.json", "public-key.hex", "README.md", "manifest.json"]:
        if name not in files:
            fail(f"the package has no {name}")
    public = bytes.fromhex(files["public-key.hex"].decode().strip())
    key = Ed25519PublicKey.from_public_bytes(public)
    key_id = hashlib.sha256(public).hexdigest()
    head = json.loads(files["tree-head.json"])
    check_head(head, key, key_id)
    root = bytes.fromhex(head["root_hash"])

    last_hash = {}
    lines = [line for line in files["events.jsonl"].decode("utf-8").splitlines() if line]
    for line in lines:
        item = json.loads(line)
        event, sequence = item["event"], item["sequence"]
        if event_hash(event) != event["hash"]:
            fail(f"event {event['id']} at sequence {sequence}: its content does not hash to its hash")
        aggregate = (event["aggregatetype"], event["aggregateid"])
        if aggregate in last_hash:
            version, previous = last_hash[aggregate]
            if event["aggregateversion"] == version + 1 and event.get("prevhash") != previous:
                fail(f"event {event['id']} at sequence {sequence}: prevhash is not the previous event's hash")
        elif event["aggregateversion"] == 1 and "prevhash" in event:
            fail(f"event {event['id']} at sequence {sequence}: a first event has a prevhash")
        last_hash[aggregate] = (event["aggregateversion"], event["hash"])
        if item["leaf_index"] != sequence - 1:
            fail(f"sequence {sequence}: wrong leaf index")
        audit_path = [bytes.fromhex(h) for h in item["audit_path"]]
        if not verify_inclusion(leaf(event["hash"]), sequence - 1, head["tree_size"], audit_path, root):
            fail(f"event {event['id']} at sequence {sequence}: the inclusion proof does not lead to the signed root")

    proofs = json.loads(files["consistency.json"])
    for proof in proofs:
        first, second = proof["first"], proof["second"]
        check_head(first, key, key_id)
        check_head(second, key, key_id)
        if second != head:
            fail("a consistency proof does not end at the package's tree head")
        path = [bytes.fromhex(h) for h in proof["path"]]
        if not verify_consistency(
            first["tree_size"],
            second["tree_size"],
            bytes.fromhex(first["root_hash"]),
            bytes.fromhex(second["root_hash"]),
            path,
        ):
            fail(f"tree head {first['tree_size']} is not consistent with tree head {second['tree_size']}")

    print(
        f"OK: {len(lines)} events, tree head {head['tree_size']} signed by key {key_id[:16]}, "
        f"{len(proofs)} consistency proofs"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1])
