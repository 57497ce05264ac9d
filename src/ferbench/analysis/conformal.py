"""The ``conformal`` section of ``metrics.json``: prediction sets with a coverage guarantee, per model and ensemble.

Why: "deploy only confident predictions" needs a promise, and a softmax threshold gives none. Split-conformal
sets (:mod:`ferbench.metrics.conformal`) are calibrated on faces scored beside the evaluated ones and never
counted in them (``--calibrate-on``), then checked on the evaluated faces: empirical coverage against the
nominal level with a bootstrap interval, set sizes, coverage per true label and per group (``--groups``),
coverage under each perturbation (``--perturb``; thresholds from the clean calibration faces), and, where the
dataset carries annotator votes (FER+, ``votes_<label>`` columns), how the sets relate to what people chose.

Options (``EvalContext.options``): ``conformal`` (levels), ``calibration`` (the calibration faces, see
:func:`ferbench.api.run`), ``groups``, ``perturb``. Sets use the restricted label rule (``label_rule``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import spearmanr

from ..evaluate import EvalContext, restrict
from ..labels import RESTRICTED
from ..metrics.bootstrap import rng_for
from ..metrics.conformal import (
    ConformalCalibration,
    ConformalError,
    calibrate,
    procedure_interval,
    resplit_coverage,
    set_summary,
)
from ..metrics.disagreement import vote_entropy
from ..metrics.groups import group_keys, parse_groups
from ..metrics.humans import mean_estimate, plurality
from ..sections import section
from .uncertainty import Predictor, _state, labelled, predictors

# (method, randomised, class-conditional) of every set rule the section reports, in table order.
RULES: tuple[tuple[str, bool, bool], ...] = (
    ("lac", True, False),
    ("lac", False, False),
    ("aps", False, False),
    ("aps", True, False),
    ("raps", False, False),
    ("raps", True, False),
    ("lac", False, True),
    ("lac", True, True),
)
# The rule the report and ``predict`` lead with: LAC's small sets with ties at the threshold broken at random,
# so coverage is the level whatever a model's scores look like (plain LAC is MAPIE's, and covers at least the
# level: every label of every face when a model gives its true label an exact 0 on more than 1 − level of faces).
HEADLINE = "lac_randomized"
SUPPORT_VOTES = 3  # a label "people chose" has at least this many votes
MAX_EXAMPLES = 12
LABEL_RULE = RESTRICTED  # sets are always made over the restricted probabilities (one label rule home)


def rule_key(method: str, randomized: bool, mondrian: bool) -> str:
    return method + ("_randomized" if randomized else "") + ("_mondrian" if mondrian else "")


def _vote_view(ctx: EvalContext, cards: dict[str, Any], specs: Any) -> dict[str, Any] | None:
    """Votes, ids and every predictor over the voted faces: the samples plus, where the dataset has them,
    vote-only faces (votes but no label, e.g. a FER+ tie; ``options["vote_faces"]``), which the people view
    covers too. None when the dataset carries no ``votes_<label>`` column."""
    labels = ctx.ev.labels
    if not any(f"votes_{lab}" in ctx.samples.columns for lab in labels):
        return None
    table = ctx.options.get("vote_faces")
    if table is None:
        table = ctx.samples
        preds = {q.name: q for q in _state(ctx)["predictors"]}
    else:
        ev = restrict(ctx.predictions, table, ctx.ev.model_ids, labels, ctx.options.get("variant", "clean"))
        preds = {q.name: q for q in predictors(ev, cards, specs)[0]}
    t = table.reset_index(drop=True)
    votes = np.stack(
        [t[c].fillna(0).to_numpy(dtype=np.int64) if c in t.columns else np.zeros(len(t), np.int64)
         for c in (f"votes_{lab}" for lab in labels)],
        axis=1,
    )  # fmt: skip
    return {
        "votes": votes,
        "ids": t["sample_id"].to_numpy(),
        "predictors": preds,
        "n_vote_only": len(t) - len(ctx.samples),
    }


def people_vs_sets(
    sets: np.ndarray,
    votes: np.ndarray,
    labels: tuple[str, ...],
    sample_ids: np.ndarray,
    *,
    seed: int,
    key: str,
) -> dict[str, Any]:
    """How sets relate to annotators' votes (faces × labels counts) on the same faces.

    * ``majority_coverage``: share of faces whose set holds the crowd's plurality label (ties for first
      place left out, as in the ``humans`` section);
    * ``supported_coverage``: share of (face, label with ≥ 3 votes) pairs whose label is in the set;
      ``all_supported_covered``: share of faces whose set holds every such label;
    * ``size_vs_entropy``: Spearman rank correlation between set size and the entropy (bits) of the votes;
    * ``split_singletons``: faces with a one-label set although two or more labels got ≥ 3 votes.
    """
    v = np.asarray(votes, dtype=np.int64)
    voted = v.sum(axis=1) > 0
    s, v, ids = sets[voted], v[voted], sample_ids[voted]
    size = s.sum(axis=1)
    plur = plurality(v)
    has = plur >= 0
    maj = s[np.flatnonzero(has), plur[has]].astype(np.float64)
    supported = v >= SUPPORT_VOTES
    n_sup = supported.sum(axis=1)
    any_sup = n_sup > 0
    pair_cov = (s & supported).sum() / max(int(supported.sum()), 1)
    all_cov = ((s | ~supported).all(axis=1))[any_sup].astype(np.float64)
    ent = vote_entropy(v)
    rho = None
    if len(size) >= 3 and np.ptp(size) > 0 and np.ptp(ent) > 0:
        rho = float(spearmanr(size, ent).statistic)
    split = (size == 1) & (n_sup >= 2)
    order = np.flatnonzero(split)[np.argsort(-ent[split], kind="stable")][:MAX_EXAMPLES]
    return {
        "n_faces": int(len(v)),
        "support_votes": SUPPORT_VOTES,
        "majority_coverage": mean_estimate(maj, seed=seed, key=f"{key}:majority").to_json()
        | {"n": int(has.sum())},
        "supported_coverage": float(pair_cov) if supported.any() else None,
        "all_supported_covered": mean_estimate(all_cov, seed=seed, key=f"{key}:supported").to_json()
        | {"n": int(any_sup.sum())},
        "size_vs_entropy": {"spearman": rho, "n": int(len(size))},
        "n_split_singletons": int(split.sum()),
        "split_singletons": [
            {
                "sample_id": str(ids[i]),
                "set": [labels[j] for j in np.flatnonzero(s[i])],
                "votes": {labels[j]: int(v[i, j]) for j in np.flatnonzero(v[i])},
                "vote_entropy": float(ent[i]),
            }
            for i in order
        ],
    }


def _group_rows(sets: np.ndarray, y: np.ndarray, keys: np.ndarray, *, seed: int, key: str) -> dict[str, Any]:
    covered = sets[np.arange(len(y)), y].astype(np.float64)
    size = sets.sum(axis=1)
    out: dict[str, Any] = {}
    for g in sorted(set(keys.tolist()), key=str):
        sel = keys == g
        out[str(g)] = {
            "n": int(sel.sum()),
            "coverage": mean_estimate(covered[sel], seed=seed, key=f"{key}:{g}").to_json(),
            "mean_size": float(size[sel].mean()),
        }
    return out


def _one(
    ctx: EvalContext,
    p: Predictor,
    cp: Predictor,
    cal_y: np.ndarray,
    rule: tuple[str, bool, bool],
    level: float,
    extras: dict[str, Any],
) -> dict[str, Any]:
    method, randomized, mondrian = rule
    labels = ctx.ev.labels
    key = f"conformal:{p.name}:{rule_key(*rule)}:{level}"
    cal_has, cal_t = labelled(cal_y)
    f = (cp.pred >= 0) & cal_has
    try:
        cal = calibrate(
            cp.proba[f],
            cal_t[f],
            labels,
            method=method,
            confidence_level=level,
            randomized=randomized,
            mondrian=mondrian,
            rng=rng_for(ctx.seed, key + ":calibration"),
            name=p.name,
        )
    except ConformalError as exc:
        return {"status": "refused", "reason": str(exc)}
    has, t = labelled(ctx.ev.y_true)
    ok = p.pred >= 0
    row: dict[str, Any] = {"status": "ok", "calibration": cal.to_dict()}
    if not (ok & has).any():
        row.update(status="no scored face", n=0)
        return row
    draws = cal.draws(int(ok.sum()), rng_for(ctx.seed, key + ":sets"))
    all_sets = cal.sets(p.proba[ok], draws)
    sets, y = all_sets[has[ok]], t[ok & has]
    row.update(set_summary(sets, y, labels, level, seed=ctx.seed, key=key))
    lab_proba, lab_d = p.proba[ok & has], None if draws is None else draws[has[ok]]
    rows_y = np.arange(len(y))

    def covered_at(q: np.ndarray) -> np.ndarray:
        return cal.sets_at(lab_proba, q)[rows_y, y]

    if lab_d is None:
        proc = procedure_interval(cal, covered_at, len(y), seed=ctx.seed, key=key)
    else:
        proc = procedure_interval(
            cal,
            None,
            len(y),
            true_scores=cal.label_scores(lab_proba, lab_d)[rows_y, y],
            true_labels=y,
            tie_draws=lab_d[:, 1],
            seed=ctx.seed,
            key=key,
        )
    row["coverage_procedure"] = proc
    row["within_interval"] = bool(proc["ci_low"] <= level <= proc["ci_high"])
    # inside or out by less than the bounds' Monte Carlo error: another seed could flip the answer
    row["at_interval_edge"] = bool(
        min(abs(level - proc["ci_low"]), abs(level - proc["ci_high"])) <= proc["mc_error"]
    )
    if rule_key(*rule) == HEADLINE:
        row["resplits"] = resplit_coverage(
            cp.proba[f],
            cal_t[f],
            lab_proba,
            y,
            labels,
            official=float(row["coverage"]["value"]),
            method=method,
            confidence_level=level,
            randomized=randomized,
            mondrian=mondrian,
            seed=ctx.seed,
            key=key,
        )
    if extras["groups"]:
        row["groups"] = {
            name: _group_rows(sets, y, keys[ok & has], seed=ctx.seed, key=f"{key}:{name}")
            for name, keys in extras["groups"].items()
        }
    if extras["perturbed"]:
        row["perturb"] = _perturbed_rows(ctx, cal, p.name, extras["perturbed"], key)
    view = extras["votes"]
    if view is not None:
        pv = view["predictors"][p.name]
        okv = pv.pred >= 0
        sets_v = cal.sets(pv.proba[okv], cal.draws(int(okv.sum()), rng_for(ctx.seed, key + ":votes")))
        row["people"] = people_vs_sets(
            sets_v, view["votes"][okv], labels, view["ids"][okv], seed=ctx.seed, key=key
        )
    return row


def _perturbed_rows(
    ctx: EvalContext,
    cal: ConformalCalibration,
    name: str,
    perturbed: dict[str, dict[str, Predictor]],
    key: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    has, t = labelled(ctx.ev.y_true)
    for variant, by_name in perturbed.items():
        pp = by_name[name]
        ok = (pp.pred >= 0) & has
        if not ok.any():
            out[variant] = {"n": 0, "reason": "no face scored under this perturbation"}
            continue
        sets = cal.predict_sets(pp.proba[ok], rng=rng_for(ctx.seed, f"{key}:{variant}"))
        covered = sets[np.arange(int(ok.sum())), t[ok]].astype(np.float64)
        out[variant] = {
            "n": int(ok.sum()),
            "coverage": mean_estimate(covered, seed=ctx.seed, key=f"{key}:{variant}").to_json(),
            "mean_size": float(sets.sum(axis=1).mean()),
        }
    return out


@section(
    "conformal",
    title="Prediction sets",
    order=85,
    template="conformal.html.j2",
    figures="ferbench.report.figures_uncertainty:conformal_figures",
)
def conformal_section(ctx: EvalContext) -> dict[str, Any] | None:
    levels = [float(x) for x in ctx.options.get("conformal") or []]
    if not levels:
        return None
    cal = ctx.options.get("calibration")
    head: dict[str, Any] = {
        "label_rule": LABEL_RULE,
        "levels": levels,
        "rules": [rule_key(*r) for r in RULES],
        "headline": HEADLINE,
        "evaluated_split": ctx.options.get("evaluated_split"),
    }
    if cal is None:
        return head | {
            "status": "skipped",
            "reason": "no calibration faces: give --calibrate-on SPLIT (e.g. PublicTest, valid) or a share "
            "such as 0.3; sets calibrated on the evaluated faces would promise nothing",
        }
    st = _state(ctx)
    cards = {c.id: c for c in ctx.cards}
    groups: dict[str, np.ndarray] = {}
    spec = ctx.options.get("groups")
    groupings = parse_groups(spec) if isinstance(spec, str) else [list(g) for g in spec or []]
    samples = ctx.samples.reset_index(drop=True)
    for cols in groupings:
        groups["+".join(cols)] = group_keys(samples, cols)
    perturbed: dict[str, dict[str, Predictor]] = {}
    for d in ctx.options.get("perturb") or []:
        ev_p = restrict(ctx.predictions, ctx.samples, ctx.ev.model_ids, ctx.ev.labels, variant=d["variant"])
        perturbed[d["variant"]] = {q.name: q for q in predictors(ev_p, cards, st["specs"])[0]}
    extras: dict[str, Any] = {
        "groups": groups,
        "perturbed": perturbed,
        "votes": _vote_view(ctx, cards, st["specs"]),
    }
    cal_y = cal["ev"].y_true
    results: dict[str, Any] = {}
    for level in levels:
        per_rule: dict[str, Any] = {}
        for rule in RULES:
            rows: dict[str, dict[str, Any]] = {"models": {}, "ensembles": {}}
            for p, cp in zip(st["predictors"], st["cal_predictors"], strict=True):
                rows["models" if p.kind == "model" else "ensembles"][p.name] = _one(
                    ctx, p, cp, cal_y, rule, level, extras
                )
            per_rule[rule_key(*rule)] = rows
        results[f"{level:g}"] = per_rule
    return head | {
        "status": "ok",
        "calibration": {k: v for k, v in cal.items() if k != "ev"},
        "has_votes": extras["votes"] is not None,
        **({"n_vote_only_faces": int(extras["votes"]["n_vote_only"])} if extras["votes"] is not None else {}),
        "results": results,
    }


def thresholds_document(metrics: dict[str, Any], run_dir: Any) -> dict[str, Any]:
    """The small ``conformal.json`` a run leaves: every calibrated threshold, with what it was fitted on.

    ``ferbench predict --calibration RUN_DIR`` reads it; it names the run, the dataset, the calibration
    split, the label set (sets are only valid over these labels) and each model's fingerprint, so a set is
    never made from thresholds fitted for other labels or another model.
    """
    c = metrics["conformal"]
    prov = metrics.get("provenance") or {}
    thresholds: dict[str, Any] = {}
    for level, rules in c["results"].items():
        for rule, kinds in rules.items():
            for kind, rows in kinds.items():
                for name, r in rows.items():
                    if r.get("status") == "ok":
                        thresholds.setdefault(level, {}).setdefault(rule, {}).setdefault(kind, {})[name] = r[
                            "calibration"
                        ]
    ensembles = {
        name: {"members": e["members"], "method": e["method"]}
        for name, e in (metrics.get("ensembles") or {}).items()
        if e.get("min_agreement") == 0 and e.get("min_confidence") == 0
    }
    return {
        "run": str(run_dir),
        "dataset": metrics.get("dataset"),
        "evaluated_split": c.get("evaluated_split"),
        "calibration": c["calibration"],
        "label_rule": c["label_rule"],
        "labels": metrics.get("labels"),
        "headline": c["headline"],
        "models": {
            mid: (prov.get("models") or {}).get(mid, {}).get("sha256") for mid in metrics.get("models", {})
        },
        "ensembles": ensembles,
        "thresholds": thresholds,
    }
