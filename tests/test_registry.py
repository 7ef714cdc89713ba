"""The registry as a whole: every built-in case is valid under every profile; a case's JSON form."""

from __future__ import annotations

import dataclasses
import json

import pytest

from suite.case import CASE_FIELDS, FIELD_TYPES, Case
from suite.errors import SuiteError
from suite.models import ARCHITECTURES
from suite.profiles import MOBILE_ARCHS, PROFILES, SEED_ARCHS, TOO_BIG_FOR_THE_NIGHT, get_profile
from suite.regimes import REGIMES
from suite.registry import get_case, list_cases, register, select_cases, unregister, validate


def test_catalogue_is_every_architecture_by_regime_it_takes_by_builtin_dataset():
    hub = [a for a in ARCHITECTURES if ARCHITECTURES[a].hub]
    assert sorted(hub) == ["hub_inception_v3", "hub_mobilenet_v2"]
    assert len(list_cases()) == ((len(ARCHITECTURES) - len(hub)) * len(REGIMES) + len(hub) * 3) * 2
    assert "mobilenet_v2.finetune.cifar10" in list_cases()
    assert "resnet_scratch.scratch.digits" in list_cases()
    assert list_cases("hub_mobilenet_v2.*") == [
        "hub_mobilenet_v2.finetune.cifar10",
        "hub_mobilenet_v2.finetune.digits",
        "hub_mobilenet_v2.frozen.cifar10",
        "hub_mobilenet_v2.frozen.digits",
        "hub_mobilenet_v2.tuned.cifar10",
        "hub_mobilenet_v2.tuned.digits",
    ]


@pytest.mark.parametrize("case_id", list_cases())
def test_every_case_resolves_under_every_profile(case_id):
    case = get_case(case_id)
    assert case.id == case_id == case_id.lower()
    assert case.id == f"{case.arch}.{case.regime}.{case.dataset}"
    for profile in PROFILES.values():
        resolved = profile.apply(case)
        assert resolved.id == case_id
        assert resolved.arch == case.arch and resolved.regime == case.regime


def test_list_cases_takes_globs_and_returns_sorted_ids():
    ids = list_cases("resnet5*.frozen.*", "resnet_*.frozen.*")
    assert ids == sorted(ids)
    assert ids == [
        "resnet50.frozen.cifar10",
        "resnet50.frozen.digits",
        "resnet50_v2.frozen.cifar10",
        "resnet50_v2.frozen.digits",
        "resnet_scratch.frozen.cifar10",
        "resnet_scratch.frozen.digits",
    ]
    assert list_cases("nothing*") == []


def test_select_cases_rejects_a_pattern_that_matches_nothing():
    with pytest.raises(SuiteError, match="no case matches 'resnet_50\\*'"):
        select_cases("resnet*", "resnet_50*")


def test_duplicate_id_is_an_error_not_a_warning():
    with pytest.raises(SuiteError, match="duplicate case id"):
        register(Case("simple_cnn", "scratch", "digits"))


def test_register_and_unregister_a_custom_case():
    case = register(Case("simple_cnn", "scratch", "digits", id="simple_cnn.scratch.digits.custom", epochs=3))
    try:
        assert get_case(case.id).epochs == 3
    finally:
        unregister(case.id)
    assert case.id not in list_cases()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("arch", "resnet18", "unknown architecture 'resnet18'; closest: resnet152, resnet101, resnet50"),
        ("regime", "distill", "unknown regime 'distill'; valid: scratch, frozen"),
        ("optimizer", "lamb", "unknown optimizer 'lamb'"),
        ("dropout", 1.5, "dropout is out of range"),
        ("lr_grid", 9, "lr_grid is out of range \\(learning rates tried, 0 to 7"),
        ("image_size", 40, "the minimum for inception_v3 is 75"),
    ],
)
def test_bad_fields_name_the_valid_choices(field, value, message):
    case = Case("inception_v3", "scratch", "digits")
    with pytest.raises(SuiteError, match=message):
        validate(dataclasses.replace(case, **{field: value}))


def test_unknown_dataset_names_the_valid_forms():
    with pytest.raises(SuiteError, match="valid: digits, cifar10, tfds:<name>, folder:<path>"):
        validate(Case("simple_cnn", "scratch", "imagenette"))


def test_transfer_never_starts_from_random_weights():
    with pytest.raises(SuiteError, match="random weights are never presented as transfer"):
        validate(Case("resnet50", "frozen", "digits", weights="none"))
    with pytest.raises(SuiteError, match="scratch trains from random initialisation"):
        validate(Case("resnet50", "scratch", "digits", weights="imagenet"))


def test_dataset_slugs_make_lower_case_ids(tmp_path):
    assert Case("simple_cnn", "scratch", "tfds:MNIST").id == "simple_cnn.scratch.tfds_mnist"
    folder = tmp_path / "My Flowers"
    assert Case("simple_cnn", "scratch", f"folder:{folder}").id == "simple_cnn.scratch.folder_my_flowers"


def test_time_to_target_waits_for_the_dataset_default_unless_the_case_sets_one(tmp_path):
    from suite.data import parse_dataset

    for dataset, target in (("digits", 0.95), ("cifar10", 0.94), ("tfds:mnist", 0.90), (f"folder:{tmp_path}", 0.90)):
        assert Case("simple_cnn", "scratch", dataset).target == parse_dataset(dataset).default_target == target
        assert parse_dataset(dataset).slug == Case("simple_cnn", "scratch", dataset).id.split(".", 2)[2]
    assert Case("simple_cnn", "scratch", "digits", target_accuracy=0.5).target == 0.5


def test_profiles_set_budgets_but_explicit_fields_win():
    quick, smoke = get_profile("quick"), get_profile("smoke")
    case = get_case("resnet50.finetune.digits")
    assert quick.apply(case).epochs == 3  # the quick profile's ResNet50 budget
    frozen = quick.apply(get_case("resnet50.frozen.digits"))
    assert (frozen.epochs, frozen.lr_grid) == (3, 3)  # fair regimes: frozen trains the network's epochs, its grid
    assert smoke.apply(case).train_limit == 128
    explicit = dataclasses.replace(case, epochs=7, overrides=(("epochs", 7),))
    assert smoke.apply(explicit).epochs == 7
    assert smoke.apply(explicit).train_limit == 128


def test_seed_and_smoke_select_the_five_seed_networks_under_three_regimes():
    for name in ("seed", "smoke"):
        profile = get_profile(name)
        cases = select_cases(*profile.patterns, exclude=profile.exclude)
        assert {(c.arch, c.regime) for c in cases} == {
            (a, r) for a in SEED_ARCHS for r in ("scratch", "frozen", "finetune")
        }, name
        assert {c.dataset for c in cases} == {"digits"}


def test_quick_shows_every_regime_family_on_two_networks_and_seed_the_big_two():
    """quick: the suite's two networks under every regime and MobileNetV2 (a Keras application); ResNet50 and
    InceptionV3 from scratch moved to seed (13 of quick's 35 minutes on Zen 5 with three seeds: profiles.py)."""
    quick = get_profile("quick")
    cases = select_cases(*quick.patterns, exclude=quick.exclude)
    assert {c.arch for c in cases} == {"simple_cnn", "resnet_scratch", "mobilenet_v2"}
    assert {c.dataset for c in cases} == {"digits"}
    for regime in ("scratch", "frozen", "finetune"):
        assert len({c.arch for c in cases if c.regime == regime}) >= 2, regime
    assert len(cases) == 7  # its time target: ten minutes warm on 2 CPU cores (README)
    seed = get_profile("seed")
    assert {c.arch for c in select_cases(*seed.patterns, exclude=seed.exclude)} == set(SEED_ARCHS)


def test_new_architectures_run_by_pattern_and_the_mobile_profile_takes_the_small_ones():
    assert [c.id for c in select_cases("efficientnet_v2_b0.*.digits")] == [
        f"efficientnet_v2_b0.{r}.digits" for r in sorted(REGIMES)
    ]
    mobile = get_profile("mobile")
    cases = select_cases(*mobile.patterns, exclude=mobile.exclude)
    assert {(c.arch, c.regime) for c in cases} == {(a, r) for a in MOBILE_ARCHS for r in ("scratch", "finetune")}
    assert "mobilenet_v3_small" in MOBILE_ARCHS and "convnext_tiny" not in MOBILE_ARCHS


def test_overnight_takes_every_architecture_but_the_ones_too_big_for_the_night():
    night = get_profile("overnight")
    archs = {c.arch for c in select_cases(*night.patterns, exclude=night.exclude)}
    assert archs == set(ARCHITECTURES) - set(TOO_BIG_FOR_THE_NIGHT)
    assert {"convnext_tiny", "efficientnet_v2_b0", "resnet50", "hub_mobilenet_v2"} <= archs


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(SuiteError, match="valid: smoke, quick, seed, mobile, overnight, label-efficiency"):
        get_profile("weekend")


# What runner.case_json wrote for this case before Case.to_json existed: row keys hash it, so it must not change.
DEFAULT_CASE_JSON = (
    '{"arch": "simple_cnn", "augment": 0.1, "batch_size": 64, "bn_momentum": 0.9, "dataset": "digits", "depth": 0, '
    '"dropout": 0.0, "early_stopping": 0, "epochs": 10, "eval_limit": 0, "finetune_lr_scale": 0.1, "handle": "", '
    '"head_epochs": 2, "id": "simple_cnn.scratch.digits", "image_size": 0, "l2": 0.0, "label_noise": 0.0, '
    '"label_smoothing": 0.0, "latency_budget_ms": 0.0, "learning_rate": 0.001, "momentum": 0.9, "optimizer": "adam", '
    '"regime": "scratch", "schedule": "cosine", "search_space": "", "strategy": "none", "target_accuracy": 0.0, '
    '"task_cpus": 1, "task_gpus": 0, "train_limit": 0, "trial_epochs": 2, "trials": 10, "tuner": "random", '
    '"warmup_epochs": 0.0, "weight_decay": 0.0, "weights": "auto"}'
)


def test_case_json_is_byte_identical_to_the_rows_already_stored():
    case = Case("simple_cnn", "scratch", "digits", overrides=(("epochs", 10),))
    assert case.to_json() == DEFAULT_CASE_JSON  # overrides are bookkeeping, not part of what ran


def test_case_json_round_trips_every_field():
    defaults = Case("simple_cnn", "scratch", "digits")
    changed = {"int": 3, "float": 0.25, "str": "-changed"}  # added to each default, so every field differs
    fields = {name: getattr(defaults, name) + changed[kind.__name__] for name, kind in FIELD_TYPES.items()}
    case = Case(**fields, overrides=(("epochs", fields["epochs"]),))
    assert all(getattr(case, name) != getattr(defaults, name) for name in CASE_FIELDS)
    back = Case.from_json(case.to_json())
    assert back == case and back.overrides == ()
    assert {name: type(getattr(back, name)) for name in CASE_FIELDS} == FIELD_TYPES  # 1.0 stays a float
    assert list(json.loads(case.to_json())) == sorted(CASE_FIELDS)  # every field but overrides, sorted


def test_field_types_are_type_objects_for_every_field():
    assert set(FIELD_TYPES) == set(CASE_FIELDS) and "overrides" not in FIELD_TYPES
    assert (FIELD_TYPES["epochs"], FIELD_TYPES["learning_rate"], FIELD_TYPES["optimizer"]) == (int, float, str)
    assert set(FIELD_TYPES.values()) == {int, float, str}
