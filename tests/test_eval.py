"""`derain eval`: pair discovery in both layouts, scoring beside the identity, table and JSON."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stream_derain.checkpoint import save_checkpoint
from stream_derain.errors import DerainError
from stream_derain.evaluate import EvalReport, evaluate, find_pairs
from stream_derain.metrics import score
from stream_derain.models import Generator
from train.config import config_from_dict

REAL_PAIRS = Path(__file__).resolve().parents[2] / "shared" / "real-raindrop" / "pairs"


def write_pairs(root: Path, rain_dir: str, clean_dir: str, count: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    (root / rain_dir).mkdir(parents=True)
    (root / clean_dir).mkdir(parents=True)
    pairs = []
    for i in range(count):
        clean = cv2.GaussianBlur(rng.integers(0, 256, (36, 42, 3), dtype=np.uint8), (7, 7), 0)
        rain = clean.copy()
        rain[5:15, 8:20] = 230
        cv2.imwrite(str(root / rain_dir / f"{i}_rain.png"), rain[:, :, ::-1])
        cv2.imwrite(str(root / clean_dir / f"{i}_clean.png"), clean[:, :, ::-1])
        pairs.append((rain, clean))
    (root / rain_dir / "notes.txt").write_text("not an image")
    cv2.imwrite(str(root / rain_dir / "9_rain.png"), pairs[0][0])  # no clean partner: skipped
    return pairs


@pytest.mark.parametrize("layout", [("data", "gt"), ("rain", "clean")])
def test_pairs_are_found_in_both_layouts_and_scored_beside_the_identity(tmp_path, layout):
    images = write_pairs(tmp_path, *layout, count=3)
    pairs = find_pairs(tmp_path)
    assert [p.name for p in pairs] == ["0", "1", "2"]
    results = evaluate(pairs, lambda rain: cv2.GaussianBlur(rain, (3, 3), 0))
    for (rain, clean), result in zip(images, results):
        assert result.identity == score(rain, clean)
        assert result.model == score(cv2.GaussianBlur(rain, (3, 3), 0), clean)
        assert result.model != result.identity


def test_a_folder_without_pairs_is_a_clear_error(tmp_path):
    with pytest.raises(DerainError, match="data/ \\+ gt/ or rain/ \\+ clean/"):
        find_pairs(tmp_path)
    (tmp_path / "rain").mkdir()
    (tmp_path / "clean").mkdir()
    with pytest.raises(DerainError, match="no matching pairs"):
        find_pairs(tmp_path)


def test_a_model_that_returns_the_wrong_size_is_refused(tmp_path):
    write_pairs(tmp_path, "rain", "clean", count=1)
    with pytest.raises(DerainError, match="returned"):
        evaluate(find_pairs(tmp_path), lambda rain: rain[:-1])


def test_eval_command_prints_json_and_a_table(tmp_path, run_cli):
    from test_trainer import TINY_MODEL

    images = write_pairs(tmp_path / "pairs", "data", "gt")
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "tiny.pt", Generator(config_from_dict({"model": TINY_MODEL}).model_config()))
    result = run_cli("eval", tmp_path / "pairs", "--model", tmp_path / "tiny.pt", "--device", "cpu", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert [image["name"] for image in report["images"]] == ["0", "1"]
    identity = np.mean([score(rain, clean).psnr for rain, clean in images])
    assert report["mean"]["identity"]["psnr"] == pytest.approx(identity, abs=1e-3)
    assert report["mean"]["model"]["psnr"] == pytest.approx(np.mean([i["model"]["psnr"] for i in report["images"]]), abs=1e-3)
    table = run_cli("eval", tmp_path / "pairs", "--model", tmp_path / "tiny.pt", "--device", "cpu")
    assert table.code == 0 and "mean" in table.out and "input PSNR" in table.out
    missing = run_cli("eval", tmp_path / "nowhere", "--model", tmp_path / "tiny.pt")
    assert missing.code == 2 and "not a folder" in missing.err


def test_real_pairs_identity_baseline_matches_the_published_protocol():
    if not REAL_PAIRS.is_dir():
        pytest.skip(f"real raindrop pairs not present at {REAL_PAIRS} (evaluation-only data, optional)")
    results = evaluate(find_pairs(REAL_PAIRS), lambda rain: rain)
    report = EvalReport(str(REAL_PAIRS), "identity", results)
    assert [round(r.identity.psnr, 2) for r in results] == [20.80, 17.15, 18.89, 14.96]
    assert report.mean("identity").psnr == pytest.approx(17.95, abs=0.005)
    assert report.mean("identity").ssim == pytest.approx(0.720, abs=0.0005)
