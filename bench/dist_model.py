#!/usr/bin/env python3
"""Step-time model of seq's data-parallel fit on a real cluster (issue 24).

On this 2-core machine more than 2 ranks only share the cores, so the scaling table is a
model, fed by what was measured here:
  step = compute of a rank's share + bytes it sends / bandwidth + collectives x latency.
- compute: the measured training time per sequence of one process at one thread
  (--seq-ms; full softmax for the ml-latest-small catalog, sampled for 10M items:
  --sampled-seq-ms), times the rank's share of the global batch (strong scaling of a
  fixed batch, as `mpirun ... train` does: the same steps on any rank count).
- bytes a rank sends per step (what RankShares counts):
  full softmax: every rank gathers every item row (ids + attribute rows) and sends their
  gradients back: 2 x (N-1)/N x rows x (8 + 4 d) bytes;
  sampled: the share's distinct items plus the negatives instead of all rows;
  dense gradients all-reduced (ring): 2 (N-1)/N x 4 P bytes.
- collectives per step: 11 (a count, 2 gathers and 1 gradient exchange of 3 all-to-alls
  each, 2 all-reduces); an all-to-all costs (N-1) latencies, an all-reduce 2 log2 N.
Online learning: a step per micro-batch of --online-batch new events (plus as many replayed
sequences) on each rank (`online_batch` set to N x 64); events/s = N x online_batch / step.
After each step the rows the other ranks changed go to rank 0 (DataParallel::to_root):
(N-1)/N of the changed rows with their Adam state, 16 + 12 d bytes a row (all rows with the
full softmax; the touched ones when sampled), over rank 0's link: those bytes / bandwidth.
Prints markdown tables.
"""
import argparse
import math

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--seq-ms", type=float, required=True, help="fit: ms per sequence, one thread, full softmax")
p.add_argument("--sampled-seq-ms", type=float, required=True, help="fit: ms per sequence, sampled softmax")
p.add_argument("--online-seq-ms", type=float, required=True, help="online step: ms per sequence (one thread)")
p.add_argument("--dense", type=float, required=True, help="dense parameters (floats)")
p.add_argument("--dim", type=int, default=50)
p.add_argument("--maxlen", type=int, default=50)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--negatives", type=int, default=1000)
p.add_argument("--attr-rows", type=float, default=1.0, help="attribute rows per item row")
p.add_argument("--distinct-per-seq", type=float, default=31, help="sampled: distinct items per sequence of a share")
p.add_argument("--online-batch", type=int, default=64)
p.add_argument("--gbit", type=float, default=10.0)
p.add_argument("--latency-us", type=float, default=20.0)
a = p.parse_args()

bw = a.gbit * 1e9 / 8
lat = a.latency_us * 1e-6
row = 8 + 4 * a.dim


def step(n, items, seqs, seq_ms, full):
    share = seqs / n
    compute = share * seq_ms / 1e3
    off = (n - 1) / n
    rows = items * (1 + a.attr_rows) if full else min(items, share * a.distinct_per_seq + a.negatives) * (1 + a.attr_rows)
    sparse = 2 * off * rows * row
    dense = 2 * off * 4 * a.dense
    comm_bytes = sparse + dense
    latency = 0 if n == 1 else (9 * (n - 1) + 2 * 2 * math.log2(n)) * lat
    return compute, comm_bytes, comm_bytes / bw, latency


def to_root(n, items, seqs, full):
    # Rows changed by an online step that rank 0 receives (a gather: one more collective).
    share = seqs / n
    changed = items if full else min(items, seqs * a.distinct_per_seq + n * a.negatives)
    data = (n - 1) / n * changed * (1 + a.attr_rows) * (16 + 12 * a.dim)
    return data, data / bw, 0 if n == 1 else 2 * math.log2(n) * lat


print(f"Model: {a.gbit:g} Gbit/s per rank, {a.latency_us:g} us per message; seq dim {a.dim}, "
      f"maxlen {a.maxlen}, {a.dense:.0f} dense floats, batch {a.batch}.\n")
for label, items, full, seq_ms in (("ml-latest-small (9,742 items, full softmax)", 9742, True, a.seq_ms),
                                   (f"10M items (sampled softmax, {a.negatives} negatives)", 10_000_000, False, a.sampled_seq_ms)):
    print(f"**{label}**\n")
    print("| ranks | compute ms | MB sent / rank | transfer ms | latency ms | fit step ms | fit speed-up | dominant | online MB to rank 0 | online events/s | online dominant |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for n in (1, 4, 16, 64):
        c, b, t, l = step(n, items, a.batch, seq_ms, full)
        total = c + t + l
        base = base or total
        # online: each rank steps on its own micro-batch (weak scaling), exchanging as a fit step of that size does
        oc, ob, ot, ol = step(n, items, 2 * a.online_batch * n, a.online_seq_ms if full else a.sampled_seq_ms, full)
        rb, rt, rl = to_root(n, items, 2 * a.online_batch * n, full)
        online = n * a.online_batch / (oc + ot + ol + rt + rl)
        dom = max((c, "compute"), (t, "transfer"), (l, "latency"))[1]
        odom = max((oc, "compute"), (ot + rt, "transfer"), (ol + rl, "latency"))[1]
        print(f"| {n} | {c*1e3:.1f} | {b/1e6:.2f} | {t*1e3:.1f} | {l*1e3:.2f} | {total*1e3:.1f} | "
              f"{base/total:.1f}x | {dom} | {rb/1e6:.2f} | {online:,.0f} | {odom} |")
    print()
