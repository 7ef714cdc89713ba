"""The input side a case runs at (suite.sides), a hub module's own side, and `suite run --dry-run`."""

from __future__ import annotations

import dataclasses
import re
import socket

import pytest
import tensorflow as tf
from helpers import one_error_line

from suite import storage, transfer
from suite.case import Case
from suite.cli import main
from suite.errors import SuiteError
from suite.models import ARCHITECTURES
from suite.profiles import PROFILES, get_profile
from suite.regimes import REGIMES
from suite.sides import SideRequest, resolve_side


class Fixed96(tf.Module):
    """A feature vector whose ``__call__`` has a fixed 96 x 96 input signature (no ``training`` argument)."""

    def __init__(self):
        super().__init__(name="fixed_96")
        self.kernel = tf.Variable(tf.random.stateless_normal((3, 3, 3, 8), seed=(1, 0), stddev=0.5), name="kernel")

    @tf.function(input_signature=[tf.TensorSpec([None, 96, 96, 3], tf.float32)])
    def __call__(self, images):
        return tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(images, self.kernel, strides=2, padding="SAME")), axis=[1, 2])


@pytest.fixture(scope="module")
def fixed_96(tmp_path_factory) -> str:
    """The bug report's module: traced for 96 x 96 only, in a folder whose name doesn't mention 96."""
    net = Fixed96()
    root = tf.train.Checkpoint()
    root.net = net
    root.__call__ = net.__call__
    root.variables = list(net.variables)
    root.trainable_variables = list(net.trainable_variables)
    root.regularization_losses = []
    directory = tmp_path_factory.mktemp("hub") / "feature_vector"
    tf.saved_model.save(root, str(directory))
    return str(directory)


@pytest.fixture
def imagenet_cached(tmp_path, monkeypatch):
    """A Keras cache holding a (stand-in) notop ImageNet file for every Keras application: ImageNet weights 'can be
    had' here without the network; nothing loads them in these tests."""
    models = tmp_path / "keras" / "models"
    models.mkdir(parents=True)
    for spec in ARCHITECTURES.values():
        if spec.weights_file:
            (models / spec.weights_file).write_bytes(b"stand-in")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))  # no hub module is on this machine
    monkeypatch.setattr(transfer, "can_reach", lambda *a, **k: pytest.fail("the network was asked"))


def dry_run_table(out: str) -> dict[str, dict[str, str]]:
    """The dry run's table as {case id: {column: cell}}."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("case "))
    header = re.split(r"\s{2,}", lines[start].strip())
    table = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        table[cells[0]] = dict(zip(header, cells))
    return table


def test_overnight_dry_run_shows_transfer_at_the_native_side_and_scratch_at_32(tmp_path, capsys, imagenet_cached):
    """The issue's Done-when: every Keras application transfer case at its native side, scratch at CIFAR's 32 px."""
    args = ["run", "--dry-run", "--profile", "overnight", "--results", str(tmp_path / "r")]
    assert main([*args, "--data-dir", str(tmp_path / "tfds")]) == 0
    out = capsys.readouterr().out
    table = dry_run_table(out)
    overnight = get_profile("overnight")
    from suite.selection import resolve_cases

    cases = resolve_cases(profile=overnight)
    assert sorted(table) == sorted(c.id for c in cases) and len(cases) > 150
    keras_transfer = 0
    for case in cases:
        spec, regime, cells = ARCHITECTURES[case.arch], REGIMES[case.regime], table[case.id]
        assert cells["seeds"] == "0-2" and cells["batch"] == "128" and cells["train imgs"] == "45,000"
        if spec.source == "keras" and regime.pretrained:
            keras_transfer += 1
            assert (cells["side"], cells["weights"]) == (str(spec.native_size), "imagenet"), case.id
        elif spec.hub:
            assert cells["side"] == str({"hub_inception_v3": 299, "hub_mobilenet_v2": 224}[case.arch]), case.id
        else:  # scratch, and the suite's own networks from source:glyphs: CIFAR-10's side (or the minimum above it)
            assert cells["side"] == str(max(32, spec.min_size)), case.id
            assert cells["weights"] == ("none" if not regime.pretrained else "source:glyphs")
    assert keras_transfer == 23 * 6  # 23 Keras applications x frozen, freeze25/50/75, finetune, tuned
    assert table["resnet50.scratch.cifar10"]["side"] == "32" and table["inception_v3.scratch.cifar10"]["side"] == "75"
    assert table["resnet50.finetune.cifar10"]["epochs per phase"] == "head 5 + finetune 30*"
    assert table["resnet50.tuned.cifar10"]["epochs per phase"].startswith("search 30 x (5 head + 10); head 5")
    assert "formats every job exports to and measures: saved_model, litert_fp32" in out
    assert re.search(r"^total \(est\.\): [\d,]+ h", out, re.M)
    words = " ".join(out.split())
    assert "scaled by side squared" in words and "cifar10 can't be read here" in words
    assert not (tmp_path / "r").exists(), "a dry run writes nothing"


def test_offline_the_side_follows_the_weights_back_to_the_dataset(tmp_path, monkeypatch, capsys):
    """Where ImageNet weights can't be had, overnight falls back to source:glyphs, and so to the dataset's side."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(transfer, "can_reach", lambda *a, **k: False)
    args = ["run", "resnet50.frozen.cifar10", "--dry-run", "--profile", "overnight", "--results", str(tmp_path / "r")]
    assert main([*args, "--data-dir", str(tmp_path / "tfds")]) == 0
    cells = dry_run_table(capsys.readouterr().out)["resnet50.frozen.cifar10"]
    assert (cells["side"], cells["side from"], cells["weights"]) == ("32", "dataset", "source:glyphs")


def test_the_run_resolves_the_side_the_dry_run_shows(tmp_path, imagenet_cached):
    from suite.run import steps
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings

    profile = dataclasses.replace(get_profile("smoke"), transfer_weights=("imagenet", "source:glyphs"))
    runner = Runner(RunSettings.build(profile, tmp_path, device="cpu"))
    inputs = steps.resolve(runner, profile.apply(Case("mobilenet_v3_small", "frozen", "digits")))
    assert (inputs.side, inputs.weights, inputs.columns["image_size"]) == (224, "imagenet", 224)
    inputs = steps.resolve(runner, profile.apply(Case("mobilenet_v3_small", "scratch", "digits")))
    assert (inputs.side, inputs.weights) == (32, "none")
    runner.profile = dataclasses.replace(profile, transfer_side=64)
    inputs = steps.resolve(runner, profile.apply(Case("inception_v3", "finetune", "digits")))
    assert (inputs.side, inputs.weights) == (75, "imagenet"), "a transfer side below the minimum is raised to it"


def test_a_profile_transfer_side_replaces_the_native_one(tmp_path, capsys, imagenet_cached, monkeypatch):
    at96 = dataclasses.replace(get_profile("overnight"), name="overnight96", transfer_side=96)
    monkeypatch.setitem(PROFILES, "overnight96", at96)
    args = ["run", "resnet50.*.cifar10", "xception.*.cifar10", "--dry-run", "--profile", "overnight96"]
    assert main([*args, "--results", str(tmp_path / "r"), "--data-dir", str(tmp_path / "tfds")]) == 0
    table = dry_run_table(capsys.readouterr().out)
    assert (table["resnet50.finetune.cifar10"]["side"], table["resnet50.finetune.cifar10"]["side from"]) == (
        "96",
        "transfer_side",
    )
    assert table["xception.frozen.cifar10"]["side"] == "96"
    assert table["resnet50.scratch.cifar10"]["side"] == "32" and table["xception.scratch.cifar10"]["side"] == "71"


def test_a_case_image_size_wins_over_every_other_rule(tmp_path, capsys, imagenet_cached):
    args = ["run", "resnet50.*.cifar10", "--dry-run", "--profile", "overnight", "--set", "image_size=128"]
    assert main([*args, "--results", str(tmp_path / "r"), "--data-dir", str(tmp_path / "tfds")]) == 0
    table = dry_run_table(capsys.readouterr().out)
    assert {cells["side"] for cells in table.values()} == {"128"}
    assert {cells["side from"] for cells in table.values()} == {"image_size"}
    assert resolve_side(SideRequest(arch="hub_inception_v3", image_size=80, weights="hub:x"), 32).pixels == 80
    assert resolve_side(SideRequest(arch="hub_mobilenet_v2", image_size=96), 32, frozenset({96})).pixels == 96


def test_the_side_rule_case_by_case():
    assert resolve_side(SideRequest(arch="resnet50"), 32).pixels == 32  # scratch: the dataset
    assert resolve_side(SideRequest(arch="resnet50", weights="source:glyphs"), 32).pixels == 32
    assert resolve_side(SideRequest(arch="resnet50", weights="/w/backbone.weights.h5"), 32).pixels == 32
    assert resolve_side(SideRequest(arch="resnet50", weights="imagenet"), 32).pixels == 224
    assert resolve_side(SideRequest(arch="efficientnet_b3", weights="imagenet"), 32).pixels == 300
    assert resolve_side(SideRequest(arch="inception_v3", weights="imagenet"), 32).pixels == 299
    assert resolve_side(SideRequest(arch="inception_v3"), 32).pixels == 75  # the minimum above the dataset's side
    assert resolve_side(SideRequest(arch="resnet50", weights="imagenet", transfer_side=64), 32).pixels == 64
    assert (
        resolve_side(SideRequest(arch="resnet50", transfer_side=64), 32).pixels == 32
    )  # a transfer side is for transfer only
    named = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_96/feature_vector/5"
    assert resolve_side(SideRequest(arch="hub_mobilenet_v2", handle=named), 32).pixels == 96
    assert resolve_side(SideRequest(arch="hub_mobilenet_v2", handle=named), 32, frozenset({128})).pixels == 128


def test_an_image_size_below_the_minimum_is_one_line_and_exit_2(tmp_path, capsys):
    args = ["run", "inception_v3.frozen.digits", "--set", "image_size=40", "--results", str(tmp_path / "r")]
    assert main([*args, "--dry-run"]) == 2
    assert "image_size is out of range (the minimum for inception_v3 is 75)" in one_error_line(capsys)
    assert main(args) == 2
    assert "the minimum for inception_v3 is 75" in one_error_line(capsys)
    from suite.run.runner import preflight

    unchecked = Case("xception", "scratch", "digits", image_size=64)  # never validated: preflight still refuses it
    with pytest.raises(SuiteError, match=r"case xception.scratch.digits: image_size is out of range .* is 71\)"):
        preflight([unchecked])


def test_a_hub_module_says_its_own_side(fixed_96, hub_stand_in, tmp_path):
    from suite.data.pipeline import input_side
    from suite.models import build_backbone, hub

    assert hub.traced_sides(fixed_96) == {96}
    assert hub.traced_sides(hub_stand_in) == set()  # traced for any side: the name (else the default) decides
    assert hub.traced_sides(str(hub.export_stand_in(tmp_path / "at64", side=64))) == {64}
    assert hub.traced_sides("/nonexistent/module") == set()
    assert input_side("hub_mobilenet_v2", 32, handle=fixed_96) == 96
    assert input_side("hub_inception_v3", 32, handle=fixed_96) == 96  # whatever the architecture's own side
    assert input_side("hub_mobilenet_v2", 32, handle=hub_stand_in) == 224
    backbone = build_backbone("hub_mobilenet_v2", 96, handle=fixed_96)  # at 224 Keras can't infer its output
    assert backbone.output_shape == (None, 8)


def test_an_image_size_that_contradicts_the_module_signature_is_one_line_and_exit_2(fixed_96, tmp_path, capsys):
    path = tmp_path / "cases.toml"
    path.write_text(
        f'[[case]]\narch = "hub_mobilenet_v2"\nregime = "frozen"\ndataset = "digits"\nhandle = "{fixed_96}"\n'
        "image_size = 64\n"
    )
    args = ["run", "--cases", str(path), "--profile", "smoke", "--results", str(tmp_path / "r")]
    for dry in (["--dry-run"], []):
        assert main([*args, *dry]) == 2
        err = one_error_line(capsys)
        assert "case hub_mobilenet_v2.frozen.digits: image_size = 64 contradicts the hub module" in err
        assert "takes 96 x 96 images only; set image_size = 96 or leave it 0" in err
    assert not (tmp_path / "r" / "results.csv").is_file() or len(storage.read_results(tmp_path / "r")) == 0


def test_a_dry_run_refuses_what_the_run_would_refuse(tmp_path, capsys):
    path = tmp_path / "cases.toml"
    missing = tmp_path / "none.weights.h5"
    path.write_text(f'[[case]]\narch = "simple_cnn"\nregime = "frozen"\ndataset = "digits"\nweights = "{missing}"\n')
    assert main(["run", "--dry-run", "--cases", str(path), "--results", str(tmp_path / "r")]) == 2
    assert "none.weights.h5 does not exist" in one_error_line(capsys)
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses an unknown profile
        main(["run", "--dry-run", "--profile", "weekend"])
    assert exit_info.value.code == 2 and "invalid choice: 'weekend'" in one_error_line(capsys)
    assert main(["run", "nope.*", "--dry-run", "--results", str(tmp_path / "r")]) == 2
    assert "no case matches 'nope.*'" in one_error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_a_dry_run_estimates_from_earlier_rows_and_skips_what_is_done(tmp_path, capsys):
    from suite.environment import environment
    from suite.run.jobs import case_key

    profile = get_profile("smoke")
    case = profile.apply(Case("simple_cnn", "scratch", "digits"))
    row = {"case_id": case.id, "arch": case.arch, "regime": case.regime, "dataset": "digits", "seed": 0}
    row.update(status="ok", profile="smoke", case_key=case_key(case, environment()), case_seconds=123.0)
    row.update(image_size=32, weights="none", device="cpu", case_json=case.to_json(), **environment())
    storage.prepare(tmp_path)
    storage.append_row(tmp_path, row)
    before = storage.results_path(tmp_path).read_bytes()
    args = ["run", "simple_cnn.scratch.digits", "simple_cnn.frozen.digits", "--profile", "smoke", "--seeds", "3"]
    assert main([*args, "--dry-run", "--device", "cpu", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = dry_run_table(out)
    scratch, frozen = table["simple_cnn.scratch.digits"], table["simple_cnn.frozen.digits"]
    assert (scratch["seeds"], scratch["done"], scratch["each (est.)"]) == ("1,2", "0", "2 min")
    assert (scratch["all seeds (est.)"], scratch["estimate from"]) == ("4 min", "earlier run")
    assert (frozen["seeds"], frozen["done"], frozen["train imgs"]) == ("0-2", "-", "128")
    assert frozen["estimate from"].startswith("FLOPs 0.0208 G (")
    assert "5 job(s) to run, 1 already done" in out
    assert storage.results_path(tmp_path).read_bytes() == before


def test_flops_scale_with_the_side_squared():
    from suite.measure.arch_facts import HUB_NAMESAKES, gflops_at

    builtin = {name for name, spec in ARCHITECTURES.items() if spec.source != "user"}
    assert {name for name in builtin if ARCHITECTURES[name].hub} == set(HUB_NAMESAKES)
    assert all(gflops_at(name, 32) is not None for name in builtin)  # an estimate for every built-in network
    at224, _ = gflops_at("resnet50", 224)
    at32, _ = gflops_at("resnet50", 32)
    assert at224 / at32 == pytest.approx(49)  # the cost of transfer at the native side: 224² / 32²


def test_regime_phases_are_what_training_runs():
    case = Case("resnet50", "finetune", "digits", epochs=7, head_epochs=2, learning_rate=0.01, finetune_lr_scale=0.1)
    assert [(p.name, p.epochs, p.freeze_fraction) for p in REGIMES["freeze50"].phases(case)] == [
        ("head", 2, 1.0),
        ("finetune", 7, 0.5),
    ]
    assert REGIMES["finetune"].phases(case)[1].learning_rate == pytest.approx(0.001)
    assert [(p.name, p.epochs) for p in REGIMES["frozen"].phases(case)] == [("train", 7)]
    assert [(p.name, p.freeze_fraction) for p in REGIMES["scratch"].phases(case)] == [("train", 0.0)]
    no_head = dataclasses.replace(case, head_epochs=0)
    assert [p.name for p in REGIMES["finetune"].phases(no_head)] == ["finetune"]


def test_reachability_is_asked_once_for_many_cases(monkeypatch):
    calls = []

    def refuse(host, timeout):
        calls.append(host)
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(transfer, "_reached", {})
    assert not any(transfer.can_reach() for _ in range(50))
    assert len(calls) == 1


@pytest.mark.slow
def test_hub_and_transfer_sides_reach_the_row_and_the_measurement(fixed_96, hub_stand_in, tmp_path, monkeypatch):
    """The bug report's module trains frozen and fine-tuned at 96 px; a profile's transfer side reaches an open
    module; each row's image_size is the side that ran, and latency and throughput were measured at it."""
    import pandas as pd

    quick = dataclasses.replace(get_profile("smoke"), name="sides", formats=(), transfer_side=48)
    monkeypatch.setitem(PROFILES, "sides", quick)
    tables = [
        ("hub_mobilenet_v2", "frozen", fixed_96, ""),
        ("hub_mobilenet_v2", "finetune", fixed_96, ""),
        ("hub_mobilenet_v2", "frozen", hub_stand_in, 'id = "hub_mobilenet_v2.frozen.digits.open"\n'),
    ]
    path = tmp_path / "cases.toml"
    path.write_text(
        "\n".join(
            f'[[case]]\narch = "{a}"\nregime = "{r}"\ndataset = "digits"\nhandle = "{h}"\n{more}'
            for a, r, h, more in tables
        )
    )
    results = tmp_path / "r"
    args = ["run", "--cases", str(path), "--profile", "sides", "--results", str(results), "--executor", "inline"]
    assert main([*args, "--device", "cpu"]) == 0
    frame = storage.read_results(results).set_index("case_id")
    assert (frame["status"] == "ok").all(), frame["error"]
    assert frame["image_size"].to_dict() == {
        "hub_mobilenet_v2.frozen.digits": 96,
        "hub_mobilenet_v2.finetune.digits": 96,
        "hub_mobilenet_v2.frozen.digits.open": 48,
    }
    for case_id, side in frame["image_size"].items():
        assert frame.loc[case_id, "latency_p50_ms"] > 0 and frame.loc[case_id, "throughput_ips"] > 0
        import keras

        model = keras.models.load_model(results / "models" / f"{case_id}-s0.keras")
        assert model.input_shape == (None, side, side, 3)
        points = pd.read_csv(results / "throughput" / f"{case_id}-s0.csv")
        assert len(points) and not points["oom"].any()


@pytest.mark.parametrize("arch", ["resnet50", "densenet121", "mobilenet_v2", "simple_cnn", "efficientnet_b0"])
def test_preprocessing_the_small_batch_then_resizing_gives_what_resizing_first_gave(arch):
    """The pipeline preprocesses at the dataset's side, then upsamples (caffe, torch, tf, unit and raw conventions
    are per-channel affine maps, which bilinear resizing commutes with)."""
    import numpy as np

    from suite.data.pipeline import make_input, preprocess

    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    raw = tf.data.Dataset.from_tensor_slices((images, np.arange(8) % 10))
    (batch, _), *_ = list(make_input(raw, arch=arch, side=224, num_classes=10, batch_size=8))
    resized_first = preprocess(tf.image.resize(tf.cast(images, tf.float32), (224, 224), method="bilinear"), arch)
    assert batch.shape == (8, 224, 224, 3)
    np.testing.assert_allclose(batch.numpy(), np.asarray(resized_first), atol=2e-3)


def test_a_dry_run_counts_source_pretraining_until_its_weights_are_cached(tmp_path, capsys, monkeypatch):
    """Pretraining is estimated at its budget's most (the target may stop it sooner), for the profile's own budget
    of that network, once per network and side, and not at all once its weights are cached."""
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path / "cache"))
    args = ["run", "mobilenet_v2.frozen.digits", "mobilenet_v2.finetune.digits", "--dry-run", "--device", "cpu"]
    assert main([*args, "--results", str(tmp_path / "r")]) == 0
    cold = dry_run_table(capsys.readouterr().out)
    marked = [case for case, cells in cold.items() if "source pretraining (at most)" in cells["estimate from"]]
    assert len(marked) == 1  # one backbone, pretrained once for both regimes
    quick = get_profile("quick")
    case = quick.apply(Case("mobilenet_v2", "frozen", "digits"))
    path = transfer.source_weights_path("mobilenet_v2", 32, case, quick.source_for("mobilenet_v2"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stand-in")
    assert main([*args, "--results", str(tmp_path / "r")]) == 0
    warm = dry_run_table(capsys.readouterr().out)
    assert not any("source pretraining" in cells["estimate from"] for cells in warm.values())


def test_a_dry_run_shows_a_cut_case_at_its_images_and_the_whole_splits_cost(tmp_path, capsys):
    """digits@5 trains 50 images (10 classes x 5), repeated within each of its 5 epochs for the whole split's
    optimizer steps: the same epochs, and the same estimate, as the whole split."""
    args = ["run", "resnet_scratch.scratch.digits", "--dry-run", "--device", "cpu", "--profile", "label-efficiency"]
    assert main([*args, "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    table = dry_run_table(out)
    whole, cut = table["resnet_scratch.scratch.digits"], table["resnet_scratch.scratch.digits@5"]
    assert (whole["train imgs"], cut["train imgs"]) == ("1,257", "50")
    assert whole["epochs per phase"] == cut["epochs per phase"] == "train 5"
    assert whole["each (est.)"] == cut["each (est.)"] and "?" not in cut["each (est.)"]
    assert table["resnet_scratch.scratch.digits@25"]["train imgs"] == "250"
    assert "repeats its images within each epoch" in " ".join(out.split())


def test_the_dry_runs_glyph_class_count_is_the_glyph_sets():
    from suite.data.glyphs import CLASSES
    from suite.run import cost

    assert cost.GLYPH_CLASSES == len(CLASSES) == 52
