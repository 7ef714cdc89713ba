"""Label efficiency: train_per_class cuts, their ids and keys, the profile, the equal-steps rule, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import one_error_line

from suite.case import CASE_FIELDS, Case, sized, split_size
from suite.cli import main
from suite.config import load_cases
from suite.data.loaders import load_digits
from suite.data.pipeline import case_split, check_per_class, per_class_indices, per_class_subset
from suite.errors import SuiteError
from suite.profiles import LABEL_EFFICIENCY_ARCHS, SEED_ARCHS, get_profile
from suite.selection import resolve_cases
from suite.train import epoch_images, step_images

DIGITS_TRAIN = 1257  # the digits training split (tests/test_data.py works it out)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def labels_of(ds) -> np.ndarray:
    return np.array([int(label) for _, label in ds.as_numpy_iterator()])


def fingerprints(ds) -> set[bytes]:
    """Each image's bytes: which images a split holds, whatever their order."""
    return {image.tobytes() for image, _ in ds.as_numpy_iterator()}


def test_indices_take_exactly_n_of_every_class_nested_and_seeded():
    labels = np.array([0] * 7 + [1] * 9 + [2] * 5)
    five = per_class_indices(labels, 5, seed=0)
    assert np.bincount(labels[five]).tolist() == [5, 5, 5] and list(five) == sorted(five)
    assert len(set(five.tolist())) == 15
    assert np.array_equal(five, per_class_indices(labels, 5, seed=0)), "the same seed draws the same images"
    assert set(per_class_indices(labels, 2, seed=0)) <= set(five.tolist()), "a seed's smaller set lies in its larger"
    others = [per_class_indices(labels, 2, seed=s) for s in range(1, 6)]
    assert any(not np.array_equal(o, per_class_indices(labels, 2, seed=0)) for o in others)


def test_subset_has_exact_counts_and_is_the_same_for_every_case_of_a_seed(digits):
    subset = per_class_subset(digits, 5, seed=0)
    assert np.bincount(labels_of(subset), minlength=10).tolist() == [5] * 10
    scratch = Case("simple_cnn", "scratch", "digits", train_per_class=5, augment=0.0)
    frozen = Case("mobilenet_v2", "frozen", "digits", train_per_class=5, augment=0.0)
    a, n_a = case_split(scratch, digits, "train", side=32, seed=0)
    b, n_b = case_split(frozen, digits, "train", side=32, seed=0)
    assert n_a == n_b == 50
    assert fingerprints(subset) == fingerprints(per_class_subset(digits, 5, seed=0))
    # Both cases' batches hold the same 50 labels (their preprocessing differs, the images drawn do not).
    counts = [np.bincount(np.concatenate([y.numpy().argmax(1) for _, y in ds]), minlength=10) for ds in (a, b)]
    assert counts[0].tolist() == counts[1].tolist() == [5] * 10


def test_seeds_draw_different_images_and_leave_val_and_test_alone(digits):
    zero, one = fingerprints(per_class_subset(digits, 5, seed=0)), fingerprints(per_class_subset(digits, 5, seed=1))
    assert len(zero) == len(one) == 50 and zero != one
    case = Case("simple_cnn", "scratch", "digits", train_per_class=5)
    for split in ("val", "test"):
        _, size = case_split(case, digits, split, side=32, seed=0)
        assert size == digits.sizes[split]


def test_train_limit_caps_the_cut_and_zero_means_the_whole_split(digits):
    capped = Case("simple_cnn", "scratch", "digits", train_per_class=10, train_limit=64)
    assert case_split(capped, digits, "train", side=32, seed=0)[1] == 64
    assert case_split(Case("simple_cnn", "scratch", "digits"), digits, "train", side=32, seed=0)[1] == DIGITS_TRAIN


def test_too_many_per_class_names_every_class_count(digits):
    counts = np.bincount(digits.train_labels, minlength=10)
    smallest = int(counts.min())
    check_per_class(Case("simple_cnn", "scratch", "digits", train_per_class=smallest), digits)
    with pytest.raises(SuiteError) as error:
        check_per_class(Case("simple_cnn", "scratch", "digits", train_per_class=smallest + 1), digits)
    line = str(error.value)
    assert "\n" not in line and f"train_per_class={smallest + 1}" in line and f"({smallest})" in line
    assert all(f"{digit}: {count}" in line for digit, count in enumerate(counts))


def test_id_marks_the_size_and_the_key_is_unchanged_at_zero():
    plain = Case("mobilenet_v2", "frozen", "digits", epochs=5, learning_rate=1e-2)
    assert plain.id == "mobilenet_v2.frozen.digits" and "train_per_class" not in json.loads(plain.to_json())
    assert set(json.loads(plain.to_json())) == set(CASE_FIELDS) - {"train_per_class", "lr_grid"}
    from suite.run.jobs import case_key

    # The key this case had before train_per_class existed (computed with the suite at 6ab6a8d).
    assert case_key(plain, {"suite_version": "0.0.test", "fingerprint": "abc123"}) == "7602b1c64b5f"
    cut = sized(plain, 25)
    assert cut.id == "mobilenet_v2.frozen.digits@25" and json.loads(cut.to_json())["train_per_class"] == 25
    assert sized(cut, 5).id == "mobilenet_v2.frozen.digits@5" and sized(cut, 0).id == plain.id
    assert Case("simple_cnn", "scratch", "digits", train_per_class=5).id == "simple_cnn.scratch.digits@5"
    assert split_size(cut.id) == ("mobilenet_v2.frozen.digits", 25) and split_size(plain.id) == (plain.id, 0)
    assert Case.from_json(cut.to_json()) == cut and Case.from_json(plain.to_json()) == plain


def test_a_repeated_cuts_steps_count_its_short_last_batch_once_a_pass():
    # 50 images at batch 64: one step of 50 a pass; the whole split's 20 steps an epoch see 1,000 images.
    assert epoch_images(50, 64, 20) == 1_000 and step_images(7, 50, 64) == 50
    # 250 at batch 64: passes of 64, 64, 64, 58; 20 steps are 5 passes.
    assert [step_images(step, 250, 64) for step in range(5)] == [64, 64, 64, 58, 64]
    assert epoch_images(250, 64, 20) == 1_250
    assert epoch_images(1_257, 64, 20) == 1_257  # one pass: the whole split once
    assert epoch_images(100, 64, 3) == 64 + 36 + 64
    # 500 at batch 64 are passes of 8 steps (the last 52): one iterator runs on across epochs, so epoch 0's 20
    # steps hold 2 short batches (steps 7, 15) and epoch 1's 3 (23, 31, 39).
    assert (epoch_images(500, 64, 20, epoch=0), epoch_images(500, 64, 20, epoch=1)) == (1_280 - 24, 1_280 - 36)


def test_the_profile_runs_every_network_regime_and_size_with_seed_budgets():
    profile = get_profile("label-efficiency")
    cases = resolve_cases(profile=profile)
    assert len(cases) == len(LABEL_EFFICIENCY_ARCHS) * 3 * 4 and profile.seeds == 3
    assert {c.regime for c in cases} == {"scratch", "frozen", "finetune"}
    assert {c.arch for c in cases} == set(LABEL_EFFICIENCY_ARCHS) and "mobilenet_v2" in LABEL_EFFICIENCY_ARCHS
    assert sorted({c.train_per_class for c in cases}) == [0, 5, 10, 25]
    assert all(c.dataset == "digits" for c in cases) and len({c.id for c in cases}) == len(cases)
    by_id = {c.id: c for c in cases}
    seed = {c.id: c for c in resolve_cases(profile=get_profile("seed"))}
    assert len(seed) == len(SEED_ARCHS) * 3
    for case_id, case in seed.items():  # every size keeps seed's budgets
        if case.arch not in LABEL_EFFICIENCY_ARCHS:
            continue
        for size in (5, 10, 25):
            cut = by_id[f"{case_id}@{size}"]
            assert (cut.epochs, cut.learning_rate, cut.train_per_class) == (case.epochs, case.learning_rate, size)
        assert by_id[case_id].epochs == case.epochs and by_id[case_id].train_per_class == 0
    assert by_id["mobilenet_v2.frozen.digits@25"].lr_grid == 3  # every size searches the same rate grid


def test_patterns_pick_a_case_at_every_size_or_one_size():
    profile = get_profile("label-efficiency")
    ids = [c.id for c in resolve_cases(["mobilenet_v2.frozen.digits"], profile=profile)]
    assert ids == [f"mobilenet_v2.frozen.digits{s}" for s in ("", "@10", "@25", "@5")]
    assert [c.id for c in resolve_cases(["mobilenet_v2.frozen.digits@25"], profile=profile)] == [
        "mobilenet_v2.frozen.digits@25"
    ]
    fives = resolve_cases(["*@5"], profile=profile)
    assert len(fives) == len({c.id for c in fives}) and all(c.train_per_class == 5 for c in fives)
    assert len(resolve_cases(["*@5", "simple_cnn.scratch.digits"], profile=profile)) == len(fives) + 3
    with pytest.raises(SuiteError, match="train_per_class 5, 10, 25, 0"):
        resolve_cases(["*@7"], profile=profile)


def test_set_and_toml_choose_one_size(tmp_path):
    quick = get_profile("quick")
    [case] = resolve_cases(["simple_cnn.scratch.digits"], profile=quick, settings=["train_per_class=5"])
    assert (case.id, case.train_per_class) == ("simple_cnn.scratch.digits@5", 5)
    toml = tmp_path / "cases.toml"
    toml.write_text('[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\ntrain_per_class = 10\n')
    [loaded] = load_cases(toml)
    assert loaded.id == "simple_cnn.scratch.digits@10"
    kept = resolve_cases(profile=get_profile("label-efficiency"), cases_file=toml)
    assert [c.id for c in kept] == ["simple_cnn.scratch.digits@10"], "a case's own size wins over the profile's"


def test_a_size_above_the_smallest_class_is_bad_input_at_preflight(tmp_path, capsys, digits):
    counts = np.bincount(digits.train_labels, minlength=10)
    argv = ["run", "simple_cnn.scratch.digits", "--profile", "smoke", "--results", str(tmp_path), "--executor"]
    code = main([*argv, "inline", "--set", f"train_per_class={counts.min() + 1}"])
    line = one_error_line(capsys)
    assert code == 2 and "train_per_class" in line and all(f"{d}: {n}" in line for d, n in enumerate(counts))
    results = tmp_path / "results.csv"
    assert not results.exists() or results.read_text().count("\n") <= 1, "no case ran"


def test_a_negative_size_is_bad_input(tmp_path, capsys):
    argv = ["run", "simple_cnn.scratch.digits", "--profile", "smoke", "--results", str(tmp_path)]
    assert main([*argv, "--set", "train_per_class=-1"]) == 2
    assert "train_per_class is out of range" in one_error_line(capsys)


def test_a_cut_case_runs_end_to_end_on_fifty_images(tmp_path):
    """simple_cnn from scratch at 5 digits per class on smoke's budgets (seconds): the row says 50 images."""
    import pandas as pd

    from suite import storage
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings

    smoke = get_profile("smoke")
    [case] = resolve_cases(["simple_cnn.scratch.digits"], profile=smoke, settings=["train_per_class=5"])
    storage.prepare(tmp_path)
    row = Runner(RunSettings.build(smoke, tmp_path, device="cpu", formats=())).run_case(case, 0)
    assert row["status"] == "ok", row.get("error")
    assert (row["case_id"], row["train_images"], row["train_per_class"]) == ("simple_cnn.scratch.digits@5", 50, 5)
    # Smoke: 128 images at batch 32 are 4 steps an epoch; the 50 repeat within its one epoch for those 4 steps.
    history = pd.read_csv(tmp_path / "history" / f"{case.id}-s0.csv")
    assert row["epochs"] == 1 and list(history["steps"]) == [4]
    storage.append_row(tmp_path, row)
    stored = storage.read_results(tmp_path).iloc[0]
    assert (stored["train_per_class"], stored["train_images"]) == (5, 50)
