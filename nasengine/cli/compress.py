"""``nasengine compress``: prune a trained network to a MACs or latency limit and fine-tune it."""

from __future__ import annotations

import argparse

from nasengine.cli.common import UsageError, apply_threads, invoked_command, parse_sets
from nasengine.cli.model_source import (
    add_finetune_options,
    add_run_options,
    add_source_options,
    load_source_and_data,
    prepare_out,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from nasengine.compress.methods import METHODS

    p = sub.add_parser("compress", help="prune a trained network into a smaller one under a MACs or latency limit")
    add_source_options(p)
    p.add_argument("--max-macs", help="MACs limit: absolute (40M) or of the source's (25%%, 0.25)")
    p.add_argument("--max-latency-ms", help="latency limit: milliseconds (3, 3ms) or of the source's predicted "
                                            "latency (50%%); needs --latency-table")
    p.add_argument("--latency-table", help="the model's latency table (nasengine latency build --model MODEL)")
    p.add_argument("--method", default="l1", choices=tuple(METHODS),
                   help="; ".join(f"{name}: {m.help}" for name, m in METHODS.items()))
    add_finetune_options(p, lr=0.01, calibration="LASSO and reconstruction sample feature maps of")
    add_run_options(p)
    p.set_defaults(func=cmd_compress)


#: Options that change what an interrupted compression resumes (checked against settings.json).
_SETTINGS = ("model", "weights", "image_size", "dataset", "data_root", "max_macs", "max_latency_ms", "latency_table",
             "method", "set", "finetune_epochs", "lr", "calibration_images", "seed")
_LATER_SETTINGS = ("max_latency_ms", "latency_table")


def cmd_compress(args: argparse.Namespace) -> int:
    from nasengine.compress.layers import PruningError
    from nasengine.compress.run import CompressConfig, compress
    from nasengine.cost import human
    from nasengine.export.compressed import export_compressed
    from nasengine.records.compress import CompressRecord
    from nasengine.utils.files import save_json_atomic
    from nasengine.utils.validation import output_path

    if args.max_macs is None and args.max_latency_ms is None:
        raise UsageError("give a limit: --max-macs, --max-latency-ms (with --latency-table), or both")
    out = output_path("--out", args.out, folder=True)
    checkpoint, settings_file = out / "finetune.pt", out / "settings.json"
    settings = {k: getattr(args, k) for k in _SETTINGS}
    # Unused options added later stay out, so that a run interrupted before they existed resumes.
    settings = {k: v for k, v in settings.items() if not (k in _LATER_SETTINGS and v is None)}
    prepare_out(out, settings, force=args.force, record=CompressRecord.FILE, checkpoint=checkpoint)
    apply_threads(args.threads)
    try:
        cfg = CompressConfig(method=args.method, max_macs=args.max_macs or "100%", finetune_epochs=args.finetune_epochs,
                             lr=args.lr, calibration_images=args.calibration_images, seed=args.seed,
                             options=parse_sets(args.set), max_latency=args.max_latency_ms,
                             latency_table=args.latency_table)
        source, data = load_source_and_data(args)
        save_json_atomic(settings, settings_file)  # once the inputs are known good: bad input writes nothing
        model, record = compress(source, data, cfg, checkpoint=checkpoint, workdir=out / "method", tensorboard=out / "tb",
                                 progress=not args.quiet, command=invoked_command(args), threads=args.threads)
        record = export_compressed(model, record, out)
    except PruningError as exc:
        raise UsageError(str(exc)) from None
    src, new = record.source_cost, record.cost
    print(f"{args.method}: {human(src['macs'])} -> {human(new['macs'])} MACs, {human(src['params'])} -> "
          f"{human(new['params'])} params; val acc {record.source_val_acc:.4f} -> {record.pruned_val_acc:.4f}"
          + (f" -> {record.finetuned_val_acc:.4f} fine-tuned" if record.finetuned_val_acc is not None else ""))
    if record.latency is not None:
        lat = record.latency
        print(f"latency (limit {lat['limit_ms']:.3f} ms): predicted {lat['source_predicted_ms']:.3f} -> "
              f"{lat['predicted_ms']:.3f} ms, measured {lat['source_measured_ms']:.3f} -> {lat['measured_ms']:.3f} ms")
    print(f"wrote {out / CompressRecord.FILE}")
    return 0
