"""The glyphs source set: 52 letters, many faces that really draw them, seeded, held-out sets disjoint."""

from __future__ import annotations

import string

import numpy as np

from suite.data import glyphs


def test_classes_are_the_52_letters_and_never_digits():
    assert glyphs.CLASSES == list(string.ascii_uppercase) + list(string.ascii_lowercase)
    assert len(set(glyphs.CLASSES)) == 52 and not set(glyphs.CLASSES) & set(string.digits)


def test_many_faces_each_drawing_52_distinct_letters():
    names = glyphs.font_names()
    assert len(names) >= 20 and names[-1] == glyphs.PILLOW_DEFAULT
    expected = {"DejaVuSans.ttf", "DejaVuSerif-BoldItalic.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf", "cmr10.ttf"}
    assert expected <= set(names)
    # Symbol faces and the placeholder face map letters to symbols or to one box: left out.
    assert not {"cmex10.ttf", "cmsy10.ttf", "LastResortHE-Regular.ttf", "STIXSizOneSymReg.ttf"} & set(names)
    for face in glyphs.font_files():
        inks = [glyphs.render_letter(letter, face, np.random.default_rng(0)) for letter in glyphs.CLASSES]
        assert all(ink.max() > 0.5 for ink in inks), f"{face} leaves a letter blank"
        distinct = {(ink > 0.5).tobytes() for ink in inks}
        assert len(distinct) == 52, f"{face} draws only {len(distinct)} distinct letters of 52"


def test_small_letters_sit_lower_than_capitals_so_case_shows():
    """o and O in one face, same draw: the small one's ink starts lower (x-height below cap height)."""
    face = glyphs.font_files()[0]
    tops = {}
    for letter in "oOsSxX":
        ink = glyphs.render_letter(letter, face, np.random.default_rng(3))
        tops[letter] = np.argmax((ink > 0.5).any(axis=1))
    for small, capital in ("oO", "sS", "xX"):
        assert tops[small] > tops[capital] + 3, tops


def test_rendering_is_seeded_and_balanced():
    images, labels = glyphs.make_glyphs(3, 24, seed=5)
    assert images.shape == (156, 24, 24, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [3] * 52
    again, again_labels = glyphs.make_glyphs(3, 24, seed=5)
    assert np.array_equal(images, again) and np.array_equal(labels, again_labels)


def test_different_seeds_share_no_image():
    train, _ = glyphs.make_glyphs(4, 24, seed=0)
    held_out, _ = glyphs.make_glyphs(4, 24, seed=1)
    assert not {image.tobytes() for image in train} & {image.tobytes() for image in held_out}
