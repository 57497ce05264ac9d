"""``humans`` section: present when the dataset carries a vote matrix (``votes_<label>`` columns, e.g. FER+).

How much the annotators agree with one another, and how the models compare with them *on the same faces*
(see :mod:`ferbench.metrics.humans` and :mod:`ferbench.metrics.people`; definitions in ``docs/humans.md``):

* ``humans`` / ``models``: annotator agreement and each model against the annotators (plurality accuracy and
  kappa, soft accuracy, alpha with the model as one more rater), over every voted face;
* ``people``: the headline comparisons, each on a stated face set:
  ``kappa`` (annotators' vs models' Fleiss' kappa on the faces whose votes are all on evaluated labels),
  ``human_level`` (leave-one-vote-out annotator score vs each model, on the majority-label faces),
  ``entropy`` (do models disagree where people do: Spearman and a 2×2 with example faces),
  ``confidence`` (each model's confidence against the share of annotators who chose its label) and
  ``dataset_label`` (the dataset's own label, e.g. FER2013's, against the crowd's majority).

Voted faces that have no label under the dataset's rule (a FER+ tie) are not samples, but the models scored
them (``vote_faces``), so these statistics cover every voted face. Votes for labels outside the evaluated set
and unknown / not-a-face votes are never counted as expression votes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..datasets.ferplus import majority_index
from ..evaluate import EvalContext, EvaluatedPredictions, register_section, restrict
from ..labels import DEFAULT_LABEL_RULE
from ..metrics.agreement import Estimate, rating_counts
from ..metrics.bootstrap import rng_for
from ..metrics.calibration import expected_calibration_error, reliability_bins
from ..metrics.disagreement import vote_entropy
from ..metrics.humans import humans_block, mean_estimate, soft_scores
from ..metrics.people import agreement_cells, human_level, same_faces_kappa, spearman_estimate, top_share

AGREE_THRESHOLD = 0.7  # people / models "agree" when the most common label holds >= 70% of their labels
N_EXAMPLES = 3  # example faces per cell of the 2×2
RELIABILITY_BINS = 10


def vote_counts(table: pd.DataFrame, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(expression votes over ``labels``, every other vote column: out-of-set labels, unknown, not a face)."""
    cols = [f"votes_{lab}" for lab in labels]
    votes = np.stack(
        [
            table[c].fillna(0).to_numpy(dtype=np.int64)
            if c in table.columns
            else np.zeros(len(table), np.int64)
            for c in cols
        ],
        axis=1,
    )
    other_cols = [c for c in table.columns if c.startswith("votes_") and c not in cols]
    other = (
        table[other_cols].fillna(0).to_numpy(dtype=np.int64)
        if other_cols
        else np.zeros((len(table), 0), dtype=np.int64)
    )
    return votes, other


def _faces(ids: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    return {"n": int(mask.sum()), "sample_ids_head": [str(x) for x in ids[mask][:3]]}


@register_section("humans")
def humans_section(ctx: EvalContext) -> dict[str, Any] | None:
    labels = ctx.ev.labels
    if not any(f"votes_{lab}" in ctx.samples.columns for lab in labels):
        return None
    table = ctx.options.get("vote_faces")
    if table is None:
        table, ev = ctx.samples.reset_index(drop=True), ctx.ev
    else:
        table = table.reset_index(drop=True)
        ev = restrict(ctx.predictions, table, ctx.ev.model_ids, labels, ctx.options.get("variant", "clean"))
    votes, other = vote_counts(table, labels)
    preds = {mid: ev.pred[:, j] for j, mid in enumerate(ev.model_ids)}
    out = humans_block(votes, labels, preds, seed=ctx.seed)
    out["n_vote_only_faces"] = int(len(table) - len(ctx.samples))
    out["label_rule"] = DEFAULT_LABEL_RULE
    out["note"] = (
        "votes for labels outside the evaluated set and unknown / not-a-face votes are left out; "
        "soft accuracy is comparable with the annotators' percent agreement"
    )
    if len(ev.model_ids) >= 2:
        out["people"] = people_vs_models(table, ev, votes, other, seed=ctx.seed)
    return out


def people_vs_models(
    table: pd.DataFrame, ev: EvaluatedPredictions, votes: np.ndarray, other: np.ndarray, *, seed: int = 0
) -> dict[str, Any]:
    """The headline comparisons of people and models; every block states its face set and count."""
    labels = ev.labels
    ids = table["sample_id"].to_numpy()
    scored = np.all(ev.pred >= 0, axis=1)
    n_votes = votes.sum(axis=1)
    all_expr = (other.sum(axis=1) == 0) & (n_votes >= 2)
    same = all_expr & scored
    majority = majority_index(np.hstack([votes, other]), len(labels))
    maj = (majority >= 0) & scored
    out: dict[str, Any] = {
        "face_sets": {
            "all_expression_votes": {
                **_faces(ids, same),
                "definition": "faces whose every vote is on an evaluated label (no unknown / not-a-face / "
                "other-label vote), with two or more votes, that every model labelled",
            },
            "majority": {
                **_faces(ids, maj),
                "definition": "faces with a majority label under FER+'s rule (votes of 1 dropped; the top "
                "expression label holds more than half of the remaining votes, non-expression votes "
                "included), that every model labelled",
            },
        },
        "kappa": same_faces_kappa(votes[same], ev.pred[same], labels, seed=seed),
        "human_level": human_level(
            votes[maj],
            {mid: ev.pred[maj, j] for j, mid in enumerate(ev.model_ids)},
            all_counts=np.hstack([votes, other])[maj],
            seed=seed,
        ),  # fmt: skip
        "entropy": _entropy_block(table, ev, votes, same, seed),
        "confidence": _confidence_block(ev, votes, seed),
    }
    out["human_level"]["definition"] = (
        "annotators: each vote against the plurality of the other expression votes on its face, ties split "
        "evenly (1/t for one of t tied labels), averaged over votes; models: 1/t if the model's label is one "
        "of the t top labels of all the expression votes; on the majority faces"
    )
    out["human_level"]["strict_definition"] = (
        "every voter (unknown / not-a-face voters included) against the plurality of all other votes, a tie "
        "for first place scoring 0"
    )
    if "fer2013_label" in table.columns:
        out["dataset_label"] = _dataset_label_block(table, ev, majority, scored, seed)
    return out


def _entropy_block(
    table: pd.DataFrame, ev: EvaluatedPredictions, votes: np.ndarray, same: np.ndarray, seed: int
) -> dict[str, Any]:
    labels = ev.labels
    k = len(labels)
    hv = votes[same]
    mv = rating_counts(ev.pred[same], k)
    # rounded so that faces with the same spread of votes in another order tie exactly for the ranks
    h_ent, m_ent = np.round(vote_entropy(hv), 9), np.round(vote_entropy(mv), 9)
    rho = spearman_estimate(h_ent, m_ent, seed=seed, key="people:entropy")
    p_agree, m_agree = agreement_cells(hv, mv, AGREE_THRESHOLD)
    rows = np.flatnonzero(same)
    ids = table["sample_id"].to_numpy()
    paths = table["path"].to_numpy() if "path" in table.columns else np.full(len(table), "", dtype=object)
    names = np.array(labels, dtype=object)
    cells: dict[str, Any] = {}
    for pk, pm in (("people_agree", p_agree), ("people_split", ~p_agree)):
        for mk, mm in (("models_agree", m_agree), ("models_split", ~m_agree)):
            sel = np.flatnonzero(pm & mm)
            pick = (
                np.sort(rng_for(seed, f"people:examples:{pk}:{mk}").choice(sel, N_EXAMPLES, replace=False))
                if len(sel) > N_EXAMPLES
                else sel
            )
            cells[f"{pk}:{mk}"] = {
                "n": int(len(sel)),
                "share": float(len(sel) / len(hv)) if len(hv) else None,
                "examples": [
                    {
                        "sample_id": str(ids[rows[i]]),
                        "path": str(paths[rows[i]]),
                        "votes": {lab: int(hv[i, j]) for j, lab in enumerate(labels)},
                        "models": {
                            mid: str(names[ev.pred[rows[i], j]]) for j, mid in enumerate(ev.model_ids)
                        },
                        "model_votes": {lab: int(mv[i, j]) for j, lab in enumerate(labels) if mv[i, j]},
                        "human_entropy": float(h_ent[i]),
                        "model_entropy": float(m_ent[i]),
                    }
                    for i in pick
                ],
            }
    return {
        "n_faces": int(same.sum()),
        "face_set": "all_expression_votes",
        "spearman": rho.to_json(),
        "human_entropy_mean": float(h_ent.mean()) if len(h_ent) else None,
        "model_entropy_mean": float(m_ent.mean()) if len(m_ent) else None,
        "threshold": AGREE_THRESHOLD,
        "threshold_definition": (
            f"people agree: the most common label holds at least {AGREE_THRESHOLD:.0%} of the face's expression "
            f"votes; models agree: at least {AGREE_THRESHOLD:.0%} of the models give the most common label"
        ),
        "people_top_share_mean": float(np.mean(top_share(hv))) if len(hv) else None,
        "cells": cells,
    }


def _confidence_block(ev: EvaluatedPredictions, votes: np.ndarray, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    voted = votes.sum(axis=1) > 0
    for j, mid in enumerate(ev.model_ids):
        ok = voted & (ev.pred[:, j] >= 0)
        conf = np.nanmax(np.where(ok[:, None], ev.proba[:, j], 0.0), axis=1)[ok]
        share = soft_scores(votes[ok], ev.pred[ok, j])
        rho = spearman_estimate(conf, share, seed=seed, key=f"people:confidence:{mid}")
        out[mid] = {
            "n_faces": int(ok.sum()),
            "spearman": rho.to_json(),
            "mean_confidence": float(conf.mean()) if ok.any() else None,
            "mean_share": float(share.mean()) if ok.any() else None,
            "gap": float(expected_calibration_error(conf, share, RELIABILITY_BINS)) if ok.any() else None,
            "bins": reliability_bins(conf, share, RELIABILITY_BINS) if ok.any() else [],
        }
    return {
        "face_set": "every voted face the model labelled",
        "definition": "confidence: the model's largest restricted probability; share: the share of the face's "
        "expression votes that chose the model's label; gap: the ECE formula with that share in place of "
        f"accuracy ({RELIABILITY_BINS} equal-width bins)",
        "models": out,
    }


def _dataset_label_block(
    table: pd.DataFrame, ev: EvaluatedPredictions, majority: np.ndarray, scored: np.ndarray, seed: int
) -> dict[str, Any]:
    lab_idx = {lab: i for i, lab in enumerate(ev.labels)}
    own = table["fer2013_label"].map(lambda x: lab_idx.get(x, -1) if isinstance(x, str) else -1)
    own = own.to_numpy(dtype=np.int64)
    both = (own >= 0) & (majority >= 0) & scored
    agree = mean_estimate(
        (own[both] == majority[both]).astype(float), seed=seed, key="people:dataset-label",
        reason="no face has both labels",
    )  # fmt: skip
    models: dict[str, Any] = {}
    for j, mid in enumerate(ev.model_ids):
        p = ev.pred[both, j]
        models[mid] = {
            "vs_dataset_label": mean_estimate(
                (p == own[both]).astype(float), seed=seed, key=f"people:vs-own:{mid}"
            ).to_json(),
            "vs_majority": mean_estimate(
                (p == majority[both]).astype(float), seed=seed, key=f"people:vs-majority:{mid}"
            ).to_json(),
        }
    return {
        "n_faces": int(both.sum()),
        "face_set": "faces with both the dataset's own label and a FER+ majority label, labelled by every model",
        "dataset_label_is_majority": agree.to_json()
        if both.any()
        else Estimate(None, None, None, "no face").to_json(),
        "models": models,
    }
