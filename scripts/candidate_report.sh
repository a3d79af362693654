#!/usr/bin/env bash
# Everything docs/TRAINING.md reports for a candidate `lite` checkpoint, in one go (about 4 minutes
# on 2 idle cores), with the venv active. The ship rule reads the blocks marked "ship rule" and
# the tone; the rest is watched. Exits 1 if any step failed (each failure is named in the report).
#   bash scripts/candidate_report.sh runs/lite-v15/best.pt > runs/lite-v15.report 2>&1
set -u
MODEL=$(realpath -- "${1:?usage: candidate_report.sh CHECKPOINT}")
cd "$(dirname "$0")/.."
REAL=../shared/real-raindrop/pairs  # evaluation only (its README); skipped where absent
TONE=$(mktemp -d)
trap 'rm -rf "$TONE"' EXIT
status=0
step() { "$@" || { echo "FAILED ($?): $*"; status=1; }; }

# Every set holds 64 pairs since run 31 (docs/TRAINING.md, "A larger judging set"); the first 16
# are the sets reported before it. The four the ship rule reads are scripts/judging_sets.py's.
PAIRS=(--set data.val_pairs=64)
VEIL=(--set 'data.veil=[0.03,0.22]')  # quoted: unquoted brackets are a glob
echo "### held-out rendered pairs, half veiled (ship rule to run 35: against the shipped model)"
step python scripts/val_score.py --judging-set "bright-veil mixed" lite "$MODEL"
echo "### held-out rendered pairs, half under a dim film between the drops (ship rule from run 36: against the shipped model)"
step python scripts/val_score.py --recipe train/recipes/lite.toml "${PAIRS[@]}" "${VEIL[@]}" --set data.veil_spread=32 --set data.veil_chance=0.5 --set 'data.veil_level=[0,0.4]' lite "$MODEL"
echo "### held-out rendered pairs, lite.toml's set (ship rule: against stage 1)"
step python scripts/val_score.py --judging-set "lite.toml" lite "$MODEL"
echo "### held-out rendered pairs, lite-stage2.toml's set (ship rule: against stage 1)"
step python scripts/val_score.py --judging-set "lite-stage2.toml" lite "$MODEL"
echo "### held-out rendered pairs, lite.toml's sources with soft drops, defocus 9..16 (ship rule: against stage 1)"
step python scripts/val_score.py --judging-set "soft, 9..16" lite "$MODEL"
echo "### held-out rendered pairs, all veiled, the veil following the drops (watched)"
step python scripts/val_score.py --recipe train/recipes/lite.toml "${PAIRS[@]}" "${VEIL[@]}" --set data.veil_spread=32 lite "$MODEL"
echo "### held-out rendered pairs, a whole-frame veil (watched)"
step python scripts/val_score.py --recipe train/recipes/lite.toml "${PAIRS[@]}" "${VEIL[@]}" lite "$MODEL"
echo "### attention map on lite.toml's set"
step python scripts/attention_check.py "$MODEL" --recipe train/recipes/lite.toml

echo "### tone on clean images (mean grey level in and out)"
step python - "$TONE" <<'PY'
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

folder = Path(sys.argv[1])
cv2.imwrite(str(folder / "coffee.png"), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
cv2.imwrite(str(folder / "grey.png"), np.full((256, 256, 3), 128, np.uint8))
try:
    from sklearn.datasets import load_sample_image

    cv2.imwrite(str(folder / "flower.png"), cv2.cvtColor(load_sample_image("flower.jpg"), cv2.COLOR_RGB2BGR))
except ImportError:
    pass
PY
shopt -s nullglob
clean=("$TONE"/*.png "$REAL"/clean/*.png)
if [ ${#clean[@]} -gt 0 ]; then
    step python scripts/tone_check.py --model "$MODEL" "${clean[@]}"
fi

if [ -d "$REAL" ]; then
    echo "### real pairs (watched, never used to choose)"
    step derain eval "$REAL" --model "$MODEL" --backend torch
    step python scripts/pair_breakdown.py "$REAL" --model "$MODEL"
else
    echo "### real pairs: $REAL is absent, skipped"
fi

echo "### the sample clip"
step derain video samples/sample_rain.mp4 "$TONE/sample_out.mp4" --model "$MODEL" -q
step python scripts/score_clip.py samples/sample_clean.mp4 samples/sample_rain.mp4 "$TONE/sample_out.mp4" --drops samples/sample_rain.mp4
exit "$status"
