"""``nasengine export``: deployable forms of the architectures a search found."""

from __future__ import annotations

import argparse

from nasengine.cli.common import add_force_option, deprecated_alias
from nasengine.export.export import export_run, parse_formats, unavailable_formats
from nasengine.export.formats import format_names
from nasengine.utils.validation import finite_number


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write weights, torch.export and ONNX forms of found architectures")
    p.add_argument("run", help="search run folder, or an architecture folder (arch.json + weights.pt)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--top-k", type=int, help="export the best K trials (default 3)")
    deprecated_alias(which, "--top", "--top-k", type=int)
    which.add_argument("--arch", help="export this arch id (a unique prefix is enough)")
    p.add_argument("--format", help=f"comma-separated subset of {','.join(format_names())} (default all; "
                                    "a format whose extra is not installed is skipped)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", help="parent folder of the <arch-id>/ folders (default RUN/exports)")
    where.add_argument("--into", help="folder of the export itself, for one architecture (--top-k 1 or --arch)")
    add_force_option(p, "the files of an architecture's existing --out / --into folder")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest allowed output difference, relative to the largest output")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    formats, explicit = parse_formats(args.format)
    finite_number("--tolerance", args.tolerance, low=0, low_open=True, high=None)
    if not explicit:
        for name, need in unavailable_formats(formats).items():
            print(f"note: skipping {name}; it needs {need}")
    for folder, record in export_run(args.run, top=args.top_k, arch_id=args.arch, formats=formats, explicit=explicit,
                                     out=args.out, into=args.into, tolerance=args.tolerance,
                                     force=args.force):
        diffs = "  ".join(f"{k} {v:.2e}" for k, v in record.max_abs_diff.items())
        print(f"{record.arch_id}: {folder}/  parity max abs diff: {diffs}")
    return 0
