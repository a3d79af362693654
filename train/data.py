"""Training data: real pairs on disk, and raindrops rendered on the fly onto clean images and video.

Every dataset yields dicts of float tensors: "rain" and "clean" (3, H, W) RGB in [0, 1] and
"mask" (1, H, W) binary, the paper's attention target; clips add a leading time dimension.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from stream_derain.errors import DerainError
from stream_derain.synth import RainConfig, RainyClip, camera_frames, paper_mask, read_rgb, synthesize
from stream_derain.synth.image_files import is_image_path
from stream_derain.synth.video_file import is_video_path

PAIR_TAGS = ("_rain", "_clean", "_gt", "_mask")


def to_item(rain: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> dict[str, torch.Tensor]:
    """uint8 (H, W, 3) RGB pair and (H, W) bool mask -> the dict of float tensors.
    Also takes a leading time dimension: (T, H, W, 3) -> (T, 3, H, W)."""

    def channels_first(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, -3))).float().div_(255)

    return {
        "rain": channels_first(rain),
        "clean": channels_first(clean),
        "mask": torch.from_numpy(np.ascontiguousarray(mask)).float().unsqueeze(-3),
    }


def random_crop(images: Sequence[np.ndarray], size: int | None, flip: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """The same random crop (and horizontal flip) of images that share their first two sizes.
    Images smaller than the crop are padded by reflection rather than refused."""
    height, width = images[0].shape[:2]
    out = list(images)
    if size is not None:
        pad_y, pad_x = max(0, size - height), max(0, size - width)
        if pad_y or pad_x:
            out = [cv2.copyMakeBorder(i, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT_101) for i in out]
            height, width = out[0].shape[:2]
        top = int(rng.integers(0, height - size + 1))
        left = int(rng.integers(0, width - size + 1))
        out = [i[top : top + size, left : left + size] for i in out]
    if flip and rng.random() < 0.5:
        out = [i[:, ::-1] for i in out]
    return [np.ascontiguousarray(i) for i in out]


def _pair_key(path: Path) -> str:
    stem = path.stem
    for tag in PAIR_TAGS:
        if stem.endswith(tag):
            return stem[: -len(tag)]
    return stem


def _item_rng() -> np.random.Generator:
    # Torch's RNG is seeded per DataLoader worker and per epoch: crops differ in both.
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,))))


class PairFolder(Dataset):
    """Rainy/clean pairs from two folders, matched by name ("7_rain.png" with "7_clean.png",
    or the same name in both). A mask folder is used when given; otherwise the mask is the
    paper's |rain - clean| > 30. Rain and clean of different sizes (721 vs 720) are cut to
    their common top-left part."""

    def __init__(
        self,
        rain_dir: Path,
        clean_dir: Path,
        mask_dir: Path | None = None,
        crop: int | None = None,
        flip: bool = False,
        threshold: int = 30,
    ) -> None:
        rain_dir, clean_dir = Path(rain_dir), Path(clean_dir)
        for folder in (rain_dir, clean_dir):
            if not folder.is_dir():
                raise DerainError(f"{folder} is not a folder")
        clean_by_key = {_pair_key(p): p for p in sorted(clean_dir.iterdir()) if is_image_path(p)}
        masks = {_pair_key(p): p for p in sorted(Path(mask_dir).iterdir()) if is_image_path(p)} if mask_dir else {}
        self.pairs = [
            (rain, clean_by_key[_pair_key(rain)], masks.get(_pair_key(rain)))
            for rain in sorted(rain_dir.iterdir(), key=_natural_key)
            if is_image_path(rain) and _pair_key(rain) in clean_by_key
        ]
        if not self.pairs:
            raise DerainError(f"no rainy/clean pairs found in {rain_dir} and {clean_dir}")
        self.crop, self.flip, self.threshold = crop, flip, threshold

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rain_path, clean_path, mask_path = self.pairs[index]
        rain, clean = read_rgb(rain_path), read_rgb(clean_path)
        if rain is None or clean is None:
            raise DerainError(f"unreadable pair {rain_path.name} / {clean_path.name}")
        height = min(rain.shape[0], clean.shape[0])
        width = min(rain.shape[1], clean.shape[1])
        rain, clean = rain[:height, :width], clean[:height, :width]
        mask = None
        if mask_path is not None:
            stored = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
            if stored is not None and stored.shape[0] >= height and stored.shape[1] >= width:
                mask = stored[:height, :width] > 127
        if mask is None:
            mask = paper_mask(rain, clean, self.threshold)
        rain, clean, mask = random_crop([rain, clean, mask], self.crop, self.flip, _item_rng())
        return to_item(rain, clean, mask)


class RaindropDataset(PairFolder):
    """The Raindrop data set layout: ROOT/data/N_rain.png, ROOT/gt/N_clean.png, optional ROOT/mask/."""

    def __init__(self, root: Path, crop: int | None = None, flip: bool = False, threshold: int = 30) -> None:
        root = Path(root)
        mask_dir = root / "mask" if (root / "mask").is_dir() else None
        super().__init__(root / "data", root / "gt", mask_dir, crop, flip, threshold)


def _natural_key(path: Path) -> tuple:
    key = _pair_key(path)
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


class CleanSources:
    """Clean images and videos decoded once per process and kept in memory.

    Videos keep their first `max_video_frames` frames, shrunk so the short side is at most
    `max_side`: enough consecutive frames for clips without holding whole films.
    """

    def __init__(self, paths: Sequence[Path], max_video_frames: int = 96, max_side: int = 480) -> None:
        self.files: list[Path] = []
        for path in map(Path, paths):
            if path.is_dir():
                self.files += sorted(p for p in path.iterdir() if is_image_path(p) or is_video_path(p))
            elif path.exists():
                self.files.append(path)
            else:
                raise DerainError(f"clean source {path} does not exist")
        if not self.files:
            raise DerainError("no clean images or videos given")
        self.max_video_frames, self.max_side = max_video_frames, max_side
        self._loaded: list[np.ndarray] | None = None  # each (T, H, W, 3); images have T = 1
        self.skipped: list[Path] = []

    def frames(self) -> list[np.ndarray]:
        if self._loaded is None:
            self._loaded = []
            for path in self.files:
                frames = self._read(path)
                if frames is None:
                    warnings.warn(f"skipping unreadable clean source {path}", stacklevel=2)
                    self.skipped.append(path)
                else:
                    self._loaded.append(frames)
            if not self._loaded:
                raise DerainError(f"none of the {len(self.files)} clean sources could be read")
        return self._loaded

    def _read(self, path: Path) -> np.ndarray | None:
        if is_video_path(path):
            return self._read_video(path)
        image = read_rgb(path)
        return None if image is None else self._shrink(image)[None]

    def _read_video(self, path: Path) -> np.ndarray | None:
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    warnings.warn(f"{path} has no video stream", stacklevel=3)
                    return None
                frames = []
                for frame in container.decode(video=0):
                    frames.append(self._shrink(frame.to_ndarray(format="rgb24")))
                    if len(frames) >= self.max_video_frames:
                        break
        except (av.FFmpegError, OSError):
            return None
        return np.stack(frames) if frames else None

    def _shrink(self, image: np.ndarray) -> np.ndarray:
        scale = self.max_side / min(image.shape[:2])
        if scale >= 1:
            return image
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _stream_rng(seed: int) -> Iterator[np.random.Generator]:
    """One generator per item, from (seed, DDP rank, worker, item number): each worker renders
    its own endless, reproducible stream."""
    info = get_worker_info()
    worker = info.id if info is not None else 0
    rank = int(os.environ.get("RANK", 0))
    item = 0
    while True:
        yield np.random.default_rng([seed, rank, worker, item])
        item += 1


def _random_view(frames: np.ndarray, size: int, scale: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A random frame of a source, rescaled by a random factor, cropped to size x size."""
    image = frames[rng.integers(0, len(frames))]
    factor = rng.uniform(*scale)
    if factor != 1 and min(image.shape[:2]) * factor >= size:
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return random_crop([image], size, True, rng)[0]


def jitter_tone(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same random camera look on uint8 RGB images (..., 3): contrast, brightness, gamma
    and saturation. Real rainy scenes are often flat and dull; without this, the renderer's veil
    is the only flatness a model sees, and flatness alone would say "rain"."""
    contrast = rng.uniform(0.6, 1.15)
    brightness = rng.uniform(-0.08, 0.08)
    gamma = float(np.exp(rng.uniform(-0.3, 0.3)))
    saturation = rng.uniform(0.6, 1.2)
    image = images.astype(np.float32) / 255
    grey = image.mean(axis=-1, keepdims=True)
    image = grey + saturation * (image - grey)
    image = float(image.mean()) + contrast * (image - float(image.mean())) + brightness
    image = np.clip(image, 0, 1) ** gamma
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


class RenderedRain(IterableDataset):
    """Endless pairs: a random crop of a clean image or video frame, with drops rendered onto it.

    A crop whose mask covers less than `min_mask_fraction` is drawn again (up to 3 times), so
    batches are not spent on dry glass. `tone_jitter` gives each clean crop a random camera look.
    """

    def __init__(
        self,
        sources: Sequence[Path],
        crop: int = 256,
        config: RainConfig = RainConfig(),
        seed: int = 0,
        scale: tuple[float, float] = (0.5, 1.0),
        min_mask_fraction: float = 0.02,
        tone_jitter: bool = False,
    ) -> None:
        self.sources = CleanSources(sources)
        self.crop, self.config, self.seed, self.scale = crop, config, seed, scale
        self.min_mask_fraction, self.tone_jitter = min_mask_fraction, tone_jitter

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        all_frames = self.sources.frames()
        for rng in _stream_rng(self.seed):
            frames = all_frames[rng.integers(0, len(all_frames))]
            clean = _random_view(frames, self.crop, self.scale, rng)
            if self.tone_jitter:
                clean = jitter_tone(clean, rng)
            for _ in range(3):
                sample = synthesize(clean, rng, self.config)
                if sample.mask.mean() >= self.min_mask_fraction:
                    break
            yield to_item(sample.rain, sample.clean, sample.mask)


class RenderedClips(IterableDataset):
    """Endless clips of `frames` consecutive frames with the same drops on the glass: from a
    clean video's consecutive frames, or a camera moving over a still image."""

    def __init__(
        self,
        sources: Sequence[Path],
        frames: int = 4,
        crop: int = 128,
        config: RainConfig = RainConfig(),
        seed: int = 0,
        rain_rate: float = 0.03,
    ) -> None:
        if frames < 1:
            raise DerainError(f"a clip needs at least one frame, got {frames}")
        self.sources = CleanSources(sources)
        self.length, self.crop, self.config, self.seed, self.rain_rate = frames, crop, config, seed, rain_rate

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        all_frames = self.sources.frames()
        for rng in _stream_rng(self.seed):
            source = all_frames[rng.integers(0, len(all_frames))]
            views = self._clean_clip(source, rng)
            clip = RainyClip(rng, self.config, self.rain_rate)
            samples = [clip.render(view) for view in views]
            yield to_item(
                np.stack([s.rain for s in samples]),
                np.stack([s.clean for s in samples]),
                np.stack([s.mask for s in samples]),
            )

    def _clean_clip(self, source: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        if len(source) >= self.length:
            start = int(rng.integers(0, len(source) - self.length + 1))
            window = source[start : start + self.length]
            # Frames side by side in the channels: one crop and flip for the whole clip.
            height, width = window.shape[1:3]
            stacked = np.moveaxis(window, 0, 2).reshape(height, width, -1)
            cropped = random_crop([stacked], self.crop, True, rng)[0]
            return list(np.moveaxis(cropped.reshape(self.crop, self.crop, self.length, 3), 2, 0))
        # A still image (or a video shorter than the clip): the camera moves over it.
        region = random_crop([source[0]], min(max(source.shape[1:3]), self.crop * 3 // 2), False, rng)[0]
        return list(camera_frames(region, rng, self.length, (self.crop, self.crop)))
