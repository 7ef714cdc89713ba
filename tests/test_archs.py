"""The architecture table: all 40 Keras applications, each row's facts checked against Keras itself.

Every application is built through the suite's own path (``build_backbone`` at
its minimum side, one forward pass) and given ImageNet weights through the
suite's own ``load_imagenet``, with the download and the file read stubbed out:
what Keras asks the cache for must be the row's ``weights_file``, and the sides
Keras checks the input against must be the row's ``native_size`` and ``min_size``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re

import keras
import numpy as np
import pytest

from suite import transfer
from suite.data.pipeline import CONVENTION_MODULES, preprocess
from suite.measure import arch_facts
from suite.models import ARCHITECTURES, build_backbone, build_classifier
from suite.profiles import MOBILE_ARCHS, SEED_ARCHS, TOO_BIG_FOR_THE_NIGHT

KERAS_ROWS = [spec for spec in ARCHITECTURES.values() if spec.source == "keras"]
# The largest builds (20-60 s each on 2 busy cores): marked slow, and CI runs them.
BIGGEST = {
    "convnext_small",
    "convnext_base",
    "convnext_large",
    "convnext_xlarge",
    "densenet201",
    "efficientnet_b7",
    "efficientnet_v2_m",
    "efficientnet_v2_l",
}
NIGHT_PARAMS, NIGHT_SIDE = 30_000_000, 300  # TOO_BIG_FOR_THE_NIGHT: more parameters (10-class head), or a larger side


def test_the_table_has_every_keras_application_under_a_timm_style_name():
    constructors = {name for name in dir(keras.applications) if name[0].isupper()}
    assert len(KERAS_ROWS) == 40 and {spec.constructor for spec in KERAS_ROWS} == constructors
    assert len(ARCHITECTURES) >= 44 and all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in ARCHITECTURES)
    assert {"resnet50", "inception_v3", "mobilenet_v2", "efficientnet_v2_b0", "convnext_tiny"} <= set(ARCHITECTURES)
    assert {"mobilenet_v3_small", "resnet50_v2", "nasnet_mobile"} <= set(ARCHITECTURES)
    assert set(SEED_ARCHS) | set(MOBILE_ARCHS) | set(TOO_BIG_FOR_THE_NIGHT) <= set(ARCHITECTURES)


@pytest.fixture
def keras_calls(monkeypatch):
    """Records the sides Keras validates inputs against and the weights files it fetches, without fetching."""
    seen: dict[str, list] = {"sides": [], "files": []}
    from keras.src.applications import imagenet_utils

    real_shape = imagenet_utils.obtain_input_shape

    def spy_shape(input_shape, default_size, min_size, *args, **kwargs):
        seen["sides"].append((default_size, min_size))
        return real_shape(input_shape, default_size, min_size, *args, **kwargs)

    def fake_get_file(fname=None, origin=None, *args, **kwargs):
        seen["files"].append(fname)
        return "/nonexistent/" + str(fname)

    import keras.src.applications as applications

    for info in pkgutil.iter_modules(applications.__path__):
        if info.name.endswith("_test"):  # Keras ships its own tests beside the modules
            continue
        module = importlib.import_module(f"keras.src.applications.{info.name}")
        if hasattr(module, "imagenet_utils"):
            monkeypatch.setattr(module.imagenet_utils, "obtain_input_shape", spy_shape, raising=False)
        if hasattr(module, "file_utils"):
            monkeypatch.setattr(module.file_utils, "get_file", fake_get_file)
    monkeypatch.setattr(keras.Model, "load_weights", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(transfer, "can_reach", lambda *args, **kwargs: True)
    return seen


@pytest.mark.parametrize(
    "spec", [pytest.param(s, id=s.name, marks=[pytest.mark.slow] if s.name in BIGGEST else []) for s in KERAS_ROWS]
)
def test_every_keras_application_builds_at_its_minimum_side_and_its_row_matches_keras(spec, keras_calls):
    side = spec.min_size
    backbone = build_backbone(spec.name, side)
    features = backbone(np.zeros((1, side, side, 3), "float32"))
    assert backbone.name == spec.name and features.shape[0] == 1 and np.isfinite(np.asarray(features)).all()
    if spec.family != "mobilenet_v3":  # MobileNetV3 checks its side in its own code
        assert keras_calls["sides"][0] == (spec.native_size, spec.min_size)
    with pytest.raises(ValueError):  # the minimum is Keras' own: one pixel less is refused
        build_backbone(spec.name, side - 1)

    transfer.load_imagenet(backbone, spec.name)  # the suite's path, at the minimum side
    assert keras_calls["files"] == [spec.weights_file]
    if spec.family == "mobilenet_v3":  # its notop file names the side its weights were trained at
        assert f"_{spec.native_size}_" in spec.weights_file

    params = build_classifier(backbone, 10).count_params()
    # The figure shipped for `suite archs` (counted at the native side; with global pooling the count is the same
    # at every side): the real build here stands for all 40, FLOPs too for the cheap ones below.
    assert params == arch_facts.shipped(spec.name)["params_10_class"]
    too_big = params > NIGHT_PARAMS or spec.native_size > NIGHT_SIDE
    assert too_big == (spec.name in TOO_BIG_FOR_THE_NIGHT), f"{spec.name}: {params:,} parameters"
    keras.backend.clear_session()


@pytest.mark.parametrize("spec", KERAS_ROWS, ids=lambda s: s.name)
def test_the_convention_column_says_what_the_family_preprocess_input_does(spec):
    """``preprocess`` in the table (what `suite archs` prints, what a user arch declares) matches Keras."""
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    ours = np.asarray(preprocess(pixels.copy(), spec.name))  # Keras' preprocess_input edits a NumPy array in place
    if spec.preprocess == "raw":
        expected = pixels
    else:
        module = getattr(keras.applications, CONVENTION_MODULES[spec.preprocess])
        expected = np.asarray(module.preprocess_input(pixels.copy()))
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-5)


def test_resnet50_counts_match_the_published_keras_table():
    """The 1000-class count Keras publishes (REFERENCE.md): backbone + 2048 x 1000 + 1000."""
    backbone = build_backbone("resnet50", 32)
    assert backbone.count_params() + 2048 * 1000 + 1000 == 25_636_712
    assert build_classifier(backbone, 10).count_params() == backbone.count_params() + 2048 * 10 + 10


def run_archs(capsys, *args: str) -> tuple[int, str, str]:
    from suite.cli import main

    code = main(["archs", *args])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(out: str):
    import io

    import pandas as pd

    return pd.read_csv(io.StringIO(out)).set_index("name")


def test_archs_lists_every_architecture_at_once_from_the_shipped_figures(monkeypatch, tmp_path, capsys):
    """A fresh cache: all 44 rows, the built-ins' counts shipped, the TF-Hub modules' not counted, nothing built."""
    from suite.measure import arch_facts

    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(arch_facts, "count", lambda arch: pytest.fail(f"listing built {arch}"))
    code, out, err = run_archs(capsys, "--format", "csv")
    table = read_csv(out)
    assert code == 0 and err == "" and len(table) == len(ARCHITECTURES) >= 44
    assert table.groupby("source").size().to_dict() == {"hub": 2, "keras": 40, "suite": 2}
    convnext = table.loc["convnext_tiny"]
    assert (convnext.native_side, convnext.min_side, convnext.convention, convnext.flops_side) == (224, 32, "raw", 224)
    assert convnext.params_10_class == arch_facts.shipped("convnext_tiny")["params_10_class"] > 27_000_000
    assert bool(convnext.imagenet_weights) and convnext.counts_from == "shipped"
    built_in = table[table.source.isin(["keras", "suite"])]
    assert (built_in.counts_from == "shipped").all() and built_in.gflops_at_native_side.gt(0).all()
    hub = table.loc["hub_mobilenet_v2"]
    assert hub.isna()["params_10_class"] and hub.isna()["counts_from"]  # never loaded to list it
    assert not (tmp_path / "archs").exists()


def test_listing_imports_no_tensorflow():
    """What makes `suite archs` instant: it reads the table and two JSON files, and never starts TensorFlow."""
    import subprocess
    import sys

    script = (
        "import contextlib, io, sys; from suite.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): code = main(['archs', '--format', 'csv'])\n"
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["0", "False", "False"], done.stderr


def test_archs_count_builds_only_what_is_neither_cached_nor_shipped(monkeypatch, tmp_path, capsys):
    """--count counts the missing ones (here the MobileNets, as if their rows had changed) once and caches them;
    progress goes to stderr, so the CSV on stdout is the table alone."""
    from suite.measure import arch_facts
    from suite.models.hub import HubUnavailable

    calls = []

    def count(arch):
        if ARCHITECTURES[arch].hub:
            raise HubUnavailable(f"hub handle for {arch} can't be loaded (offline); run once with a network")
        calls.append(arch)
        return {"params_10_class": len(arch), "gflops": 1.5}

    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(arch_facts, "count", count)
    real_shipped = arch_facts.shipped
    monkeypatch.setattr(arch_facts, "shipped", lambda arch: None if "mobilenet" in arch else real_shipped(arch))
    code, out, err = run_archs(capsys, "--count", "--format", "csv")
    table = read_csv(out)
    assert code == 0 and calls == ["mobilenet", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]
    assert "counting mobilenet_v2" in err and "hub_mobilenet_v2 not counted" in err
    assert (table.loc["mobilenet_v2", "params_10_class"], table.loc["mobilenet_v2", "counts_from"]) == (12, "cache")
    assert table.loc["resnet50", "counts_from"] == "shipped" and table.loc["hub_mobilenet_v2"].isna()["counts_from"]
    code, again, _ = run_archs(capsys, "--count", "--format", "csv")
    assert len(calls) == 4 and again == out  # counted once, then read from the cache


def test_the_shipped_mobilenet_v2_figures_match_the_published_ones():
    """MobileNetV2 at 224 px: REFERENCE.md's 0.615 GFLOPs and 3,538,984 parameters with the 1000-class top,
    less the top's difference to a 10-class head."""
    from suite.measure import arch_facts

    counts = arch_facts.shipped("mobilenet_v2")
    top_difference = 1280 * (1000 - 10) + (1000 - 10)
    assert counts["params_10_class"] + top_difference == 3_538_984
    flops_difference = 2 * 1280 * (1000 - 10) / 1e9  # a multiply and an add per weight of the dense top
    assert counts["gflops"] + flops_difference == pytest.approx(0.615, rel=0.01)


def test_every_built_in_architecture_has_a_shipped_figure_for_its_row_and_this_keras():
    """A changed row or a new Keras minor release needs the figures counted again:
    ``python -m suite.measure.arch_facts --write`` (about 5 minutes on 2 cores)."""
    from suite.measure import arch_facts

    built_in = [name for name, spec in ARCHITECTURES.items() if spec.source in ("keras", "suite")]
    stale = [name for name in built_in if arch_facts.shipped(name) is None]
    assert len(built_in) == 42 and not stale, f"run python -m suite.measure.arch_facts --write: {stale}"
    assert arch_facts.keras_version() == keras.__version__  # the cache's key, read without importing Keras
    assert arch_facts.shipped_file()["keras"] == ".".join(keras.__version__.split(".")[:2])


# Cheap to build and count (a few seconds each on 2 cores): their FLOPs are counted again in every run. Counting all
# 42 took 410 s and 18 GB (ConvNeXt XLarge) on 2 cores: CI would spend a quarter of its time on it. Every Keras
# application's parameter count is checked against a real build above, so what remains unchecked here is the FLOPs
# of the 37 others, which the same counter produced.
CHEAP_COUNTS = ("simple_cnn", "resnet_scratch", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")


@pytest.mark.parametrize("arch", CHEAP_COUNTS)
def test_a_shipped_figure_is_what_a_real_build_counts(arch):
    from suite.measure import arch_facts

    counts, shipped = arch_facts.count(arch), arch_facts.shipped(arch)
    assert counts["params_10_class"] == shipped["params_10_class"]
    assert counts["gflops"] == pytest.approx(shipped["gflops"], rel=1e-9)


def test_the_maintainer_command_writes_figures_that_stand_for_their_row_and_keras_only(monkeypatch, tmp_path):
    """``--write`` counts every built-in architecture (a TF-Hub module that can't load is left out); a shipped
    figure is refused for a changed row or another Keras minor release, though estimates still scale it."""
    from suite.measure import arch_facts
    from suite.models.hub import HubUnavailable

    def count(arch):
        if ARCHITECTURES[arch].hub:
            raise HubUnavailable("offline")
        return {"params_10_class": len(arch), "gflops": 0.5}

    monkeypatch.setattr(arch_facts, "count", count)
    target = tmp_path / "arch_counts.json"
    assert arch_facts.main(["--write", "--to", str(target)]) == 0
    monkeypatch.setattr(arch_facts, "SHIPPED", target)
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    arch_facts.shipped_file.cache_clear()
    try:
        figures = arch_facts.shipped_file()
        assert figures["not_counted"] == ["hub_inception_v3", "hub_mobilenet_v2"] and len(figures["counts"]) == 42
        assert arch_facts.shipped("resnet50") == {"params_10_class": 8, "gflops": 0.5}
        monkeypatch.setitem(ARCHITECTURES, "vgg16", dataclasses.replace(ARCHITECTURES["vgg16"], min_size=48))
        assert arch_facts.shipped("vgg16") is None and arch_facts.shipped("vgg19") is not None
        monkeypatch.setattr(arch_facts, "keras_version", lambda: "3.99.0")
        assert arch_facts.shipped("vgg19") is None
        assert arch_facts.gflops_at("vgg19", 112) == (0.125, "shipped count")  # 0.5 at 224 px, a quarter the pixels
        assert arch_facts.gflops_at("hub_mobilenet_v2", 224) == (0.5, "shipped count")  # its Keras namesake's
    finally:
        arch_facts.shipped_file.cache_clear()


def test_archs_table_reads_as_a_table_and_a_bad_pattern_is_one_line(monkeypatch, tmp_path, capsys):
    from suite.measure import arch_facts

    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(arch_facts, "count", lambda arch: pytest.fail(f"listing built {arch}"))
    code, out, _ = run_archs(capsys, "mobilenet_v2")
    assert code == 0 and "2.27M" in out and "0.613 @ 224px" in out and "Input conventions" in out
    keras_minor = arch_facts.shipped_file()["keras"]
    assert f"Counts: 1 shipped (counted on Keras {keras_minor} by a real build" in " ".join(out.split())
    code, out, _ = run_archs(capsys, "hub_*")
    assert "needs its module" in out and "2 not counted (`suite archs --count` counts them)" in " ".join(out.split())
    code, out, err = run_archs(capsys, "vgg11*")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no architecture matches 'vgg11*'" in err


def test_a_hub_module_is_counted_where_it_loads_and_retried_where_it_does_not(monkeypatch, tmp_path, hub_stand_in):
    """Offline the default handle can't load: NaN, nothing cached. A module that loads (the stand-in) is counted."""
    from suite import models
    from suite.measure import arch_facts
    from suite.models.hub import HubUnavailable

    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))

    def offline(arch):
        raise HubUnavailable("hub handle x can't be loaded (no network); run once with a network")

    assert np.isnan(arch_facts.counted("hub_mobilenet_v2", offline)["params_10_class"])
    assert not (tmp_path / "archs").exists()
    spec = dataclasses.replace(ARCHITECTURES["hub_mobilenet_v2"], handle=hub_stand_in)
    monkeypatch.setitem(models.ARCHITECTURES, "hub_mobilenet_v2", spec)
    counts = arch_facts.counted("hub_mobilenet_v2")
    backbone = build_backbone("hub_mobilenet_v2", arch_facts.flops_side(spec), handle=hub_stand_in)
    assert counts["params_10_class"] == build_classifier(backbone, 10).count_params() > 0
    assert len(list((tmp_path / "archs").iterdir())) == 1


def test_a_user_architecture_is_listed_not_counted_until_count_builds_it(user_archs, monkeypatch, tmp_path, capsys):
    """Nothing is shipped for a user's network: listing says so and builds nothing; --count builds it once."""
    from suite.measure import arch_facts

    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path / "cache"))
    path = user_archs.toml(tmp_path, "tiny_mixer", f"{user_archs.module(tmp_path)}:build", min_size=16)
    code, out, _ = run_archs(capsys, "tiny_*", "--cases", path)
    assert code == 0 and "not counted" in out and "Counts: 1 not counted" in " ".join(out.split())
    code, out, err = run_archs(capsys, "tiny_*", "--cases", path, "--count", "--format", "csv")
    counted = read_csv(out).loc["tiny_mixer"]
    assert code == 0 and "counting tiny_mixer" in err and counted.counts_from == "cache"
    assert counted.params_10_class == arch_facts.cached("tiny_mixer")["params_10_class"] > 0
    code, again, err = run_archs(capsys, "tiny_*", "--cases", path, "--format", "csv")
    assert again == out and err == ""  # read from the cache
