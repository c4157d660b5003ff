"""``nasengine dynamic train|eval|export``: input-adaptive networks that run faster.

``train`` writes a run folder (config.yaml, checkpoint.pt while running, model/ and
metrics.json at the end); running the same command again resumes. ``eval`` measures
accuracy, MACs and wall-clock speed against the dense backbone; ``export`` copies the
trained network to a folder that ``nasengine.dynamic.load_dynamic`` reads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from nasengine.cli.common import UsageError
from nasengine.data.datasets import DATASETS, load_dataset
from nasengine.dynamic import (BACKBONES, GATES, METHODS, BackboneConfig, DynamicTrainConfig, dense_reference,
                               evaluate_dynamic, evaluate_full_path, load_dynamic, recipe_for, save_dynamic,
                               speed_report, train_dynamic)
from nasengine.dynamic.io import build_dynamic, model_folder, saved_dataset, saved_dense_accuracy


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dynamic", help="train, evaluate and export input-adaptive networks (RNP, SkipNet, routing)")
    dsub = p.add_subparsers(dest="dynamic_command", required=True)

    t = dsub.add_parser("train", help="train a dynamic network (resumes an unfinished run in --out)")
    t.add_argument("--method", required=True, choices=METHODS)
    t.add_argument("--backbone", default=None, choices=BACKBONES, help="default: vgg for rnp, resnet otherwise")
    t.add_argument("--widths", help="stage widths, e.g. 16,32,64,128,128 (default: VGG-16 / ResNet-20)")
    t.add_argument("--depths", help="convs (vgg) or blocks (resnet) per stage, e.g. 2,2,3,3,3")
    t.add_argument("--groups", type=int, default=4, help="rnp: nested channel groups per layer")
    t.add_argument("--cell", default="gru", choices=("gru", "none"), help="rnp: recurrent or feed-forward decisions")
    t.add_argument("--gate", default="feedforward", choices=GATES, help="skipnet/routing: gate network")
    t.add_argument("--gate-norm", action=argparse.BooleanOptionalAction, default=True,
                   help="skipnet/routing: standardise the pooled features the gates read")
    t.add_argument("--branches", default="0,0.5,1", help="routing: inner width fraction of each path (0 = skip)")
    t.add_argument("--hidden", type=int, default=None, help="decision network width (default 32 rnp, 16 gates)")
    t.add_argument("--dataset", default="digits", choices=DATASETS)
    t.add_argument("--data-root", help="folder of a local dataset (cifar10, cifar100, imagefolder)")
    t.add_argument("--image-size", type=int, default=32)
    t.add_argument("--channels", type=int, default=1, choices=(1, 3), help="image channels fed to the network")
    t.add_argument("--penalty", type=float, default=DynamicTrainConfig.penalty,
                   help="computation penalty: larger = faster, less accurate")
    t.add_argument("--cost", default="groups", choices=("groups", "macs", "latency"),
                   help="what the penalty charges: share of groups (gates: MACs), MACs, or measured batch-1 time")
    t.add_argument("--epochs", type=int, default=DynamicTrainConfig.epochs, help="backbone pre-training epochs")
    t.add_argument("--nested-epochs", type=int, default=DynamicTrainConfig.nested_epochs,
                   help="rnp: epochs training random nested widths after pre-training")
    t.add_argument("--policy-epochs", type=int, default=DynamicTrainConfig.policy_epochs,
                   help="rnp: decision-network epochs per round; skipnet/routing: REINFORCE epochs")
    t.add_argument("--finetune-epochs", type=int, default=DynamicTrainConfig.finetune_epochs,
                   help="backbone fine-tuning epochs (rnp: per round; skipnet/routing: under the final gates)")
    t.add_argument("--rounds", type=int, default=DynamicTrainConfig.rounds, help="rnp: alternation rounds")
    t.add_argument("--relaxed-epochs", type=int, default=DynamicTrainConfig.relaxed_epochs,
                   help="skipnet/routing: straight-through gate epochs")
    t.add_argument("--batch-size", type=int, default=DynamicTrainConfig.batch_size)
    t.add_argument("--lr", type=float, default=None, help="pre-training learning rate (default 0.01 rnp, 0.05 gates)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = dsub.add_parser("eval", help="accuracy, MACs and measured speedup of a trained run")
    e.add_argument("run", help="run folder or exported network")
    e.add_argument("--batches", default="1,64", help="batch sizes to time")
    e.add_argument("--images", type=int, default=128, help="test images timed per batch size")
    e.add_argument("--repeats", type=int, default=5)
    e.add_argument("--threads", type=int, default=None, help="torch threads while timing (default: as is)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--data-root", help="folder of a local dataset, if the run used one")
    e.add_argument("--out", help="JSON file (default RUN/eval.json)")
    e.set_defaults(func=cmd_eval)

    x = dsub.add_parser("export", help="copy a trained network to a folder load_dynamic() reads")
    x.add_argument("run", help="run folder")
    x.add_argument("--out", required=True, help="destination folder")
    x.set_defaults(func=cmd_export)


def _ints(text: str | None, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--{name} expects comma-separated integers, got {text!r}") from None


def model_config(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The network config dict that ``args`` describe (validated by building it)."""
    kind = args.backbone or ("vgg" if args.method == "rnp" else "resnet")
    overrides: dict[str, Any] = {"in_channels": args.channels, "input_size": args.image_size}
    for name in ("widths", "depths"):
        value = _ints(getattr(args, name), name)
        if value is not None:
            overrides[name] = value
    backbone = BackboneConfig.default(kind, **overrides)
    if args.method == "rnp":
        hidden = 32 if args.hidden is None else args.hidden  # 0 is refused by the config, not replaced
        config = {"backbone": backbone.to_dict(), "groups": args.groups, "cell": args.cell, "hidden": hidden}
    else:
        try:
            branches = [float(b) for b in args.branches.split(",")]
        except ValueError:
            raise UsageError(f"--branches expects comma-separated fractions, got {args.branches!r}") from None
        hidden = 16 if args.hidden is None else args.hidden
        config = {"backbone": backbone.to_dict(), "gate": args.gate, "hidden": hidden, "branches": branches,
                  "gate_norm": args.gate_norm}
    return args.method, config


def cmd_train(args: argparse.Namespace) -> int:
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: CUDA is not available on this machine")
    method, config = model_config(args)
    torch.manual_seed(args.seed)  # initial weights follow --seed
    model = build_dynamic(method, config)  # validates before any data is read
    cfg = DynamicTrainConfig(epochs=args.epochs, nested_epochs=args.nested_epochs, policy_epochs=args.policy_epochs,
                             finetune_epochs=args.finetune_epochs, rounds=args.rounds, relaxed_epochs=args.relaxed_epochs,
                             penalty=args.penalty, cost=args.cost, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             device=args.device)
    dataset = {"name": args.dataset, "data_root": args.data_root, "image_size": args.image_size, "channels": args.channels}
    resolved = {"method": method, "model": config, "train": cfg.to_dict(), "dataset": dataset}
    out = Path(args.out)
    saved = out / "config.yaml"
    if saved.is_file():
        if yaml.safe_load(saved.read_text()) != _plain(resolved):
            raise UsageError(f"{out} holds a run with different settings; use another --out or the same options")
        if (out / "metrics.json").is_file():
            print(f"{out} is already trained; `nasengine dynamic eval {out}` measures it")
            return 0
    data = load_dataset(args.dataset, data_root=args.data_root, image_size=args.image_size, channels=args.channels)
    if data.num_classes != model.config.backbone.num_classes:
        torch.manual_seed(args.seed)
        model = build_dynamic(method, {**config, "backbone": {**config["backbone"], "num_classes": data.num_classes}})
        config = model.config.to_dict()
        resolved["model"] = config
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(yaml.safe_dump(_plain(resolved), sort_keys=False))
    torch.manual_seed(args.seed)
    train_loader, val_loader, test_loader = data.loaders(cfg.batch_size, seed=args.seed)
    t0 = time.perf_counter()

    def report(r: dict[str, Any]) -> None:
        print(f"epoch {r['epoch']:>3} {r['phase']:<9} loss {r['loss']:.4f}  val acc {r['val_acc']:.4f}  "
              f"MAC reduction {r['val_mac_reduction']:.2f}x", flush=True)

    def measure_dense(net: torch.nn.Module) -> dict[str, float]:
        acc = dense_reference(net, train_loader, test_loader, device=cfg.device)
        print(f"dense backbone after pre-training: test acc {acc:.4f}", flush=True)
        return {"dense_test_acc": acc}

    history = train_dynamic(model, recipe_for(method), train_loader, val_loader, cfg, checkpoint=out / "checkpoint.pt",
                            progress=not args.quiet, on_epoch=report, after_pretrain=measure_dense)
    test = evaluate_dynamic(model, test_loader, device=cfg.device)
    dense_acc = next((r["dense_test_acc"] for r in history if "dense_test_acc" in r), None)
    metrics = {"method": method, "test_acc": test["acc"], "dense_test_acc": dense_acc,
               **{k: v for k, v in test.items() if k not in ("acc", "macs", "mac_reduction")}, "macs": test["macs"],
               "dense_macs": model.dense_macs(), "mac_reduction": test["mac_reduction"],
               "full_path_acc": evaluate_full_path(model, test_loader, device=cfg.device),
               "history": history, "seconds": time.perf_counter() - t0}
    save_dynamic(model.cpu(), out / "model", extra={"dataset": dataset})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "checkpoint.pt").unlink(missing_ok=True)
    print(f"test acc {test['acc']:.4f}  {test['macs'] / 1e6:.3f}M MACs per image  "
          f"({test['mac_reduction']:.2f}x fewer than the dense backbone)")
    print(f"saved the network, config and metrics in {out}/")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    batches = _ints(args.batches, "batches") or (1,)
    if args.images < max(batches) or args.repeats < 1:
        raise UsageError(f"--images must be >= the largest batch ({max(batches)}) and --repeats >= 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: CUDA is not available on this machine")
    model = load_dynamic(args.run, device=args.device)
    folder = model_folder(args.run)
    dataset = saved_dataset(folder)
    if dataset is None:
        raise UsageError(f"{args.run} does not record its dataset; evaluate the run folder instead")
    data = load_dataset(dataset["name"], data_root=args.data_root or dataset.get("data_root"),
                        image_size=dataset["image_size"], channels=dataset["channels"])
    _, _, test_loader = data.loaders(64)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"run": str(args.run), "method": model.method, **evaluate_dynamic(model, test_loader, device=args.device),
              "full_path_acc": evaluate_full_path(model, test_loader, device=args.device),
              "dense_macs": model.dense_macs(), "device": args.device, "threads": torch.get_num_threads()}
    dense_acc = saved_dense_accuracy(folder)
    if dense_acc is not None:
        result["dense_test_acc"] = dense_acc
    images = torch.cat([x for x, _ in test_loader])[: args.images].to(args.device)
    result["speed"] = [speed_report(model, images, b, repeats=args.repeats) for b in batches]
    dense = result.get("dense_test_acc")
    print(f"{model.method}: test acc {result['acc']:.4f}"
          + (f"; dense backbone after pre-training {dense:.4f}" if dense is not None else ""))
    print(f"same weights with every group / block computed: {result['full_path_acc']:.4f} "
          "(BN statistics follow the dynamic routes)")
    print(f"MACs per image {result['macs'] / 1e6:.3f}M vs dense {result['dense_macs'] / 1e6:.3f}M: "
          f"{result['mac_reduction']:.2f}x fewer")
    if "blocks_skipped" in result:
        print(f"blocks skipped per image: {100 * result['blocks_skipped']:.1f}% of all blocks")
    else:
        print(f"channel groups computed: {100 * result['groups_computed']:.1f}%")
    print(f"{result['distinct_routes']} distinct routes; the most common one takes "
          f"{100 * result['top_route_share']:.1f}% of the images")
    for row in result["speed"]:
        print(f"batch {row['batch']:>3}: dense ({row['dense_layout']}) {row['dense_ms']:.3f} ms/image, dynamic {row['dynamic_ms']:.3f} ms/image, "
              f"speedup {row['speedup']:.2f}x (MAC reduction of these images {row['mac_reduction']:.2f}x, "
              f"efficiency {row['efficiency']:.2f})"
              + (f"; plain network of each route: {row['static_route_speedup']:.2f}x" if "static_route_speedup" in row
                 else ""))
    path = Path(args.out) if args.out else folder.parent / "eval.json" if folder.name == "model" else folder / "eval.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    run = Path(args.run)
    source = run / "model"
    if not (source / "dynamic.json").is_file():
        raise UsageError(f"{run} has no trained network (no model/dynamic.json); finish `nasengine dynamic train` first")
    load_dynamic(source)  # refuses a damaged folder before anything is copied
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("dynamic.json", "weights.pt"):
        shutil.copyfile(source / name, out / name)
    if (run / "metrics.json").is_file():
        metrics = json.loads((run / "metrics.json").read_text())
        (out / "metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=2) + "\n")
    print(f"exported to {out}/; load with nasengine.dynamic.load_dynamic({str(out)!r})")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
