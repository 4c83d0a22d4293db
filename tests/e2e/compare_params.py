#!/usr/bin/python3
"""compare_params.py A.pt B.pt TOL: the largest |a - b| over all parameters
of two vae checkpoints (and a VQ-VAE's codebook buffers) (read with torch.jit.load); exit 1 above TOL (0:
they must be bit-identical)."""
import sys

import torch


def params(path):
    state = torch.jit.load(path, map_location="cpu").state_dict()
    model = ("encoder.", "decoder.", "top.", "pseudo_inputs", "codebook", "ema_")
    return {k: v for k, v in state.items() if k.startswith(model)}


a, b, tol = params(sys.argv[1]), params(sys.argv[2]), float(sys.argv[3])
assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
diff = max((a[k] - b[k]).abs().max().item() for k in a if a[k].numel())
same = all(torch.equal(a[k], b[k]) for k in a)
print(f"max |a - b| = {diff:.3g} over {sum(v.numel() for v in a.values())} parameters{' (bit-identical)' if same else ''}")
sys.exit(0 if (same if tol == 0 else diff <= tol) else 1)
