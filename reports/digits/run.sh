#!/usr/bin/env bash
# Reproduces reports/digits/: two searches on digits (evolution, rl) and the comparison report.
# Run from the repository root: bash reports/digits/run.sh   (about 5-10 min on 2 CPU cores)
set -euo pipefail
NASENGINE=${NASENGINE:-.venv/bin/nasengine}
SPACE=(--space shufflenet --set input_size=8 --set num_classes=10 --set in_channels=1 --set stem_channels=8
       --set stem_stride=1 --set 'stage_repeats=[1,1,2,1]' --set 'stage_channels=[16,24,32,48]' --set last_channels=64)
for strategy in evolution rl; do
  resume=()
  [[ -f runs/digits/$strategy/study.db ]] && resume=(--resume)
  "$NASENGINE" search "${SPACE[@]}" --strategy "$strategy" --dataset digits --epochs 3 --max-macs 40K \
    --trials 40 --seed 0 --out "runs/digits/$strategy" "${resume[@]}"
done
"$NASENGINE" report runs/digits/evolution runs/digits/rl \
  --baselines torchvision:shufflenet_v2_x0_5,timm:mobilenetv3_small_050 \
  --seeds 3 --epochs 20 --top-k 2 --out reports/digits
