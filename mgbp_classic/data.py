"""Training data: image pyramids made by MATLAB bicubic down-scaling, and random aligned patches.

Every training image is mod-cropped to a multiple of 2^levels and down-scaled once, as a whole, by
``imresize(HR, 1/2^j)`` for j = 1 … levels (rounded to 8 bit, as the evaluation protocol makes its
LR images). A patch is then cut at the same place in every level of the pyramid, so the LR patch is
exactly the protocol's LR of the HR patch's neighbourhood, with no artificial patch borders.
Augmentation (flips and 90° rotations) is applied identically to every level; the bicubic kernel
is symmetric, so it commutes with down-scaling.
"""
from pathlib import Path

import numpy as np

from .exceptions import ParamError
from .imaging.io import read_image
from .resize import imresize

__all__ = ["IMAGE_SUFFIXES", "find_images", "PatchSampler"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def find_images(root):
    """Sorted image files under ``root`` (recursively), a file, or a list of either."""
    roots = [root] if isinstance(root, (str, Path)) else list(root)
    files = []
    for r in roots:
        r = Path(r)
        if r.is_file():
            files.append(r)
        elif r.is_dir():
            files.extend(p for p in sorted(r.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            raise FileNotFoundError(f"training data not found: {r}")
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {', '.join(map(str, roots))}")
    return files


def _as_rgb(img):
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3]


class PatchSampler:
    """Random patches of a set of images with their bicubic pyramids.

    Parameters
    ----------
    root : path or list of paths
        Folders (searched recursively) or files.
    patch : int
        HR patch size; a multiple of 2^levels.
    levels : int
        Pyramid depth (the loss uses HR ↓ 2^j for j = 0 … levels).

    Notes
    -----
    Images smaller than ``patch`` are skipped; each image is drawn with probability proportional
    to the number of patch positions it holds, so every HR pixel is about equally likely.
    """

    def __init__(self, root, *, patch, levels=3):
        step = 2 ** levels
        if patch % step:
            raise ParamError("patch", f"must be a multiple of {step} for {levels} levels, got {patch}")
        self.patch, self.levels, self.files = patch, levels, []
        self.pyramids = []                     # per image: list of uint8 (H/2^j, W/2^j, 3)
        for path in find_images(root):
            hr = _as_rgb(read_image(path))
            h, w = (hr.shape[0] // step) * step, (hr.shape[1] // step) * step
            if min(h, w) < patch:
                continue
            hr = hr[:h, :w]
            pyr = [np.round(hr * 255).astype(np.uint8)]
            for j in range(1, levels + 1):
                lr = imresize(hr, 1 / 2 ** j)
                pyr.append(np.round(np.clip(lr, 0, 1) * 255).astype(np.uint8))
            self.pyramids.append(pyr)
            self.files.append(str(path))
        if not self.pyramids:
            raise ParamError("patch", f"no training image is at least {patch}×{patch} pixels", subject="")
        # positions on the 2^levels grid per image
        counts = np.array([((p[0].shape[0] - patch) // step + 1) * ((p[0].shape[1] - patch) // step + 1)
                           for p in self.pyramids], dtype=np.float64)
        self.weights = counts / counts.sum()

    def __len__(self):
        return len(self.pyramids)

    def sample(self, rng, batch):
        """Draw a batch: list over j = 0 … levels of float32 arrays (batch, 3, P/2^j, P/2^j)."""
        step, P = 2 ** self.levels, self.patch
        out = [np.empty((batch, 3, P >> j, P >> j), np.float32) for j in range(self.levels + 1)]
        images = rng.choice(len(self.pyramids), size=batch, p=self.weights)
        for b, i in enumerate(images):
            pyr = self.pyramids[i]
            H, W = pyr[0].shape[:2]
            y = int(rng.integers(0, (H - P) // step + 1)) * step
            x = int(rng.integers(0, (W - P) // step + 1)) * step
            flip, rot = bool(rng.integers(2)), int(rng.integers(4))
            for j in range(self.levels + 1):
                s = 2 ** j
                crop = pyr[j][y // s:(y + P) // s, x // s:(x + P) // s]
                if flip:
                    crop = crop[:, ::-1]
                crop = np.rot90(crop, rot)
                out[j][b] = crop.transpose(2, 0, 1) * np.float32(1 / 255)
        return out
