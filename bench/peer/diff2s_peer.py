#!/usr/bin/env python3
"""
diff2s PyTorch peer: executes an engine-neutral diff2s NetworkDef (the JSON that @diff2s/engine's defineUNet
returns) by walking its ops, on weights from a diff2s weights manifest (weights.json + weights.bin of a model folder,
or any tensor bundle in the same format). There is no hand-written UNet here: every network this runs is the one
the TypeScript builder described, so the PyTorch side and the tfjs side are the same network by construction.

Semantics follow packages/engine/src/net/def.ts exactly (NCHW, PyTorch/ONNX parameter layouts), so most ops map
one-to-one onto torch.nn.functional.

Also here: the Diff-2sIR refiner loop (DDPM, known pixels pasted back clean, encoder+middle run twice as one 2N batch
with the channel swap at h-1 and h — packages/refiner/src/network.ts) and one training step (forward, masked loss,
backward, Adam) — the work the benchmark (bench/run.js) times side by side with the TypeScript engine.

Tensor bundles: a JSON manifest {"format": "diff2s.weights", "file": "x.bin", "entries": [{name, shape, offset,
length}]} next to a little-endian float32 file. Model folders' weights.json is such a manifest.

CLI (python3 bench/peer/diff2s_peer.py <command> --help):
  run    evaluate a network on a bundle of inputs, write a bundle of outputs (numerics checks)
  bench  time forward / train / refine for the benchmark; prints one JSON line
  info   versions, one JSON line
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

SECTION_ORDER = ("embed", "encoder", "middle", "decoder")


# ---------------------------------------------------------------------------------------------------------------
# Tensor bundles (the diff2s weights manifest format)

def load_bundle(manifest_path):
    """Read a diff2s tensor bundle (manifest JSON + float32 LE file) into {name: float32 tensor}."""
    with open(manifest_path) as f:
        manifest = json.load(f)
    if manifest.get("format") != "diff2s.weights" or manifest.get("dtype", "float32") != "float32":
        raise ValueError(f"{manifest_path}: not a diff2s float32 tensor manifest")
    bin_path = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), manifest.get("file", "weights.bin"))
    with open(bin_path, "rb") as f:
        raw = bytearray(f.read())
    if sys.byteorder != "little":
        raise RuntimeError("big-endian hosts are not supported")
    out = {}
    for e in manifest["entries"]:
        n = int(e["length"])
        t = torch.frombuffer(raw, dtype=torch.float32, count=n, offset=int(e["offset"])).clone()
        out[e["name"]] = t.reshape(e["shape"]) if len(e["shape"]) else t.reshape(())
    return out


def save_bundle(manifest_path, tensors):
    """Write {name: tensor} as a diff2s tensor bundle (manifest + `<stem>.bin` next to it)."""
    stem = os.path.splitext(os.path.basename(manifest_path))[0]
    bin_name = stem + ".bin"
    entries, chunks, off = [], [], 0
    for name, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().cpu()
        b = a.numpy().tobytes() if hasattr(a, "numpy") else bytes(a.untyped_storage())
        entries.append({"name": name, "shape": list(a.shape), "offset": off, "length": a.numel()})
        chunks.append(b)
        off += len(b)
    with open(os.path.join(os.path.dirname(os.path.abspath(manifest_path)), bin_name), "wb") as f:
        for c in chunks:
            f.write(c)
    with open(manifest_path, "w") as f:
        json.dump({"format": "diff2s.weights", "version": 1, "dtype": "float32", "byteOrder": "little",
                   "file": bin_name, "totalBytes": off, "entries": entries}, f)


# ---------------------------------------------------------------------------------------------------------------
# The network: a NetworkDef walked op by op

class PeerNetwork:
    """A diff2s NetworkDef executed with PyTorch (NCHW). `params` maps parameter names to leaf tensors."""

    def __init__(self, net_def, weights=None, seed=0):
        if net_def.get("format") != "diff2s.network":
            raise ValueError("not a diff2s NetworkDef (format != diff2s.network)")
        self.net_def = net_def
        self.io = net_def["io"]
        self.params = {}
        gen = torch.Generator().manual_seed(seed)
        for p in net_def["params"]:
            shape = p["shape"]
            if weights is not None:
                if p["name"] not in weights:
                    raise KeyError(f'weights lack parameter "{p["name"]}" {shape}')
                w = weights[p["name"]].reshape(shape).to(torch.float32).clone()
            else:
                w = _init(p, gen)
            self.params[p["name"]] = w.requires_grad_(True)
        self._freqs = {}

    def parameters(self):
        return [self.params[p["name"]] for p in self.net_def["params"]]

    def param_count(self):
        return sum(t.numel() for t in self.params.values())

    # -- ops -------------------------------------------------------------------------------------------------
    def _freq(self, dim, max_period):
        key = (dim, max_period)
        if key not in self._freqs:
            half = dim // 2
            # computed in float64 then rounded to float32, as the tfjs runner does
            self._freqs[key] = torch.tensor([math.exp(-math.log(max_period) * k / half) for k in range(half)],
                                            dtype=torch.float32)
        return self._freqs[key]

    def run_op(self, op, env):
        P = self.params
        kind = op["op"]
        if kind == "conv2d":
            return F.conv2d(env[op["in"]], P[op["weight"]], P[op["bias"]] if op.get("bias") else None,
                            stride=op["stride"], padding=op["pad"])
        if kind == "groupNorm":
            return F.group_norm(env[op["in"]], op["groups"], P[op["scale"]], P[op["shift"]], op["eps"])
        if kind == "act":
            x = env[op["in"]]
            return F.relu(x) if op["fn"] == "relu" else F.silu(x)
        if kind == "add":
            return env[op["a"]] + env[op["b"]]
        if kind == "addVector":
            v = env[op["vec"]]
            return env[op["in"]] + v[:, :, None, None]
        if kind == "scaleShift":
            v = env[op["vec"]]
            c = v.shape[1] // 2
            return env[op["in"]] * (1 + v[:, :c, None, None]) + v[:, c:, None, None]
        if kind == "concat":
            return torch.cat([env[i] for i in op["ins"]], dim=1)
        if kind == "avgPool2":
            return F.avg_pool2d(env[op["in"]], 2)
        if kind == "upsample2":
            return F.interpolate(env[op["in"]], scale_factor=2, mode="nearest")
        if kind == "dense":
            return F.linear(env[op["in"]], P[op["weight"]], P[op["bias"]] if op.get("bias") else None)
        if kind == "timestepEmbedding":
            v = env[op["in"]].to(torch.float32) * op["scale"]
            args = v[:, None] * self._freq(op["dim"], op["maxPeriod"])[None, :]
            return torch.cat([torch.cos(args), torch.sin(args)], dim=1)
        if kind == "tile":
            v, like = env[op["in"]], env[op["like"]]
            return v[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])
        if kind == "attention":
            return self._attention(env[op["in"]], op)
        raise ValueError(f'unknown op "{kind}"')

    def _attention(self, x, op):
        P = self.params
        n, c, h, w = x.shape
        t = h * w
        heads = op["heads"]
        d = c // heads
        flat = x.reshape(n, c, t).transpose(1, 2)  # [N, T, C]
        qkv = F.linear(flat, P[op["qkvWeight"]], P[op["qkvBias"]] if op.get("qkvBias") else None)
        qkv = qkv.reshape(n, t, heads, 3, d).permute(3, 0, 2, 1, 4)  # [3, N, heads, T, d]
        q, k, v = qkv[0], qkv[1], qkv[2]
        wts = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d)), dim=-1)
        a = torch.matmul(wts, v).permute(0, 2, 1, 3).reshape(n, t, c)
        out = F.linear(a, P[op["projWeight"]], P[op["projBias"]] if op.get("projBias") else None)
        return out.transpose(1, 2).reshape(n, c, h, w)

    # -- sections --------------------------------------------------------------------------------------------
    def run(self, sections, inputs, outputs):
        env = dict(inputs)
        for s in sections:
            for op in self.net_def["sections"][s]["ops"]:
                env[op["out"]] = self.run_op(op, env)
        return [env[o] for o in outputs]

    def forward(self, x, noise):
        io = self.io
        return self.run(SECTION_ORDER, {io["input"]: x, io["noise"]: noise}, [io["output"]])[0]

    def embed(self, noise):
        return self.run(["embed"], {self.io["noise"]: noise}, self.io["embeddings"])

    def _emb_inputs(self, emb):
        return dict(zip(self.io["embeddings"], emb))

    def encode(self, x, emb):
        io = self.io
        out = self.run(["encoder"], {io["input"]: x, **self._emb_inputs(emb)}, [io["hEnc"], *io["skips"]])
        return out[0], out[1:]

    def middle(self, h, emb):
        io = self.io
        return self.run(["middle"], {io["hEnc"]: h, **self._emb_inputs(emb)}, [io["hMid"]])[0]

    def decode(self, h, skips, emb):
        io = self.io
        inputs = {io["hMid"]: h, **self._emb_inputs(emb)}
        for name, s in zip(io["skips"], skips):
            inputs[name] = s
        return self.run(["decoder"], inputs, [io["output"]])[0]


def _init(p, gen):
    """Seeded initialisation by the spec's kind (the peer's own stream; the bench passes tfjs weights instead)."""
    init, shape = p["init"], p["shape"]
    if init["kind"] == "zeros":
        return torch.zeros(shape)
    if init["kind"] == "ones":
        return torch.ones(shape)
    if init["kind"] == "he":
        return torch.randn(shape, generator=gen) * math.sqrt(2.0 / init["fanIn"])
    if init["kind"] == "glorot":
        lim = math.sqrt(6.0 / (init["fanIn"] + init["fanOut"]))
        return (torch.rand(shape, generator=gen) * 2 - 1) * lim
    raise ValueError(f'unknown init kind {init["kind"]}')


# ---------------------------------------------------------------------------------------------------------------
# Model configuration pieces the NetworkDef does not carry (the input layout and the noise input)

class Layout:
    """How the UNet input is built from x_t, x_m and the mask (engine's buildUNetInput), and what noise it sees."""

    def __init__(self, config):
        cond = config.get("conditioning", {"inputs": ["xt", "xm", "mask"], "holeFill": "zero"})
        self.inputs = cond.get("inputs", ["xm", "xt"])
        self.hole_fill = cond.get("holeFill", "asGiven")
        self.noise_input = config.get("noise", {}).get("input", "alphaBar")
        self.prediction = config.get("predictionType", "epsilon")
        self.conditional = any(k in ("xm", "mask") for k in self.inputs)

    def build_input(self, xt, xm, mask):
        parts = []
        for k in self.inputs:
            if k == "xt":
                parts.append(xt)
            elif k == "mask":
                parts.append(mask)
            else:
                parts.append(xm * (mask < 0.5).to(xm.dtype) if self.hole_fill == "zero" else xm)
        return torch.cat(parts, dim=1)

    def noise_level(self, t, alpha_bar):
        if self.noise_input == "t":
            return float(t)
        if self.noise_input == "alphaBar":
            return float(alpha_bar)
        return math.sqrt(alpha_bar)


def linear_schedule(T, beta_start, beta_end):
    """Index 1..T (index 0: ᾱ = 1), float64, as core's TabulatedSchedule."""
    betas = [0.0] + [beta_start if T == 1 else beta_start + (beta_end - beta_start) * i / (T - 1) for i in range(T)]
    ab = [1.0]
    for t in range(1, T + 1):
        ab.append(ab[-1] * (1 - betas[t]))
    return betas, ab


def swap_channels(a, b, fraction):
    """Cat[a¹, b²]: the first C − round(C·f) channels of a, the rest from b (refiner/src/swap.ts)."""
    c = a.shape[1]
    k = int(math.floor(c * fraction + 0.5))
    return torch.cat([a[:, : c - k], b[:, c - k:]], dim=1)


def to_x0(pred, kind, xt, ab):
    a, s = math.sqrt(ab), math.sqrt(1 - ab)
    if kind == "x0":
        return pred
    if kind == "epsilon":
        return (xt - s * pred) / a
    return a * xt - s * pred  # v


@torch.no_grad()
def refine(net, layout, guide, image, mask, schedule, tk, gen, swap_fraction=0.5):
    """
    Diff-2sIR⁺ (Alg. 3) with DDPM ancestral steps, posterior variance, x̂₀ clipped, known pixels pasted clean
    (eq. 18); the refiner network (eqs. 15–17) with encoder+middle of the x_t and x̄_t passes as one 2N batch.
    x̄_t carries noise in the hole only for conditional networks (the refiner's `noiseRegion: auto`).
    """
    betas, ab = schedule
    known = (mask < 0.5).to(image.dtype)
    hole = 1 - known
    n = image.shape[0]
    xm = torch.randn(image.shape, generator=gen) * hole + image * known
    x = math.sqrt(ab[tk]) * guide + math.sqrt(1 - ab[tk]) * torch.randn(image.shape, generator=gen)
    x = x * hole + image * known
    for t in range(tk, 0, -1):
        a_t = ab[t]
        g = math.sqrt(a_t) * guide + math.sqrt(1 - a_t) * torch.randn(guide.shape, generator=gen)
        g_t = g * hole + image * known if layout.conditional else g
        level = layout.noise_level(t, a_t)
        inp = torch.cat([layout.build_input(x, xm, mask), layout.build_input(g_t, xm, mask)], dim=0)
        emb2 = net.embed(torch.full((2 * n,), level, dtype=torch.float32))
        h, skips = net.encode(inp, emb2)
        a_h, b_h = h[:n], h[n:]
        mids = net.middle(torch.cat([swap_channels(a_h, b_h, swap_fraction), b_h], dim=0), emb2)
        hm = swap_channels(mids[:n], mids[n:], swap_fraction)
        emb1 = [e[:n] for e in emb2]
        pred = net.decode(hm, [s[:n] for s in skips], emb1)
        x0 = to_x0(pred, layout.prediction, x, a_t).clamp(-1, 1)
        a_prev = ab[t - 1]
        beta = betas[t]
        c0 = math.sqrt(a_prev) * beta / (1 - a_t)
        ct = math.sqrt(1 - beta) * (1 - a_prev) / (1 - a_t)
        x = c0 * x0 + ct * x
        if t > 1:
            x = x + math.sqrt((1 - a_prev) / (1 - a_t) * beta) * torch.randn(x.shape, generator=gen)
        x = x * hole + image * known
    return (x * hole).clamp(-1, 1) + image * known


def masked_loss(pred, target, weight, loss="mse"):
    diff = pred - target
    l = diff * diff if loss == "mse" else diff.abs()
    if weight is not None:
        l = l * weight
    return l.sum() / target.numel()


# ---------------------------------------------------------------------------------------------------------------
# Memory

def peak_rss_mb():
    """VmHWM from /proc/self/status (MB), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------------------------------------------
# CLI

def _load_net(args):
    with open(args.net_def) as f:
        d = json.load(f)
    weights = load_bundle(args.weights) if args.weights else None
    return PeerNetwork(d, weights, seed=args.seed)


def _layout(args):
    if args.config:
        with open(args.config) as f:
            cfg = json.load(f)
        # a model card carries the config under "config"
        return Layout(cfg.get("config", cfg))
    return Layout({"conditioning": {"inputs": ["xt", "xm", "mask"], "holeFill": "zero"},
                   "noise": {"input": "t"}, "predictionType": "x0"})


def cmd_run(args):
    """
    Evaluate on a bundle of inputs. Inputs (by name): `x` [N,Cin,H,W], `noise` [N]; optional `target`, `weight`
    (→ `loss` and `grad:<param>`); optional `guideX` (a second network input, the x̄_t pass) (→ `refined`: the
    refiner network's prediction with the channel swap at both spaces, swap fraction `--swap`).
    Outputs: `output`, `hEnc`, `hMid`, `emb:<i>` and the above.
    """
    net = _load_net(args)
    inp = load_bundle(args.inputs)
    x, noise = inp["x"], inp["noise"].reshape(-1)
    io = net.io
    out = {}
    with torch.no_grad():
        env = net.run(SECTION_ORDER, {io["input"]: x, io["noise"]: noise}, [io["output"], io["hEnc"], io["hMid"], *io["embeddings"]])
        out["output"], out["hEnc"], out["hMid"] = env[0], env[1], env[2]
        for i, e in enumerate(env[3:]):
            out[f"emb:{i}"] = e
        if "guideX" in inp:
            n = x.shape[0]
            emb2 = net.embed(torch.cat([noise, noise]))
            h, skips = net.encode(torch.cat([x, inp["guideX"]]), emb2)
            mids = net.middle(torch.cat([swap_channels(h[:n], h[n:], args.swap), h[n:]]), emb2)
            hm = swap_channels(mids[:n], mids[n:], args.swap)
            out["refined"] = net.decode(hm, [s[:n] for s in skips], [e[:n] for e in emb2])
    if "target" in inp:
        pred = net.forward(x, noise)
        loss = masked_loss(pred, inp["target"], inp.get("weight"), args.loss)
        loss.backward()
        out["loss"] = loss.detach().reshape(1)
        for name, p in net.params.items():
            out[f"grad:{name}"] = p.grad
    save_bundle(args.out, out)
    print(json.dumps({"ok": True, "outputs": list(out.keys())}))


def _median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def _rand_batch(gen, n, size, layout, cin, T):
    xt = torch.randn((n, 3, size, size), generator=gen)
    xm = torch.randn((n, 3, size, size), generator=gen)
    mask = (torch.rand((n, 1, size, size), generator=gen) < 0.3).to(torch.float32)
    x = layout.build_input(xt, xm, mask)
    if x.shape[1] != cin:
        raise ValueError(f"layout builds {x.shape[1]} channels, the network takes {cin}")
    noise = torch.randint(1, T + 1, (n,), generator=gen).to(torch.float32)
    return x, noise, torch.randn((n, 3, size, size), generator=gen), mask


def cmd_bench(args):
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    net = _load_net(args)
    layout = _layout(args)
    cin = net.net_def["shapes"]["inputChannels"]
    res = {"task": args.task, "threads": torch.get_num_threads(), "torch": torch.__version__, "params": net.param_count()}
    times = []
    if args.task == "forward":
        x, noise, _, _ = _rand_batch(gen, args.batch, args.size, layout, cin, 1000)
        with torch.no_grad():
            net.forward(x, noise)  # warm-up
            for _ in range(args.reps):
                t0 = time.perf_counter()
                net.forward(x, noise)
                times.append(time.perf_counter() - t0)
    elif args.task == "train":
        x, noise, target, mask = _rand_batch(gen, args.batch, args.size, layout, cin, 1000)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = masked_loss(net.forward(x, noise), target, mask)
            loss.backward()
            opt.step()
            return float(loss)

        step()  # warm-up
        for _ in range(args.reps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    elif args.task == "refine":
        if args.images:
            imgs = load_bundle(args.images)
            guide, image, mask = imgs["guide"], imgs["image"], imgs["mask"]
        else:
            s = args.size
            image = torch.rand((1, 3, s, s), generator=gen) * 2 - 1
            guide = image.clone()
            mask = torch.zeros((1, 1, s, s))
            mask[:, :, s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 1
        sched = linear_schedule(args.T, args.beta_start, args.beta_end)
        res["size"] = list(image.shape)
        res["tk"] = args.tk
        out = None
        # warm-up (one step, its own generator): thread pool and oneDNN primitives, as ours creates its session untimed
        refine(net, layout, guide, image, mask, sched, 1, torch.Generator().manual_seed(args.seed + 1), args.swap)
        for _ in range(args.reps):
            t0 = time.perf_counter()
            out = refine(net, layout, guide, image, mask, sched, args.tk, gen, args.swap)
            times.append(time.perf_counter() - t0)
        known = mask < 0.5
        res["knownMaxDiff"] = float((out - image).abs().masked_select(known.expand_as(out)).max()) if known.any() else 0.0
        if args.out:
            save_bundle(args.out, {"refined": out})
    else:
        raise ValueError(f"unknown task {args.task}")
    res["seconds"] = times
    res["median"] = _median(times) if times else None
    res["peakRssMB"] = peak_rss_mb()
    print(json.dumps(res))


def cmd_info(_args):
    cfg = torch.__config__.show()
    blas = next((part.split("=")[1] for part in cfg.replace(",", " ").split() if part.startswith("BLAS_INFO=")), "unknown")
    print(json.dumps({"torch": torch.__version__, "python": sys.version.split()[0], "threads": torch.get_num_threads(),
                      "mkldnn": bool(torch.backends.mkldnn.is_available()), "blas": blas,
                      "capability": next((l.split(":")[1].strip() for l in cfg.splitlines() if "CPU capability" in l), "")}))


def main(argv=None):
    p = argparse.ArgumentParser(prog="diff2s_peer", description="diff2s PyTorch peer (NetworkDef walker)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--def", dest="net_def", required=True, help="NetworkDef JSON (defineUNet output)")
        sp.add_argument("--weights", help="weights manifest (weights.json of a model folder); default: seeded init")
        sp.add_argument("--config", help="UNet config JSON or model card (input layout, noise input, prediction type); default: frugal")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--threads", type=int, default=2)
        sp.add_argument("--swap", type=float, default=0.5, help="refiner swap fraction")

    r = sub.add_parser("run", help="evaluate on an input bundle, write an output bundle")
    common(r)
    r.add_argument("--inputs", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--loss", default="mse", choices=["mse", "l1"])

    b = sub.add_parser("bench", help="time forward / train / refine")
    common(b)
    b.add_argument("--task", required=True, choices=["forward", "train", "refine"])
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--size", type=int, default=64)
    b.add_argument("--reps", type=int, default=3)
    b.add_argument("--tk", type=int, default=200)
    b.add_argument("--T", type=int, default=1000)
    b.add_argument("--beta-start", type=float, default=1e-4)
    b.add_argument("--beta-end", type=float, default=0.02)
    b.add_argument("--images", help="bundle with guide, image, mask [1,*,S,S] (refine)")
    b.add_argument("--out", help="write the refined image as a bundle (refine)")

    sub.add_parser("info", help="versions")
    args = p.parse_args(argv)
    torch.set_num_threads(getattr(args, "threads", 2))
    {"run": cmd_run, "bench": cmd_bench, "info": cmd_info}[args.cmd](args)


if __name__ == "__main__":
    main()
