"""A run's generator at its last checkpoint (train_state.pt), written as a model file that every
command and script loads: for a run stopped before it wrote best.pt or final.pt, such as the
ARN-only steps of a stage 1 (docs/TRAINING.md, "The ARN alone on soft drops").

    python scripts/state_weights.py runs/cpu-s1s84 runs/cpu-s1s84-arn3000.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as the other scripts: run from a checkout

from stream_derain.checkpoint import save_checkpoint  # noqa: E402
from stream_derain.errors import DerainError  # noqa: E402
from stream_derain.models import Generator  # noqa: E402
from train.config import config_from_dict  # noqa: E402
from train.trainer import STATE_FILE, mask_activation, read_state  # noqa: E402


def state_weights(run: Path, out: Path) -> str:
    """Write the generator of `run` (a run's folder or its state file) to `out`; return its digest."""
    path = run / STATE_FILE if run.is_dir() else run
    state = read_state(path)
    config = config_from_dict(state["config"])
    generator = Generator(config.model_config())
    generator.load_state_dict(state["generator"])
    metadata = {"recipe": state["config"], "steps": state["step"], "from": str(path),
                "mask_activation": mask_activation(config.loss.mask_loss)}
    return save_checkpoint(out, generator, metadata)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run's folder (runs/NAME) or its train_state.pt")
    parser.add_argument("out", type=Path, help="the model file to write")
    args = parser.parse_args()
    try:
        print(f"{args.out}: sha256 {state_weights(args.run, args.out)}")
    except DerainError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
