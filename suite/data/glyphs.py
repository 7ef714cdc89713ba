"""``glyphs``: a source dataset the suite makes itself, for pretraining offline.

Where ImageNet weights can't be had, transfer regimes start from weights
pretrained here: the 52 upper- and lower-case Latin letters (never digits),
rendered in every text face that ships with matplotlib (DejaVu Sans, Serif and
Mono, STIX, Computer Modern; bold and italic included) and Pillow's default,
at random size, position, rotation, shear, stroke and contrast, with noise. It
shares stroke statistics with handwritten digits but not a single image or
label, so it is a real source task, never the target set.

Case must stay visible where a letter's shape alone doesn't carry it (o/O,
s/S, c/C, v/V, w/W, x/X, z/Z): every letter sits on one baseline at one em
size, each jittered a little (``SIZE_JITTER``, ``BASELINE_JITTER_PX``), so a
small letter stays smaller than a capital and ends at the x-height. What that
cannot separate is ``l`` from ``I`` in the sans faces, where both are a bare
bar of nearly the same height; docs/cases.md gives the ceiling that implies.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

import numpy as np

CLASSES = list(string.ascii_uppercase + string.ascii_lowercase)  # 52 letters; digits never
RENDER_SIDE = 64  # pixels; rendered large, then resized to the model's side
RENDERER_VERSION = 1  # bump when rendering changes, so weights pretrained on the old images are not reused
EM_PX = 36  # the em size at 64 px: a capital is about 26 px tall, a small letter about 19 px
SIZE_JITTER = 0.08  # em size varies by +-8%: less than the x-height / cap-height gap (about 27%)
BASELINE_PX = 46  # where the baseline sits at 64 px, leaving room for descenders
BASELINE_JITTER_PX = 3  # +- pixels at 64 px
CENTRE_JITTER_PX = 5  # +- pixels at 64 px, horizontally
PILLOW_DEFAULT = "pillow-default"  # Pillow's own face (Aileron), which ImageFont.load_default gives


def _draws_letters(path: Path) -> bool:
    """The face maps every letter to its own glyph, named as the letter (so not symbols, not a placeholder)."""
    from matplotlib import ft2font

    font = ft2font.FT2Font(str(path))
    charmap = font.get_charmap()
    indices = [charmap.get(ord(letter), 0) for letter in CLASSES]
    names = [font.get_glyph_name(index) for index in indices]
    return all(indices) and len(set(indices)) == len(CLASSES) and names == CLASSES


@functools.cache
def font_files() -> tuple[str, ...]:
    """The faces letters are drawn in: matplotlib's text faces that draw all 52 letters, then Pillow's default.

    Symbol faces (cmex10, cmsy10, STIX size and non-Unicode variants) and the Last Resort
    placeholder face are left out by ``_draws_letters``.
    """
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(str(path) for path in sorted(ttf.glob("*.ttf")) if _draws_letters(path)) + (PILLOW_DEFAULT,)


def font_names() -> tuple[str, ...]:
    """The faces by file name, as a cache key records them."""
    return tuple(Path(path).name for path in font_files())


@functools.cache
def _font(path: str, size: int):
    """One face at one pixel size (Pillow FreeType fonts are cheap to reuse, slow to open)."""
    from PIL import ImageFont

    if path == PILLOW_DEFAULT:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size=size)


def render_letter(letter: str, face: str, rng: np.random.Generator) -> np.ndarray:
    """One letter in one face as a ``RENDER_SIDE`` float32 ink map in 0..1, placed, turned and sheared."""
    from PIL import Image, ImageDraw, ImageFilter

    size = int(round(EM_PX * rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER)))
    baseline = BASELINE_PX + rng.uniform(-BASELINE_JITTER_PX, BASELINE_JITTER_PX)
    centre = RENDER_SIDE / 2 + rng.uniform(-CENTRE_JITTER_PX, CENTRE_JITTER_PX)
    stroke = int(rng.integers(0, 2))  # extra pen width in pixels at 64 px: the face's own weight, or bolder
    canvas = Image.new("L", (RENDER_SIDE, RENDER_SIDE), 0)
    ImageDraw.Draw(canvas).text(
        (centre, baseline), letter, fill=255, font=_font(face, size), anchor="ms", stroke_width=stroke, stroke_fill=255
    )
    angle, shear = np.deg2rad(rng.uniform(-10, 10)), rng.uniform(-0.25, 0.25)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array([[1, shear], [0, 1]])
    pivot = np.array([RENDER_SIDE / 2, baseline])  # about the baseline, so case stays readable from height
    offset = pivot - turn @ pivot
    affine = (turn[0, 0], turn[0, 1], offset[0], turn[1, 0], turn[1, 1], offset[1])
    canvas = canvas.transform(canvas.size, Image.AFFINE, affine, resample=Image.BILINEAR)
    canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 0.8))))
    return np.asarray(canvas, dtype="float32") / 255.0


def make_glyphs(images_per_class: int, side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Renders ``images_per_class`` x 52 letters as uint8 ``(N, side, side, 3)`` images with int64 labels.

    Faces cycle per class, so every face draws every letter about equally often; a
    different ``seed`` draws different images (the held-out sets use their own seeds).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    faces = font_files()
    images, labels = [], []
    for label, letter in enumerate(CLASSES):
        for index in range(images_per_class):
            ink = render_letter(letter, faces[(index + seed) % len(faces)], rng)
            ink = np.asarray(Image.fromarray(ink).resize((side, side), Image.BILINEAR))
            background, bright = rng.uniform(0.0, 0.3), rng.uniform(0.6, 1.0)  # bright strokes on dark, as in digits
            pixels = background + (bright - background) * ink + rng.normal(0, rng.uniform(0, 0.05), ink.shape)
            images.append(np.clip(pixels * 255, 0, 255).astype("uint8"))
            labels.append(label)
    stacked = np.repeat(np.stack(images)[..., None], 3, axis=-1)
    order = rng.permutation(len(labels))
    return stacked[order], np.asarray(labels, dtype="int64")[order]
