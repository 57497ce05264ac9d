"""``disagreement`` section: which labels models swap, the most disputed items, agreement by dataset label.

* ``pair_confusion``: model-vs-model confusion pooled over model pairs (symmetric), with the label pairs
  most often swapped and their share of all disagreements.
* ``disputed_items``: the items with the highest vote entropy across models, with sample ids, the dataset's
  label and each model's label, so a reader can look at the faces.
* ``by_label``: agreement statistics within the items of each dataset label (do models agree more on
  faces labelled happy than on faces labelled fear?).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluate import EvalContext
from ..metrics.agreement import count_agreement, rating_counts
from ..metrics.disagreement import most_disputed, pooled_pair_confusion, vote_entropy
from ..sections import section
from .agreement_levels import true_indices

N_DISPUTED = 20
N_PAIRS = 10


@section(
    "disagreement",
    title="Swapped labels",
    order=30,
    template="disagreement.html.j2",
    figures="ferbench.report.figures_agreement:section_figures",
)
def disagreement_section(ctx: EvalContext) -> dict[str, Any] | None:
    ev = ctx.ev
    if len(ev.model_ids) < 2:
        return None
    labels = list(ev.labels)
    k = len(labels)
    complete = np.all(ev.pred >= 0, axis=1)
    r = ev.pred[complete]
    if len(r) == 0:
        return {"n_items": 0, "reason": "no item was scored by every model"}
    conf = pooled_pair_confusion(r, k)
    off = [(conf[i, j], i, j) for i in range(k) for j in range(i + 1, k) if conf[i, j] > 0]
    off.sort(key=lambda t: (-t[0], t[1], t[2]))
    n_dis = int(sum(t[0] for t in off))
    pairs = [
        {"labels": [labels[i], labels[j]], "count": int(c), "share_of_disagreements": float(c / n_dis)}
        for c, i, j in off[:N_PAIRS]
    ]
    counts = rating_counts(r, k)
    ent = vote_entropy(counts)
    idx_full = np.flatnonzero(complete)
    top = most_disputed(r, k, N_DISPUTED, ev.proba[complete])
    y = true_indices(ev.y_true)
    disputed = [
        {
            "sample_id": str(ev.sample_ids[idx_full[i]]),
            "label": labels[y[idx_full[i]]] if y[idx_full[i]] >= 0 else None,
            "vote_entropy": float(ent[i]),
            "predictions": {mid: labels[r[i, j]] for j, mid in enumerate(ev.model_ids)},
        }
        for i in top
    ]
    by_label: dict[str, Any] = {}
    yc = y[complete]
    for li, lab in enumerate(labels):
        sel = yc == li
        if not sel.any():
            continue
        res = count_agreement(counts[sel], labels, seed=ctx.seed, key=f"by_label:{lab}")
        by_label[lab] = {
            "n_items": int(sel.sum()),
            "fleiss_kappa": res.fleiss_kappa.to_json(),
            "share_all_agree": res.share_all.to_json(),
            "percent_agreement": res.percent_agreement.to_json(),
            "mean_vote_entropy": float(ent[sel].mean()),
        }
    return {
        "n_items": int(len(r)),
        "labels": labels,
        "pair_confusion": conf.tolist(),
        "pair_confusion_note": "cell (i, j): how often one model said label i where another said label j, "
        "pooled over ordered model pairs (symmetric)",
        "top_confused_pairs": pairs,
        "mean_vote_entropy": float(ent.mean()),
        "max_vote_entropy": float(np.log2(min(len(ev.model_ids), k))),
        "disputed_items": disputed,
        "by_label": by_label,
    }
