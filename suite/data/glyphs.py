"""``glyphs``: a source dataset the suite makes itself, for pretraining offline.

Where ImageNet weights can't be had, transfer regimes start from weights
pretrained here: the 26 capital letters rendered with the font that ships in
Pillow, at random size, position, rotation, stroke and contrast, with noise. It
shares stroke statistics with handwritten digits but not a single image or
label, so it is a real source task, never the target set.
"""

from __future__ import annotations

import string

import numpy as np

CLASSES = list(string.ascii_uppercase)
RENDER_SIDE = 64  # pixels; rendered large, then resized to the model's side


def make_glyphs(images_per_class: int, side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Renders ``images_per_class`` x 26 letters as uint8 ``(N, side, side, 3)`` images with int64 labels."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = np.random.default_rng(seed)
    images, labels = [], []
    fonts = {size: ImageFont.load_default(size=size) for size in range(36, 57, 4)}
    for label, letter in enumerate(CLASSES):
        for _ in range(images_per_class):
            canvas = Image.new("L", (RENDER_SIDE, RENDER_SIDE), 0)
            font = fonts[int(rng.choice(list(fonts)))]
            draw = ImageDraw.Draw(canvas)
            stroke = int(rng.integers(1, 4))  # pixels at 64px: thin pen to marker, like handwriting
            left, top, right, bottom = draw.textbbox((0, 0), letter, font=font, stroke_width=stroke)
            x = rng.integers(0, max(1, RENDER_SIDE - (right - left))) - left
            y = rng.integers(0, max(1, RENDER_SIDE - (bottom - top))) - top
            draw.text((int(x), int(y)), letter, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
            canvas = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR)
            canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.0))))
            canvas = canvas.resize((side, side), Image.BILINEAR)
            pixels = np.asarray(canvas, dtype="float32") / 255.0
            background, ink = rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0)  # bright strokes on dark, as in digits
            pixels = background + (ink - background) * pixels + rng.normal(0, 0.02, pixels.shape)
            images.append(np.clip(pixels * 255, 0, 255).astype("uint8"))
            labels.append(label)
    stacked = np.repeat(np.stack(images)[..., None], 3, axis=-1)
    order = rng.permutation(len(labels))
    return stacked[order], np.asarray(labels, dtype="int64")[order]
