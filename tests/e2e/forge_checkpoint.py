#!/usr/bin/env python3
"""Forges a checkpoint as a hostile user would: edits the .pt and then
recomputes its manifest's size and SHA-256, so the manifest matches.

    forge_checkpoint.py MODE SRC_RUN DST_RUN

MODE: cut-half   the largest tensor record cut to half its bytes, pickle unchanged
      cut-small  the smallest non-empty tensor record cut to 4 bytes
      offset     the first tensor's storage offset in the pickle set past its storage
      adam-shape an Adam moment replaced by a tensor of another shape
Needs Debian's python3-torch for adam-shape (the other modes edit the zip).
"""
import hashlib
import json
import os
import re
import shutil
import sys
import zipfile

mode, src, dst = sys.argv[1:]
shutil.copytree(src, dst)
ckpt = os.path.join(dst, "checkpoints", "last.pt")
manifest = os.path.join(dst, "checkpoints", "last.manifest.json")

if mode in ("cut-half", "cut-small"):
    with zipfile.ZipFile(ckpt) as z:
        entries = [(i, z.read(i.filename)) for i in z.infolist()]
    data = [(i, b) for i, b in entries if re.search(r"/data/\d+$", i.filename) and len(b) > 4]
    victim = (max if mode == "cut-half" else min)(data, key=lambda e: len(e[1]))[0].filename
    with zipfile.ZipFile(ckpt + ".new", "w", zipfile.ZIP_STORED) as z:
        for info, body in entries:
            if info.filename == victim:
                body = body[: len(body) // 2] if mode == "cut-half" else body[:4]
            z.writestr(info.filename, body)
    os.replace(ckpt + ".new", ckpt)
elif mode == "offset":
    import pickletools
    import struct
    with zipfile.ZipFile(ckpt) as z:
        entries = [(i, z.read(i.filename)) for i in z.infolist()]
    name, pkl = next((i.filename, b) for i, b in entries if i.filename.endswith("/data.pkl"))
    ops = list(pickletools.genops(pkl))
    # _rebuild_tensor_v2(storage, storage_offset, ...): the int right after
    # the first persistent storage reference is the storage offset.
    k = next(i for i, (op, _, _) in enumerate(ops) if op.name == "BINPERSID")
    k += 1
    while ops[k][0].name in ("BINPUT", "LONG_BINPUT", "MEMOIZE"):  # the memo's bookkeeping
        k += 1
    op, arg, pos = ops[k]
    assert op.name in ("BININT1", "BININT", "BININT2") and arg == 0, (op.name, arg)
    size = {"BININT1": 2, "BININT2": 3, "BININT": 5}[op.name]
    forged = pkl[:pos] + b"J" + struct.pack("<i", 1000000) + pkl[pos + size:]
    with zipfile.ZipFile(ckpt + ".new", "w", zipfile.ZIP_STORED) as z:
        for info, body in entries:
            z.writestr(info.filename, forged if info.filename == name else body)
    os.replace(ckpt + ".new", ckpt)
elif mode == "adam-shape":
    import torch
    m = torch.jit.load(ckpt, map_location="cpu")
    done = False
    for name, sub in m.optimizer.named_modules():
        if sub._c.hasattr("exp_avg"):
            sub._c.setattr("exp_avg", torch.zeros(3))
            done = True
            break
    assert done, "no Adam state in " + ckpt
    m.save(ckpt)
else:
    sys.exit("unknown mode " + mode)

body = open(ckpt, "rb").read()
j = json.load(open(manifest))
j["files"][0]["bytes"] = len(body)
j["files"][0]["sha256"] = hashlib.sha256(body).hexdigest()
json.dump(j, open(manifest, "w"))
print(f"{mode}: forged {ckpt} ({len(body)} bytes), manifest recomputed")
