"""The torch backend of :mod:`pdeflow.meshes.graph`: a cell list for radius graphs, and
chunked exact distances with ``topk`` for kNN graphs. Runs on any torch device.

Squared distances are float64 and summed axis by axis, exactly as in the kd-tree backend,
so both backends give the same edges. Candidates are processed in chunks of at most
``_BUDGET`` entries (pairs, or distance-matrix entries), so memory stays bounded.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

# candidate pairs / distance entries per chunk, by device type
_BUDGET = {"cpu": 1 << 21, "cuda": 1 << 24}
_CELL_MARGIN = 1e-6  # cells are this much wider than r, so rounding never skips a cell


def _budget(device: torch.device) -> int:
    return _BUDGET.get(device.type, _BUDGET["cuda"])


def _shift(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def _sq_dist(cols: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Squared distances of pairs; ``cols`` is ``(dim, N)``."""
    s = cols[0][src] - cols[0][tgt]
    s = s * s
    for c in cols[1:]:
        d = c[src] - c[tgt]
        s = s + d * d
    return s


def _sort_edges(src: torch.Tensor, tgt: torch.Tensor, n: int) -> torch.Tensor:
    b = _shift(n)
    key = torch.sort((tgt << b) | src).values
    return torch.stack([key & ((1 << b) - 1), key >> b])


def _cap(
    src: torch.Tensor, tgt: torch.Tensor, d2: torch.Tensor, n: int, cap: int
) -> tuple[torch.Tensor, int]:
    """Keep each target's ``cap`` nearest sources (ties by index)."""
    b = _shift(n)
    order = torch.argsort((tgt << b) | src)
    order = order[torch.argsort(d2[order], stable=True)]
    order = order[torch.argsort(tgt[order], stable=True)]
    t = tgt[order]
    counts = torch.bincount(t, minlength=n)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(t.numel(), device=t.device) - first[t]
    keep = order[rank < cap]
    return _sort_edges(src[keep], tgt[keep], n), int(src.numel() - keep.numel())


# ---------------------------------------------------------------------- cell list
def _cell_keys(
    x: torch.Tensor, r: float, bid: torch.Tensor | None, n_graphs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear cell key of every point, and the key offsets of the ``(3**dim - 1) / 2``
    neighbour cells that come after a cell (the other half sees each pair from its side).

    Cells are cubes of side ``cell >= r (1 + 1e-6)``, ``>= 1e-8 * extent`` and
    ``>= 1e-140``: two points within ``r`` lie in the same or adjacent cells even after
    rounding and underflow. Each axis is padded by one cell on both
    sides, so a neighbour offset never wraps into another row or graph. Cells are widened
    (doubled) until every key fits in int64.
    """
    dim = x.shape[1]
    lo = x.min(dim=0).values
    extent = float((x.max(dim=0).values - lo).max())
    # at least 1e-140 wide: a pair whose squared distance underflows to <= r*r is never
    # more than ~1e-162 apart along an axis
    cell = max(r * (1.0 + _CELL_MARGIN), 1e-8 * extent, 1e-140)
    while True:
        c = torch.floor((x - lo) / cell).to(torch.int64)
        dims = [int(m) + 3 for m in c.max(dim=0).values.tolist()]
        if n_graphs * float(np.prod(np.array(dims, dtype=np.float64))) < 2.0**62:
            break
        cell *= 2.0
    strides = [1] * dim
    for k in range(dim - 2, -1, -1):
        strides[k] = strides[k + 1] * dims[k + 1]
    key = ((c + 1) * torch.tensor(strides, device=x.device)).sum(dim=1)
    if bid is not None:
        key = key + bid * (strides[0] * dims[0])
    # strides grow at least 3x per axis, so an offset's sign is that of its first nonzero
    deltas = [
        sum(o * s for o, s in zip(offset, strides, strict=True))
        for offset in itertools.product((-1, 0, 1), repeat=dim)
    ]
    later = [d for d in deltas if d > 0]
    return key, torch.tensor(later, dtype=torch.int64, device=x.device)


def _pieces(per_target: torch.Tensor, budget: int) -> list[tuple[int, int, int]]:
    """Split consecutive targets into runs of at most ``budget`` candidates (>= 1 target)."""
    cum = torch.cumsum(per_target, 0).cpu().numpy()
    pieces, start, done = [], 0, 0
    while start < cum.size:
        stop = int(np.searchsorted(cum, done + budget, side="right"))
        stop = max(stop, start + 1)
        pieces.append((start, stop, int(cum[stop - 1] - done)))
        done = int(cum[stop - 1])
        start = stop
    return pieces


def radius_edges(
    x: torch.Tensor, r: float, bid_np: np.ndarray | None, loop: bool, cap: int | None
) -> tuple[torch.Tensor, int]:
    """Radius graph by cell list: sorted ``(2, E)`` int64 edges on ``x``'s device, dropped count.

    Each unordered pair is examined once: the points are sorted by cell key, and a point
    (at sorted position ``t``) is compared with the points after it in its own cell and with
    every point of the neighbour cells that come after its cell. A kept pair gives both edges.
    """
    device, n = x.device, x.shape[0]
    bid = None if bid_np is None else torch.from_numpy(bid_np).to(device)
    n_graphs = 1 if bid_np is None else int(bid_np.max()) + 1
    key, deltas = _cell_keys(x, r, bid, n_graphs)
    order = torch.argsort(key)
    skey = key[order]
    ukeys, counts = torch.unique_consecutive(skey, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    own_cell = torch.repeat_interleave(torch.arange(ukeys.numel(), device=device), counts)
    cell_end = (starts + counts)[own_cell]  # sorted position where each point's cell ends
    cols = x.T.contiguous()
    r2, n_off, budget = r * r, deltas.numel() + 1, _budget(device)
    lookup = max(1, budget // (4 * n_off))
    found_i, found_j, found_d2 = [], [], []
    for a in range(0, n, lookup):
        b = min(n, a + lookup)
        nkey = skey[a:b, None] + deltas[None, :]
        pos = torch.searchsorted(ukeys, nkey).clamp_(max=ukeys.numel() - 1)
        after = torch.arange(a + 1, b + 1, device=device)  # own cell: later points only
        cnt = torch.cat(
            [(cell_end[a:b] - after)[:, None], torch.where(ukeys[pos] == nkey, counts[pos], 0)],
            dim=1,
        )
        first_pos = torch.cat([after[:, None], starts[pos]], dim=1)
        for p, q, total in _pieces(cnt.sum(dim=1), budget):
            c = cnt[p:q].reshape(-1)
            segment = torch.repeat_interleave(
                torch.arange(c.numel(), device=device), c, output_size=total
            )
            offset = torch.arange(total, device=device) - (torch.cumsum(c, 0) - c)[segment]
            j = order[first_pos[p:q].reshape(-1)[segment] + offset]
            i = order[a + p + segment // n_off]
            d2 = _sq_dist(cols, j, i)
            keep = d2 <= r2
            found_i.append(i[keep])
            found_j.append(j[keep])
            if cap is not None:
                found_d2.append(d2[keep])
    i, j = torch.cat(found_i), torch.cat(found_j)
    selves = torch.arange(n if loop else 0, device=device)
    src, tgt = torch.cat([i, j, selves]), torch.cat([j, i, selves])
    if cap is None:
        return _sort_edges(src, tgt, n), 0
    d2 = torch.cat(found_d2)
    return _cap(src, tgt, torch.cat([d2, d2, torch.zeros_like(selves, dtype=d2.dtype)]), n, cap)


# ---------------------------------------------------------------------- kNN
def plan_blocks(
    ptr_rows: list[int], ptr_cols: list[int], budget: int
) -> list[tuple[int, int, int, int, bool]]:
    """Blocks ``(row_start, row_stop, col_start, col_stop, several_graphs)`` covering each
    graph's rows x its columns, with at most ``budget`` entries when possible: small
    graphs are grouped into one block (cross-graph entries to be masked), a big graph's
    rows are split."""
    n_graphs = len(ptr_rows) - 1
    plan, g = [], 0
    while g < n_graphs:
        rows = ptr_rows[g + 1] - ptr_rows[g]
        cols = ptr_cols[g + 1] - ptr_cols[g]
        if rows * cols > budget:
            step = max(1, budget // max(cols, 1))
            for a in range(ptr_rows[g], ptr_rows[g + 1], step):
                plan.append(
                    (a, min(a + step, ptr_rows[g + 1]), ptr_cols[g], ptr_cols[g + 1], False)
                )
            g += 1
            continue
        h = g + 1
        while h < n_graphs and (
            (ptr_rows[h + 1] - ptr_rows[g]) * (ptr_cols[h + 1] - ptr_cols[g]) <= budget
        ):
            h += 1
        plan.append((ptr_rows[g], ptr_rows[h], ptr_cols[g], ptr_cols[h], h - g > 1))
        g = h
    return plan


def _block_sq_dist(cols: torch.Tensor, ra: int, rb: int, ca: int, cb: int) -> torch.Tensor:
    s = cols[0, ra:rb, None] - cols[0, None, ca:cb]
    s = s * s
    for c in cols[1:]:
        d = c[ra:rb, None] - c[None, ca:cb]
        s += d * d
    return s


def knn_edges(x: torch.Tensor, k: int, bid_np: np.ndarray | None, loop: bool) -> torch.Tensor:
    """kNN graph by chunked exact distances: sorted ``(2, E)`` int64 on ``x``'s device."""
    device, n = x.device, x.shape[0]
    if bid_np is None:
        perm, ptr, bs = None, [0, n], None
    else:
        perm_np = np.argsort(bid_np, kind="stable")
        ptr = [0, *np.cumsum(np.bincount(bid_np)).tolist()]
        perm = torch.from_numpy(perm_np).to(device)
        x = x[perm]
        bs = torch.from_numpy(bid_np[perm_np]).to(device)
    cols = x.T.contiguous()
    found_src, found_tgt = [], []
    for ra, rb, ca, cb, several in plan_blocks(ptr, ptr, _budget(device)):
        d2 = _block_sq_dist(cols, ra, rb, ca, cb)
        rows_i = torch.arange(ra, rb, device=device)
        cols_j = torch.arange(ca, cb, device=device)
        invalid = torch.zeros(d2.shape, dtype=torch.bool, device=device)
        if several:
            invalid |= bs[ra:rb, None] != bs[None, ca:cb]
        if not loop:
            invalid |= rows_i[:, None] == cols_j[None, :]
        masked = d2.masked_fill(invalid, float("inf"))
        kth = torch.topk(masked, min(k, cb - ca), dim=1, largest=False).values[:, -1]
        # every entry up to the k-th distance (ties included), then rank by (distance, index)
        ri, cj = ((d2 <= kth[:, None]) & ~invalid).nonzero(as_tuple=True)
        order = torch.argsort(d2[ri, cj], stable=True)
        order = order[torch.argsort(ri[order], stable=True)]
        ri, cj = ri[order], cj[order]
        counts = torch.bincount(ri, minlength=rb - ra)
        first = torch.cumsum(counts, 0) - counts
        keep = (torch.arange(ri.numel(), device=device) - first[ri]) < k
        found_src.append(cj[keep] + ca)
        found_tgt.append(ri[keep] + ra)
    src, tgt = torch.cat(found_src), torch.cat(found_tgt)
    if perm is not None:
        src, tgt = perm[src], perm[tgt]
    return _sort_edges(src, tgt, n)
