"""``nasengine spaces``, ``nasengine space show|sample`` and ``nasengine cost``."""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from nasengine.cli.common import UsageError, make_space, parse_sets, preset_networks, resolve_arch, space_config
from nasengine.constraints import Constraints
from nasengine.controller import InfeasibleError, constrained_random
from nasengine.cost import count_cost, human, parse_amount
from nasengine.registry import SPACES
from nasengine.utils.validation import output_path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spaces", help="list the registered search spaces")
    p.set_defaults(func=cmd_spaces)

    p = sub.add_parser("space", help="inspect a search space")
    space_sub = p.add_subparsers(dest="space_command", required=True)
    show = space_sub.add_parser("show", help="decisions, options, size, min/max cost, presets")
    show.add_argument("name")
    show.add_argument("--preset", metavar="NAME", help="start from the config of this preset network (listed by show)")
    show.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=cmd_space_show)

    sample = space_sub.add_parser("sample", help="write a random valid architecture as an arch JSON file")
    sample.add_argument("name")
    sample.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--max-macs", help="hard limit, e.g. 40K")
    sample.add_argument("--out", required=True, help="arch JSON file, as `nasengine train|cost --arch FILE` read it")
    sample.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    sample.set_defaults(func=cmd_space_sample)

    p = sub.add_parser("cost", help="exact MACs and parameters of an architecture")
    p.add_argument("--arch", required=True, help="arch JSON file, export folder, inline JSON, or preset name")
    p.add_argument("--space", help="space name (needed for presets and bare choices)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    p.add_argument("--verify", action="store_true", help="also build the network and count it with fvcore")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_cost)


def cmd_spaces(args: argparse.Namespace) -> int:
    print(f"{'name':<16} {'decisions':>9} {'size':>10}  description")
    for name in SPACES.names():
        cls = SPACES.get(name)
        space = cls()
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<16} {len(space.decisions()):>9} {_size(space.size()):>10}  {doc}")
    return 0


def cmd_space_show(args: argparse.Namespace) -> int:
    space = make_space(args.name, space_config(args.name, args.preset, parse_sets(args.set)))
    low, high = space.cost_bounds()
    presets = {name: {"id": a.id, **space.cost(a).to_dict()} for name, a in space.presets().items()}
    networks = {}
    for name, net in preset_networks(args.name).items():
        net_space, arch = type(space).from_preset(name)
        networks[name] = {"arch": net.arch, "id": arch.id, **net_space.cost(arch).to_dict(), "source": net.source}
    if args.json:
        print(json.dumps({
            "space": args.name,
            "config": space.config.to_dict(),
            "decisions": [{"name": d.name, "kind": d.kind, "options": list(d.options)} for d in space.decisions()],
            "size": space.size(),
            "min": low.to_dict(),
            "max": high.to_dict(),
            "presets": presets,
            "preset_networks": networks,
        }, indent=2, default=list))
        return 0
    print(f"space {args.name}")
    for key, value in space.config.to_dict().items():
        print(f"  {key} = {value}")
    print(f"decisions ({len(space.decisions())}):")
    for d in space.decisions():
        print(f"  {d.name:<24} {d.kind:<6} {list(d.options)}")
    print(f"size: {_size(space.size())} architectures")
    print(f"MACs:   min {human(low.macs)} ({low.macs:,})  max {human(high.macs)} ({high.macs:,})")
    print(f"params: min {human(low.params)} ({low.params:,})  max {human(high.params)} ({high.params:,})")
    for name, row in presets.items():
        print(f"preset {name}: {human(row['macs'])} MACs, {human(row['params'])} params (id {row['id']})")
    if networks:
        print("preset networks (each with its own config; --preset NAME shows it, --arch NAME builds it):")
    name_width = max((len(name) for name in networks), default=0)
    for name, row in networks.items():
        print(f"  {name:<{name_width}} {human(row['macs']):>7} MACs ({row['macs']:,}), {human(row['params']):>7} params "
              f"({row['params']:,}); {row['source']}")
    return 0


def cmd_space_sample(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"--out {args.out!r} exists; pass --force to overwrite it")
    output_path("--out", out, folder=False)
    space = make_space(args.name, parse_sets(args.set))
    limits = Constraints(max_macs=None if args.max_macs is None else parse_amount(args.max_macs))
    limits.check_satisfiable(space)  # an impossible limit names the space's minimum
    try:
        arch = constrained_random(space, lambda a: limits.feasible(space, a), random.Random(args.seed))
    except InfeasibleError as exc:  # satisfiable but too rare for rejection sampling
        raise UsageError(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(arch.to_json(indent=2) + "\n")
    cost = space.cost(arch)
    print(f"arch {arch.id} ({arch.space}): {human(cost.macs)} MACs ({cost.macs:,}), "
          f"{human(cost.params)} params ({cost.params:,}); wrote {args.out}")
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    space, arch = resolve_arch(args.arch, args.space, parse_sets(args.set))
    cost = space.cost(arch)
    row = {"space": arch.space, "arch_id": arch.id, **cost.to_dict()}
    if args.verify:
        counted = count_cost(space.build(arch), space.input_shape())
        row["fvcore"] = counted.to_dict()
        row["match"] = counted == cost
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print(f"arch {arch.id} ({arch.space})")
        print(f"  MACs:   {cost.macs:,} ({human(cost.macs)})")
        print(f"  params: {cost.params:,} ({human(cost.params)})")
        if args.verify:
            verdict = "matches" if row["match"] else "DIFFERS FROM"
            print(f"  fvcore count of the built network: {row['fvcore']['macs']:,} MACs, "
                  f"{row['fvcore']['params']:,} params ({verdict} the analytic cost)")
    return 0 if not args.verify or row["match"] else 1


def _size(n: int) -> str:
    return f"{n:,}" if n < 10**7 else f"~10^{math.log10(n):.1f}"
