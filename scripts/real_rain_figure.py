"""Side by side on real rain: input | this model | the official AttentiveGAN output.

    python scripts/real_rain_figure.py --model runs/lite/best.pt --out docs/lite_real_rain.jpg

Reads ../shared/real-raindrop/unpaired/case1..5.jpg and attentivegan-official-output/ (evaluation
only: this writes a small downscaled figure, never the photos themselves).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain import Derainer  # noqa: E402
from stream_derain.image_io import read_image, write_image  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-raindrop"


def label(image: np.ndarray, text: str) -> np.ndarray:
    image = image.copy()
    cv2.putText(image, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--width", type=int, default=240, help="width of each panel")
    parser.add_argument("--real", type=Path, default=REAL)
    args = parser.parse_args()
    if not (args.real / "unpaired").is_dir():
        raise SystemExit(f"{args.real} is absent: nothing to compare (the figure needs the real photos)")
    derainer = Derainer(model=args.model, device="cpu", backend="torch")
    rows = []
    for case in range(1, 6):
        rain = read_image(args.real / "unpaired" / f"case{case}.jpg")[:, :, :3]
        official = read_image(args.real / "attentivegan-official-output" / f"case{case}.jpg")[:, :, :3]
        ours = derainer(rain)
        height = round(rain.shape[0] * args.width / rain.shape[1])
        panels = [(rain, f"case{case}: real rain"), (ours, f"ours ({args.model})"), (official, "AttentiveGAN")]
        rows.append(np.hstack([label(cv2.resize(p, (args.width, height), interpolation=cv2.INTER_AREA), t) for p, t in panels]))
    write_image(args.out, np.vstack(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
