"""WiSE-FT and output ensembles between a linear-probed model (the starter: frozen ImageNet features + a
logistic head) and a fine-tuned one of the same architecture (issue #20, part A).

For each mixing weight a in 0, 0.1, ..., 1: the weight-space blend (1 - a) * probe + a * fine-tuned (every
tensor, BatchNorm statistics included) and the output blend of their probabilities, scored on TrashNet val and
the field set. The weight is chosen on val + field (mean of the two accuracies); TrashNet test is scored only
for the chosen weights, once.

    .venv/bin/python -m experiments.wise_ft runs/starter/best runs/default/best
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch

from wastesort.data import by_split, load_samples
from wastesort.settings import get_settings
from wastesort_trainer.evaluation import ImageCache, error_detection, predict_logits, report_from_logits
from wastesort_trainer.models import blend_weights, load_classifier
from wastesort_trainer.report import machine, save_json_report

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]


def blend(probe: torch.nn.Module, tuned: torch.nn.Module, a: float) -> torch.nn.Module:
    mixed = copy.deepcopy(tuned)
    mixed.load_state_dict(blend_weights(probe, tuned, a))
    return mixed.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("probe")
    ap.add_argument("tuned")
    ap.add_argument("--report", default="reports/wise_ft.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    settings = get_settings()
    trashnet = load_samples(settings.data.root)
    sets = {"val": by_split(trashnet, "val"), "field": load_samples(settings.data.field)}
    probe, tuned = load_classifier(args.probe), load_classifier(args.tuned)
    if probe.card.pretrained_cfg != tuned.card.pretrained_cfg or probe.card.architecture != tuned.card.architecture:
        raise SystemExit("both models must share architecture and input config")
    cfg, cache = tuned.card.pretrained_cfg, ImageCache()
    labels = {k: np.array([s.label for s in v]) for k, v in sets.items()}

    def probs(model: torch.nn.Module, split: str, samples=None) -> np.ndarray:
        logits = predict_logits(model, samples or sets[split], cfg, cache=cache)
        return torch.from_numpy(logits).softmax(1).numpy()

    def acc(p: np.ndarray, split: str) -> float:
        return round(100 * float(np.mean(p.argmax(1) == labels[split])), 2)

    ends = {k: (probs(probe.model, k), probs(tuned.model, k)) for k in sets}
    rows, wise_field = [], {}
    for a in WEIGHTS:
        mixed = blend(probe.model, tuned.model, a)
        row = {"a": a}
        for k in sets:
            p = probs(mixed, k)
            row[f"wise_{k}"] = acc(p, k)
            row[f"ensemble_{k}"] = acc((1 - a) * ends[k][0] + a * ends[k][1], k)
            if k == "field":
                wise_field[a] = p
        row["wise_field_auroc_max_prob"] = error_detection(np.log(np.clip(wise_field[a], 1e-12, 1)),
                                                           labels["field"])["max_prob"]
        rows.append(row)
        print(row, flush=True)
    out = {"machine": machine(), "probe": args.probe, "tuned": args.tuned, "rows": rows}
    test = by_split(trashnet, "test")
    y_test = np.array([s.label for s in test])
    for kind in ("wise", "ensemble"):
        best = max(rows, key=lambda r: (r[f"{kind}_val"] + r[f"{kind}_field"]) / 2)
        a = best["a"]
        if kind == "wise":
            p_test = probs(blend(probe.model, tuned.model, a), "test", test)
        else:
            p_test = (1 - a) * probs(probe.model, "test", test) + a * probs(tuned.model, "test", test)
        field_rep = report_from_logits(np.log(np.clip(
            wise_field[a] if kind == "wise" else (1 - a) * ends["field"][0] + a * ends["field"][1], 1e-12, 1)),
            labels["field"])
        out[f"chosen_{kind}"] = {**best, "test": round(100 * float(np.mean(p_test.argmax(1) == y_test)), 2),
                                 "field_per_class_recall": field_rep["per_class"]}
        print(f"chosen {kind}: a = {a}: val {best[f'{kind}_val']}%, field {best[f'{kind}_field']}%, "
              f"test {out[f'chosen_{kind}']['test']}%", flush=True)
    save_json_report(args.report, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
