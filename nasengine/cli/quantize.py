"""``nasengine quantize``: choose per-layer bits for a trained network (uniform, or HAQ's
search under a size or BitOps limit) and fine-tune it with quantization in the loop."""

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
    p = sub.add_parser("quantize", help="quantize a trained network to per-layer bit widths (uniform or HAQ)")
    add_source_options(p)
    p.add_argument("--method", default="haq", choices=("uniform", "haq"),
                   help="uniform: every layer at --bits; haq: a DDPG agent chooses each layer's weight and "
                        "activation bits under --max-size, --max-bitops or --max-latency-ms (Wang et al., CVPR 2019)")
    p.add_argument("--bits", type=int, default=8, help="bits of weights and activations for --method uniform")
    p.add_argument("--act-bits", type=int, default=None,
                   help="bits of every activation (uniform: instead of --bits; haq: then searches weight bits only); "
                        "under --max-size haq holds activations at --max-bits unless this is given")
    p.add_argument("--max-size", help="size limit in bits: absolute (2M) or of the float network's (25%%, 0.25)")
    p.add_argument("--max-bitops", help="BitOps limit: absolute (5G) or of the float network's MACs x 32 x 32 (5%%)")
    p.add_argument("--max-latency-ms", type=float, metavar="MS",
                   help="latency limit in milliseconds per batch of --hardware's table (1 image, except "
                        "bismo-cloud's 16)")
    p.add_argument("--hardware", metavar="NAME|TABLE",
                   help="latency table: bitfusion, bismo (analytic models of those accelerators, not measurements), "
                        "bismo-edge, bismo-cloud (roofline models: compute or memory bound), "
                        "cpu-fp32, cpu-int8 (each layer measured on this machine; written to OUT/hardware.json) "
                        "or a table JSON written before")
    p.add_argument("--min-bits", type=int, default=2, help="fewest bits haq gives a layer (2..8)")
    p.add_argument("--max-bits", type=int, default=8, help="most bits haq gives a layer (2..8)")
    p.add_argument("--first-last-bits", type=int, default=8,
                   help="bits of the first and last layers (HAQ keeps them at 8); 0: chosen as the others")
    p.add_argument("--act-clip", default="kl", choices=("kl", "mse", "max"),
                   help="clipping of activation ranges below 5 bits: kl (HAQ's KL divergence), mse (least squared "
                        "error) or max (none)")
    add_finetune_options(p, lr=0.001, calibration="calibrate the activation ranges")
    add_run_options(p)
    p.set_defaults(func=cmd_quantize)


#: Options that change what an interrupted quantization resumes (checked against settings.json).
_SETTINGS = ("model", "weights", "image_size", "dataset", "data_root", "method", "bits", "max_size", "max_bitops",
             "max_latency_ms", "hardware", "min_bits", "max_bits", "first_last_bits", "act_clip", "set",
             "finetune_epochs", "lr", "calibration_images", "seed", "act_bits")
_LATER_SETTINGS = ("act_bits",)


def cmd_quantize(args: argparse.Namespace) -> int:
    from nasengine.compress.layers import PruningError
    from nasengine.cost import human
    from nasengine.quantize.export import RECORD, export_quantized
    from nasengine.quantize.layers import QuantizeError
    from nasengine.quantize.run import QuantizeConfig, quantize
    from nasengine.utils.files import save_json_atomic
    from nasengine.utils.validation import output_path

    out = output_path("--out", args.out, folder=True)
    checkpoint, settings_file = out / "finetune.pt", out / "settings.json"
    settings = {k: getattr(args, k) for k in _SETTINGS}
    # Unused options added later stay out, so that a run interrupted before they existed resumes.
    settings = {k: v for k, v in settings.items() if not (k in _LATER_SETTINGS and v is None)}
    prepare_out(out, settings, force=args.force, record=RECORD, checkpoint=checkpoint)
    apply_threads(args.threads)
    try:
        cfg = QuantizeConfig(method=args.method, bits=args.bits, act_bits=args.act_bits, max_size=args.max_size,
                             max_bitops=args.max_bitops, max_latency_ms=args.max_latency_ms, hardware=args.hardware,
                             min_bits=args.min_bits, max_bits=args.max_bits, first_last_bits=args.first_last_bits,
                             act_clip=args.act_clip, finetune_epochs=args.finetune_epochs, lr=args.lr,
                             calibration_images=args.calibration_images, seed=args.seed, options=parse_sets(args.set))
        source, data = load_source_and_data(args)
        save_json_atomic(settings, settings_file)  # once the inputs are known good: bad input writes nothing
        model, record = quantize(source, data, cfg, workdir=out / "method", checkpoint=checkpoint,
                                 tensorboard=out / "tb", progress=not args.quiet, command=invoked_command(args),
                                 table_out=out / "hardware.json")
        record = export_quantized(model, record, out)
    except (PruningError, QuantizeError) as exc:
        raise UsageError(str(exc)) from None
    bits = sorted({tuple(b) for b in record["policy"].values()})
    print(f"{args.method}: size {human(record['float_size_bits'])} -> {human(record['size_bits'])} bits "
          f"({record['size_bits'] / record['float_size_bits']:.3f}), BitOps {human(record['bitops'])}; "
          f"val acc {record['float_val_acc']:.4f} -> {record['quantized_val_acc']:.4f}"
          + (f" -> {record['finetuned_val_acc']:.4f} fine-tuned" if record["finetuned_val_acc"] is not None else "")
          + f"; (w, a) bits used: {', '.join(f'{w}/{a}' for w, a in bits)}")
    if record["hardware"] is not None:
        hw = record["hardware"]
        print(f"latency on {hw['name']} ({hw['kind']}): {hw['latency_ms']:.4g} ms per image, limit "
              f"{hw['max_latency_ms']:.4g} ms; table {out / 'hardware.json'}")
    print(f"wrote {out / RECORD}")
    return 0
