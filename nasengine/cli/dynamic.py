"""``nasengine dynamic train|eval|export``: input-adaptive networks that run faster.

The commands parse their options and call ``nasengine.dynamic.run`` (``train_run``,
``evaluate_run``, ``export_run``), where the run-folder logic lives.
"""

from __future__ import annotations

import argparse

from nasengine.cli.common import UsageError, add_force_option, add_threads_option, apply_threads
from nasengine.data import DATASETS
from nasengine.data.video_folder import VIDEO_DATASETS
from nasengine.dynamic.backbones import BACKBONES
from nasengine.dynamic.gated import GATES
from nasengine.dynamic.methods import DYNAMIC_METHODS
from nasengine.dynamic.run import evaluate_run, export_run, model_config, train_run
from nasengine.dynamic.trainer import DynamicTrainConfig, schedule
from nasengine.utils.progress import EpochLog


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dynamic", help="train, evaluate and export input-adaptive networks (RNP, SkipNet, routing, frames)")
    dsub = p.add_subparsers(dest="dynamic_command", required=True)

    t = dsub.add_parser("train", help="train a dynamic network (resumes an unfinished run in --out)")
    t.add_argument("--method", required=True, choices=DYNAMIC_METHODS.names())
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
    t.add_argument("--frames", type=int, default=8, help="frames: frames per clip")
    t.add_argument("--shift", action="store_true", help="frames: TSM temporal shift in every block")
    t.add_argument("--dataset", default=None, choices=DATASETS + VIDEO_DATASETS,
                   help="default: digits; clips for --method frames")
    t.add_argument("--data-root", help="folder of a local dataset (cifar10, cifar100, imagefolder, videofolder)")
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
    t.add_argument("--out", required=True, help="run folder (an unfinished run in it resumes; other settings are refused)")
    add_force_option(t, "the run in --out: empty it and start over")
    add_threads_option(t)
    t.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    t.set_defaults(func=cmd_train)

    e = dsub.add_parser("eval", help="accuracy, MACs and measured speedup of a trained run")
    e.add_argument("run", help="run folder or exported network")
    e.add_argument("--batches", default="1,64", help="batch sizes to time")
    e.add_argument("--images", type=int, default=128, help="test images timed per batch size")
    e.add_argument("--repeats", type=int, default=5, help="timed calls per measurement")
    add_threads_option(e)
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    e.add_argument("--data-root", help="folder of a local dataset, if the run used one")
    e.add_argument("--out", help="JSON file (default RUN/eval.json)")
    e.set_defaults(func=cmd_eval)

    x = dsub.add_parser("export", help="copy a trained network to a folder load_dynamic() reads")
    x.add_argument("run", help="run folder")
    x.add_argument("--out", required=True, help="destination folder (refused if it exists and is not empty)")
    add_force_option(x, "the files in an existing --out")
    x.set_defaults(func=cmd_export)


def _ints(text: str | None, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--{name} expects comma-separated integers, got {text!r}") from None


def _fractions(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(b) for b in text.split(","))
    except ValueError:
        raise UsageError(f"--{name} expects comma-separated fractions, got {text!r}") from None


def _dataset(args: argparse.Namespace) -> dict[str, object]:
    """The dataset settings of a run; video data goes with ``--method frames`` only."""
    video = args.method == "frames"
    name = args.dataset or ("clips" if video else "digits")
    if video != (name in VIDEO_DATASETS):
        wanted = ", ".join(VIDEO_DATASETS) if video else "an image dataset"
        raise UsageError(f"--dataset {name} does not fit --method {args.method}: it needs {wanted}")
    if args.frames < 1:
        raise UsageError(f"--frames must be a positive integer, got {args.frames}")
    dataset = {"name": name, "data_root": args.data_root, "image_size": args.image_size, "channels": args.channels}
    return {**dataset, "frames": args.frames} if video else dataset


def cmd_train(args: argparse.Namespace) -> int:
    dataset = _dataset(args)
    config = model_config(args.method, backbone=args.backbone, widths=_ints(args.widths, "widths"),
                          depths=_ints(args.depths, "depths"), channels=args.channels, image_size=args.image_size,
                          groups=args.groups, cell=args.cell, gate=args.gate, gate_norm=args.gate_norm,
                          branches=_fractions(args.branches, "branches"), hidden=args.hidden,
                          frames=args.frames, shift=args.shift)
    cfg = DynamicTrainConfig(epochs=args.epochs, nested_epochs=args.nested_epochs, policy_epochs=args.policy_epochs,
                             finetune_epochs=args.finetune_epochs, rounds=args.rounds, relaxed_epochs=args.relaxed_epochs,
                             penalty=args.penalty, cost=args.cost, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             device=args.device)

    def dense(acc: float) -> None:
        print(f"dense backbone after pre-training: test acc {acc:.4f}", flush=True)

    epochs = len(schedule(DYNAMIC_METHODS.get(args.method).recipe(), cfg))
    apply_threads(args.threads)
    run = train_run(args.method, config, cfg, dataset, args.out, progress=not args.quiet,
                    on_epoch=EpochLog(epochs, enabled=not args.quiet), on_dense=dense, force=args.force)
    if run.resumed_done:
        print(f"{run.out} is already trained; `nasengine dynamic eval {run.out}` measures it")
        return 0
    m = run.metrics
    print(f"test acc {m['test_acc']:.4f}  {m['macs'] / 1e6:.3f}M MACs per image  "
          f"({m['mac_reduction']:.2f}x fewer than the dense backbone)")
    print(f"saved the network, config and metrics in {run.out}/")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    threads = apply_threads(args.threads)
    result, path = evaluate_run(args.run, batches=_ints(args.batches, "batches") or (1,), images=args.images,
                                repeats=args.repeats, threads=threads, device=args.device,
                                data_root=args.data_root, out=args.out)
    dense = result.get("dense_test_acc")
    print(f"{result['method']}: test acc {result['acc']:.4f}"
          + (f"; dense backbone after pre-training {dense:.4f}" if dense is not None else ""))
    print(f"same weights with every group / block computed: {result['full_path_acc']:.4f} "
          "(BN statistics follow the dynamic routes)")
    print(f"MACs per image {result['macs'] / 1e6:.3f}M vs dense {result['dense_macs'] / 1e6:.3f}M: "
          f"{result['mac_reduction']:.2f}x fewer")
    if "frames_kept" in result:
        print(f"frames kept per clip: {100 * result['frames_kept']:.1f}% after the last decision")
    elif "blocks_skipped" in result:
        print(f"blocks skipped per image: {100 * result['blocks_skipped']:.1f}% of all blocks")
    else:
        print(f"channel groups computed: {100 * result['groups_computed']:.1f}%")
    print(f"{result['distinct_routes']} distinct routes; the most common one takes "
          f"{100 * result['top_route_share']:.1f}% of the inputs")
    for row in result["speed"]:
        print(f"batch {row['batch']:>3}: dense ({row['dense_layout']}) {row['dense_ms']:.3f} ms/image, "
              f"dynamic {row['dynamic_ms']:.3f} ms/image, "
              f"speedup {row['speedup']:.2f}x (MAC reduction of these images {row['mac_reduction']:.2f}x, "
              f"efficiency {row['efficiency']:.2f})"
              + (f"; plain network of each route: {row['static_route_speedup']:.2f}x" if "static_route_speedup" in row
                 else ""))
    print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = export_run(args.run, args.out, force=args.force)
    print(f"exported to {out}/; load with nasengine.dynamic.load_dynamic({str(out)!r})")
    return 0
