"""``nasengine export``: deployable forms of the architectures a search found."""

from __future__ import annotations

import argparse

from nasengine.export.export import FORMATS, ONNX_EXTRA, export_run, onnx_available, parse_formats


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write weights, torch.export and ONNX forms of found architectures")
    p.add_argument("run", help="search run folder, or an architecture folder (arch.json + weights.pt)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--top", type=int, help="export the best K trials (default 3)")
    which.add_argument("--arch", help="export this arch id (a unique prefix is enough)")
    p.add_argument("--format", help=f"comma-separated subset of {','.join(FORMATS)} (default all; "
                                    "onnx is skipped when its extra is not installed)")
    p.add_argument("--out", help="parent folder of the <arch-id>/ folders (default RUN/exports)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest allowed output difference, relative to the largest output (default 1e-4)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    formats, explicit = parse_formats(args.format)
    if not args.tolerance > 0:
        raise ValueError(f"--tolerance must be > 0, got {args.tolerance}")
    if "onnx" in formats and not explicit and not onnx_available():
        print(f"note: skipping ONNX; it needs {ONNX_EXTRA}")
    for folder, record in export_run(args.run, top=args.top, arch_id=args.arch, formats=formats, explicit=explicit,
                                     out=args.out, tolerance=args.tolerance):
        diffs = "  ".join(f"{k} {v:.2e}" for k, v in record.max_abs_diff.items())
        print(f"{record.arch_id}: {folder}/  parity max abs diff: {diffs}")
    return 0
