// train.py of the PyTorch target: trains model.py's module with DistributedDataParallel on a
// run that `tfm train <spec> --torch-data DIR` wrote (the same batches, initial weights and
// settings tfm train would use), and writes tfm checkpoints (tfm forward reads them, tfm train
// --resume continues them). The same script for every model but for the class it imports.
import { escapeInvisible } from '../../common/text.ts';

const TEMPLATE = String.raw`r"""Trains __CLASS__ (model.py) with PyTorch's DistributedDataParallel.

1. Write the run with tfm (its data, tokenizer, initial weights and settings):
       tfm train specs/__SPEC__ --steps 1000 --batch 16 --torch-data data/__MODEL__
2. Train it on one machine with N processes (CPU: the gloo backend; GPUs: nccl, one per process):
       python3 train.py --data data/__MODEL__ --out runs/__MODEL__ --world-size 2
   or on several machines under torchrun, which starts the processes and sets RANK,
   WORLD_SIZE, MASTER_ADDR and MASTER_PORT (train.py then trains in the process it is in):
       torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
           train.py --data data/__MODEL__ --out runs/__MODEL__ --backend nccl
   A stopped run continues with --resume (from the newest checkpoint in --out, train.py's or
   tfm train's own on the same run).
3. Use a checkpoint with tfm: tfm forward specs/__SPEC__ -c runs/__MODEL__/ckpt-00001000/model.safetensors ...,
   or continue it: tfm train specs/__SPEC__ --steps 2000 --batch 16 --out runs/__MODEL__ --resume

Each step takes the batch tfm train would take at that step; the processes split its rows
evenly (--batch must be a multiple of the world size) and DistributedDataParallel averages their
gradients, which is the gradient of the whole batch when every row has as many targets (next-
token prediction) and close to it otherwise. Then the gradients are clipped to the global norm
and AdamW steps with tfm's settings (β 0.9/0.95, ε 1e-8, decoupled weight decay on the
matrices, warmup then cosine decay to a tenth of the peak). Checkpoints are tfm's: weights under
tfm's names, Adam's moments in tfm's order, the data generator's state, digests of every file;
written into a temporary folder, then renamed.

Models too large for one GPU: PyTorch 2's FullyShardedDataParallel wraps the same module
(torch.distributed.fsdp.FullyShardedDataParallel(model) in place of DDP(model)); checkpoints then
need model.tfm_weights() gathered on one rank (FSDP's state_dict_type FULL_STATE_DICT).
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import socket
import struct
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import __CLASS__ as Model  # noqa: E402

# safetensors files, read and written here: Debian's PyTorch has no safetensors package, and
# the format is small (an 8-byte length, a JSON header, raw little-endian tensors).
DTYPES = {"F32": np.float32, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + a : 8 + n + b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        raw = t.to(torch.float32).numpy().tobytes() if t.is_floating_point() else t.to(torch.int32).numpy().tobytes()
        header[name] = {"dtype": "F32" if t.is_floating_point() else "I32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def learning_rate(step, o, total):
    """tfm's schedule: linear warmup to the peak, then cosine decay to minLrRatio of it."""
    if step < o["warmup"]:
        return o["lr"] * (step + 1) / o["warmup"]
    span = max(1, total - o["warmup"])
    progress = min(1.0, (step - o["warmup"]) / span)
    low = o["lr"] * o["minLrRatio"]
    return low + 0.5 * (o["lr"] - low) * (1 + math.cos(math.pi * progress))


def write_checkpoint(args, run, model, optimizer, step, history):
    """A tfm checkpoint of this step: ckpt-<step>/ with model.safetensors (tfm's names),
    optimizer.safetensors (Adam's moments m and v in tfm's parameter order), the run's files
    (tokenizer.json) and state.json; then only the newest --keep are kept."""
    name = "ckpt-%08d" % step
    final = os.path.join(args.out, name)
    tmp = "%s.tmp-%d" % (final, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with torch.no_grad():
        weights = model.tfm_weights()
        write_safetensors(os.path.join(tmp, "model.safetensors"), {k: v.float() for k, v in weights.items()}, {"format": "pt"})
        stored = dict(model.named_parameters())
        moments = {}
        for key in ("exp_avg", "exp_avg_sq"):
            by_name = {n: optimizer.state[p][key] if p in optimizer.state else torch.zeros_like(p) for n, p in stored.items()}
            views = model.tfm_weights(by_name)
            moments[key] = torch.cat([views[p["name"]].reshape(-1).float().cpu() for p in run["params"]])
        write_safetensors(os.path.join(tmp, "optimizer.safetensors"), {"m": moments["exp_avg"], "v": moments["exp_avg_sq"]})
    for f in run["files"]:
        shutil.copyfile(os.path.join(args.data, f), os.path.join(tmp, f))
    files = {f: sha256(os.path.join(tmp, f)) for f in ["model.safetensors", "optimizer.safetensors", *run["files"]]}
    state = {
        "format": "tfm-checkpoint",
        "version": 2,
        "model": run["model"],
        "specHash": run["specHash"],
        "step": step,
        "optimizerSteps": step,
        "rng": run["rng"][step - 1],
        "naming": "internal",
        "history": history,
        "run": run["run"],
        "files": files,
    }
    with open(os.path.join(tmp, "state.json"), "w") as f:
        json.dump(state, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    for f in run["files"]:
        shutil.copyfile(os.path.join(args.data, f), os.path.join(args.out, f))
    old = sorted(d for d in os.listdir(args.out) if d.startswith("ckpt-") and ".tmp-" not in d)
    for d in old[: max(0, len(old) - args.keep)]:
        shutil.rmtree(os.path.join(args.out, d), ignore_errors=True)
    return final


def latest_checkpoint(out):
    """The newest complete checkpoint folder of a run folder (temporary folders ignored), or None."""
    if not os.path.isdir(out):
        return None
    names = sorted(d for d in os.listdir(out) if d.startswith("ckpt-") and ".tmp-" not in d)
    return os.path.join(out, names[-1]) if names else None


def load_checkpoint(path, run):
    """A tfm checkpoint's state and weights, its digests verified, refused when it belongs to
    another spec or another run."""
    with open(os.path.join(path, "state.json")) as f:
        state = json.load(f)
    if state.get("format") != "tfm-checkpoint" or state.get("specHash") != run["specHash"]:
        raise SystemExit("%s is not a checkpoint of this spec" % path)
    differ = [k for k in run["run"] if k != "steps" and state.get("run", {}).get(k) != run["run"][k]]
    if differ:
        raise SystemExit("%s was trained with other settings (%s) than %s/run.json" % (path, ", ".join(differ), "the data folder"))
    for name, digest in state["files"].items():
        if sha256(os.path.join(path, name)) != digest:
            raise SystemExit("%s/%s does not match its digest in state.json: the file is damaged" % (path, name))
    return state, read_safetensors(os.path.join(path, "model.safetensors"))


def restore_moments(path, run, model, optimizer, step):
    """Adam's moments of a tfm checkpoint (tfm's order and layouts) into the optimizer's state
    of the stored tensors, through the same views."""
    arenas = read_safetensors(os.path.join(path, "optimizer.safetensors"))
    stored = dict(model.named_parameters())
    for key, arena in (("exp_avg", arenas["m"]), ("exp_avg_sq", arenas["v"])):
        for p in stored.values():
            optimizer.state[p].setdefault("step", torch.tensor(float(step)))
            optimizer.state[p][key] = torch.zeros_like(p)
        views = model.tfm_weights({n: optimizer.state[p][key] for n, p in stored.items()})
        offset = 0
        with torch.no_grad():
            for entry in run["params"]:
                n = int(np.prod(entry["shape"]))
                views[entry["name"]].copy_(arena[offset : offset + n].reshape(entry["shape"]))
                offset += n


def train(rank, world, args):
    cuda = args.backend == "nccl"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count())))
    device = torch.device("cuda") if cuda else torch.device("cpu")
    dist.init_process_group(args.backend, rank=rank, world_size=world)
    with open(os.path.join(args.data, "run.json")) as f:
        run = json.load(f)
    if run.get("format") != "tfm-torch-data":
        raise SystemExit("%s/run.json was not written by tfm train --torch-data" % args.data)
    steps, batch, o = run["steps"], run["batch"], run["optimizer"]
    if batch % world:
        raise SystemExit("--batch %d of the run does not split evenly over %d processes" % (batch, world))
    torch.manual_seed(run["seed"] * 1000003 + rank)  # dropout masks differ per process
    batches = read_safetensors(os.path.join(args.data, "batches.safetensors"))

    model = Model()
    model.load_state_dict(read_safetensors(os.path.join(args.data, "weights.safetensors")), strict=True)
    start, history, resumed = 0, [], latest_checkpoint(args.out) if args.resume else None
    if resumed:
        # The checkpoint's weights are under tfm's names: written through the views into the
        # stored tensors (every stored tensor is covered by its tfm parameters).
        state, ck = load_checkpoint(resumed, run)
        if state["naming"] == "internal":
            with torch.no_grad():
                views = model.tfm_weights()
                for name, t in ck.items():
                    views[name].copy_(t)
        else:
            # tfm train's checkpoints of GPT-2 and ViT layouts store Hugging Face names: the module's own.
            model.load_state_dict(ck, strict=True)
        start, history = state["step"], state["history"]
    model.to(device).train()
    ddp = DDP(model)
    decayed = {model.STORED_AS[p["name"]] for p in run["params"] if p["decay"]}
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if n in decayed], "weight_decay": o["weightDecay"]},
            {"params": [p for n, p in named if n not in decayed], "weight_decay": 0.0},
        ],
        lr=o["lr"],
        betas=(o["beta1"], o["beta2"]),
        eps=o["eps"],
    )
    if resumed:
        restore_moments(resumed, run, model, optimizer, start)
    rows = slice(rank * batch // world, (rank + 1) * batch // world)
    stop = min(steps, args.max_steps) if args.max_steps else steps
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        print("%s: steps %d to %d of %d, batch %d over %d processes (%s)%s" % (run["model"], start + 1, stop, steps, batch, world, args.backend, ", resumed from %s" % resumed if resumed else ""), flush=True)
    for step in range(start, stop):
        lr = learning_rate(step, o, steps)
        for g in optimizer.param_groups:
            g["lr"] = lr
        inputs = {n: batches[n][step][rows].to(device) for n in run["inputs"]}
        loss = ddp(**inputs)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if o["maxNorm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), o["maxNorm"])
        optimizer.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        mean = float(mean) / world
        history.append([step + 1, mean, None])
        if rank == 0:
            print("step %d/%d  loss %.4f  lr %.3e" % (step + 1, steps, mean, lr), flush=True)
            if (step + 1) % args.checkpoint_every == 0 or step + 1 == stop:
                print("checkpoint: %s" % write_checkpoint(args, run, model, optimizer, step + 1, history), flush=True)
        dist.barrier()

    # Every process must hold the same weights: DDP started them from rank 0's and averaged
    # every gradient. Each one's digest is gathered and compared.
    with torch.no_grad():
        h = hashlib.sha256()
        for n, p in model.named_parameters():
            h.update(n.encode())
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
    digests = [None] * world
    dist.all_gather_object(digests, h.hexdigest())
    same = len(set(digests)) == 1
    if rank == 0:
        with open(os.path.join(args.out, "ranks.json"), "w") as f:
            json.dump({"world": world, "weights_sha256": digests}, f, indent=1)
        print("weights of the %d processes: %s" % (world, "identical (sha256 %s)" % digests[0] if same else "DIFFER: %s" % digests), flush=True)
    dist.barrier()
    # Every file is written and synced: leave without tearing the process group down, which
    # with gloo in PyTorch 1.13 sometimes never returns at process exit (1 run in 4 here).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if same else 1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description="Train __CLASS__ with DistributedDataParallel on a run written by tfm train --torch-data.")
    ap.add_argument("--data", required=True, help="the folder tfm train --torch-data wrote")
    ap.add_argument("--out", required=True, help="the run folder for tfm checkpoints")
    ap.add_argument("--world-size", type=int, default=1, help="processes to start on this machine (ignored under torchrun)")
    ap.add_argument("--backend", default="gloo", choices=["gloo", "nccl"], help="gloo: CPU; nccl: one GPU per process")
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument("--keep", type=int, default=3)
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out (one of train.py's or of tfm train's on the same run)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop (with a checkpoint) after this step; the schedule still runs to the run's total")
    args = ap.parse_args()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args)
        return
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    mp.spawn(train, args=(args.world_size, args), nprocs=args.world_size, join=True)


if __name__ == "__main__":
    main()
`;

/** train.py for the module class `cls` of `model` (from `spec`). */
export function renderTrainPy(cls: string, model: string, spec: string, header: string[]): string {
  const text = TEMPLATE.replaceAll('__CLASS__', cls).replaceAll('__MODEL__', model).replaceAll('__SPEC__', spec.replace(/^specs\//, '').replace(/[^A-Za-z0-9._/-]/g, '_'));
  return `${header.map((l) => `# ${escapeInvisible(l, (c) => `\\u{${c}}`)}`).join('\n')}\n${text}`;
}
