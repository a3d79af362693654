"""Training datasets: the Raindrop layout, pair folders, rendered pairs and clips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from stream_derain.errors import DerainError
from stream_derain.synth import RainConfig
from train.data import PairFolder, RaindropDataset, RenderedClips, RenderedRain, jitter_tone
from train.trainer import WORKER_START


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def check_item(item: dict[str, torch.Tensor], shape: tuple[int, ...]) -> None:
    assert set(item) == {"rain", "clean", "mask"}
    for key in ("rain", "clean"):
        assert item[key].shape == (*shape[:-2], 3, *shape[-2:]) and item[key].dtype == torch.float32
        assert 0 <= item[key].min() and item[key].max() <= 1
    assert item["mask"].shape == (*shape[:-2], 1, *shape[-2:])
    assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}


@pytest.fixture
def odd_raindrop_root(tmp_path: Path) -> Path:
    """The real set's odd sizes: 721 wide rain beside 720 wide clean, 481 high, and so on."""
    for sub in ("data", "gt"):
        (tmp_path / sub).mkdir()
    sizes = [((480, 721), (480, 720)), ((481, 720), (481, 720)), ((481, 721), (480, 720))]
    for index, (rain_size, clean_size) in enumerate(sizes):
        clean = scene(*clean_size, seed=index)
        rain = cv2.resize(clean, rain_size[::-1])
        rain[100:140, 200:260] = 255  # a "drop": far from clean there
        cv2.imwrite(str(tmp_path / "data" / f"{index}_rain.png"), rain)
        cv2.imwrite(str(tmp_path / "gt" / f"{index}_clean.png"), clean)
    return tmp_path


def test_raindrop_layout_with_odd_sizes_full_frames(odd_raindrop_root: Path) -> None:
    dataset = RaindropDataset(odd_raindrop_root)
    assert len(dataset) == 3
    expected = [(480, 720), (481, 720), (480, 720)]
    for index, size in enumerate(expected):
        item = dataset[index]
        check_item(item, size)
        assert item["mask"][0, 100:140, 200:260].mean() > 0.5  # the painted drop is in the mask


def test_raindrop_layout_crops_with_workers(odd_raindrop_root: Path) -> None:
    loader = DataLoader(RaindropDataset(odd_raindrop_root, crop=64, flip=True), batch_size=3, num_workers=2)
    batches = list(loader)
    assert len(batches) == 1
    check_item(batches[0], (3, 64, 64))


def test_mask_from_the_difference_when_none_is_stored(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir(), (tmp_path / "c").mkdir()
    clean = np.full((8, 8, 3), 100, np.uint8)
    rain = clean.copy()
    rain[0, 0, 2] = 131  # 31 above: in the mask
    rain[1, 1, 0] = 130  # 30 above: not
    cv2.imwrite(str(tmp_path / "r" / "x.png"), rain)
    cv2.imwrite(str(tmp_path / "c" / "x.png"), clean)
    mask = PairFolder(tmp_path / "r", tmp_path / "c")[0]["mask"][0]
    assert mask.sum() == 1 and mask[0, 0] == 1


def test_stored_mask_is_used(tmp_path: Path) -> None:
    for sub in ("data", "gt", "mask"):
        (tmp_path / sub).mkdir()
    cv2.imwrite(str(tmp_path / "data" / "0_rain.png"), scene(16, 16))
    cv2.imwrite(str(tmp_path / "gt" / "0_clean.png"), scene(16, 16))
    stored = np.zeros((16, 16), np.uint8)
    stored[4:8, 4:8] = 255
    cv2.imwrite(str(tmp_path / "mask" / "0_mask.png"), stored)
    assert RaindropDataset(tmp_path)[0]["mask"].sum() == 16


def test_empty_pair_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DerainError):
        RaindropDataset(tmp_path)


@pytest.fixture
def clean_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "clean"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), scene(90, 120, 1))
    cv2.imwrite(str(folder / "small.png"), scene(20, 30, 2))  # smaller than the crop
    (folder / "broken.jpg").write_bytes(b"junk")
    return folder


def first_batches(dataset, count: int, workers: int, batch: int) -> list[dict[str, torch.Tensor]]:
    context = WORKER_START if workers else None  # as the trainer starts them
    loader = iter(DataLoader(dataset, batch_size=batch, num_workers=workers, multiprocessing_context=context))
    return [next(loader) for _ in range(count)]


def test_rendered_pairs_feed_a_multi_worker_loader(clean_folder: Path) -> None:
    config = RainConfig(radius=(2.0, 12.0))
    with pytest.warns(UserWarning, match="broken"):
        single = first_batches(RenderedRain([clean_folder], crop=48, config=config, seed=1), 1, 0, 4)[0]
    check_item(single, (4, 48, 48))
    batches = first_batches(RenderedRain([clean_folder], crop=48, config=config, seed=1), 2, 2, 4)
    again = first_batches(RenderedRain([clean_folder], crop=48, config=config, seed=1), 2, 2, 4)
    for batch, repeat in zip(batches, again):
        check_item(batch, (4, 48, 48))
        assert torch.equal(batch["rain"], repeat["rain"])  # seeded per worker: reproducible
    # The two workers render different streams.
    assert not torch.equal(batches[0]["rain"], batches[1]["rain"])
    assert batches[0]["mask"].mean() > 0.01


def test_rendered_clips(clean_folder: Path) -> None:
    dataset = RenderedClips([clean_folder], frames=3, crop=32, config=RainConfig(radius=(2.0, 8.0)), seed=0)
    with pytest.warns(UserWarning):
        batch = first_batches(dataset, 1, 0, 2)[0]
    check_item(batch, (2, 3, 32, 32))
    rain, clean = batch["rain"][0], batch["clean"][0]
    assert not torch.equal(clean[0], clean[2])  # the camera moved
    assert not torch.equal(rain, clean)


def test_rendered_clips_from_a_video(tmp_path: Path) -> None:
    from tests.test_synth import make_video

    video = tmp_path / "v.mp4"
    make_video(video, frames=6, fps=10, audio=False)
    batch = first_batches(RenderedClips([video], frames=4, crop=32, seed=0), 1, 2, 2)[0]
    check_item(batch, (2, 4, 32, 32))


def test_tone_jitter_gives_every_frame_the_same_new_look() -> None:
    frames = np.stack([scene(32, 48, seed=0)] * 2 + [scene(32, 48, seed=1)])
    looks = [jitter_tone(frames, np.random.default_rng(seed)) for seed in range(6)]
    for look in looks:
        assert look.shape == frames.shape and look.dtype == np.uint8
        assert np.array_equal(look[0], look[1])  # one look for the whole stack, so a clip stays one clip
    assert np.array_equal(looks[0], jitter_tone(frames, np.random.default_rng(0)))
    contrasts = [float(look.std()) for look in looks]
    assert max(contrasts) - min(contrasts) > 3  # the looks really differ


def test_rendered_pairs_with_tone_jitter_share_the_look_of_rain_and_clean(clean_folder: Path) -> None:
    config = RainConfig(radius=(2.0, 12.0))
    plain = RenderedRain([clean_folder], crop=48, config=config, seed=3)
    jittered = RenderedRain([clean_folder], crop=48, config=config, seed=3, tone_jitter=True)
    with pytest.warns(UserWarning, match="broken"):
        first, second = next(iter(plain)), next(iter(jittered))
    assert not torch.equal(first["clean"], second["clean"])
    outside = second["mask"][0] == 0  # away from drops, rain is the jittered clean under a veil
    assert (second["rain"] - second["clean"])[:, outside].abs().mean() < 0.1
