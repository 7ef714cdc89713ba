"""User architectures from other sources: saved .keras backbones, the decorator and the entry-point group."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid

import pytest
from helpers import one_error_line, smoke_args
from test_user_archs import sha12  # the same helper, written once

from suite import plugins
from suite.cli import main
from suite.config import load_cases
from suite.errors import SuiteError
from suite.models import ARCHITECTURES, build_backbone, user
from suite.registry import list_cases


def save_backbone(path, lambda_layer: bool = False, side: int = 32):
    import keras

    inputs = keras.Input((side, side, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    if lambda_layer:
        x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    keras.Model(inputs, x, name="saved").save(path)
    return path


def test_a_saved_backbone_is_a_builder_rebuilt_with_fresh_weights(user_archs, tmp_path):
    import keras
    import numpy as np

    (tmp_path / "backbones").mkdir()
    saved = save_backbone(tmp_path / "backbones" / "conv.keras")
    load_cases(user_archs.toml(tmp_path, "saved_conv", "backbones/conv.keras"))  # relative to the TOML's folder
    spec = ARCHITECTURES["saved_conv"]
    assert spec.builder == str(saved.resolve()) and spec.builder_hash == sha12(saved)
    backbone = build_backbone("saved_conv", 32)
    assert backbone.name == "saved_conv" and backbone.input_shape == (None, 32, 32, 3)
    stored = keras.saving.load_model(saved).get_layer("conv").get_weights()[0]
    assert not np.allclose(backbone.get_layer("conv").get_weights()[0], stored), "weights come from the regime"
    with pytest.raises(SuiteError, match="takes one side only: set image_size = 32 in the case, or min_size = 32"):
        user.check("saved_conv", 48)


def test_a_saved_backbone_with_a_lambda_layer_needs_unsafe(user_archs, tmp_path, capsys):
    save_backbone(tmp_path / "lambda.keras", lambda_layer=True)
    path = user_archs.toml(tmp_path, "lambda_conv", "lambda.keras")
    results = tmp_path / "results"
    args = smoke_args("lambda_conv.scratch.digits", results=results, more=["--cases", path])
    assert main(args) == 2
    err = one_error_line(capsys)
    assert "needs unsafe deserialisation" in err and "set unsafe = true in its [[arch]] table" in err
    load_cases(user_archs.toml(tmp_path, "lambda_trusted", "lambda.keras", unsafe=True))
    backbone = build_backbone("lambda_trusted", 32)
    assert backbone.get_layer("double") is not None and backbone.output_shape == (None, 30, 30, 4)


DECORATED = """
import suite


def _conv_net(input_shape):
    import keras

    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))


@suite.register_architecture
def {plain}(input_shape):
    return _conv_net(input_shape)


@suite.register_architecture(name="{named}", preprocess="tf", min_size=48, native_size=96, summary="wide", family="dec")
def build_wide(input_shape):
    return _conv_net(input_shape)


def register():
    suite.register_architecture(name="{hooked}")(_conv_net)
"""


def decorated_module(user_archs, folder, monkeypatch) -> tuple[str, dict[str, str]]:
    """A module using the decorator (and a ``register`` hook), importable from ``folder``; not imported yet."""
    tag = uuid.uuid4().hex[:6]
    names = {"plain": f"plain_{tag}", "named": f"named_{tag}", "hooked": f"hooked_{tag}"}
    module = user_archs.module(folder, DECORATED.format(**names))
    monkeypatch.syspath_prepend(str(folder))
    return module, names


def test_the_decorator_registers_a_function_by_its_name_or_the_one_given(user_archs, tmp_path, monkeypatch):
    module, names = decorated_module(user_archs, tmp_path, monkeypatch)
    imported = importlib.import_module(module)
    plain, named = ARCHITECTURES[names["plain"]], ARCHITECTURES[names["named"]]
    digest = sha12(tmp_path / f"{module}.py")
    assert (plain.builder, plain.builder_hash, plain.preprocess, plain.min_size) == (
        f"{module}:{names['plain']}",
        digest,
        "unit",
        32,
    )
    assert (named.builder, named.preprocess, named.min_size, named.native_size) == (
        f"{module}:build_wide",
        "tf",
        48,
        96,
    )
    assert (named.summary, named.family, named.source) == ("wide", "dec", "user")
    assert callable(imported.build_wide) and f"{names['named']}.scratch.cifar10" in list_cases()
    assert build_backbone(names["plain"], 32).name == names["plain"]


def test_the_decorator_refuses_a_builtin_name_a_bad_name_and_a_nested_function(user_archs):
    from suite import register_architecture

    def nested(input_shape):
        return None

    with pytest.raises(SuiteError, match="must be a module-level function of an importable module"):
        register_architecture(nested)
    with pytest.raises(SuiteError, match="'resnet50' is a built-in one"):
        register_architecture(name="resnet50")(user.build_backbone)
    with pytest.raises(SuiteError, match="lower-case letters, digits and _"):
        register_architecture(name="Wide-Net")(user.build_backbone)
    with pytest.raises(SuiteError, match="unknown keyword 'min_sise'; valid: preprocess, min_size, native_size"):
        register_architecture(min_sise=48)  # refused at the decorator's own line, before any function
    with pytest.raises(SuiteError, match="builder_hash is set by the suite"):
        register_architecture(builder_hash="0" * 12)
    with pytest.raises(SuiteError, match="unsafe applies to a saved .keras builder only"):
        register_architecture(unsafe=True)


def test_import_suite_stays_light_with_the_decorator_exported(user_archs):
    code = (
        "import sys, suite; from suite import register_architecture; "
        "assert callable(register_architecture) and suite.register_architecture is register_architecture; "
        "heavy = [m for m in ('tensorflow', 'keras', 'suite.registry') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def install_entry_points(site, lines: list[str], dist: str) -> None:
    """A real installed distribution as importlib.metadata sees one: ``site/<dist>-0.1.dist-info``."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[keras_classifier_suite.architectures]\n" + "\n".join(lines) + "\n")


def test_an_installed_package_adds_architectures_through_the_entry_point_group(
    user_archs, tmp_path, monkeypatch, capsys
):
    site = tmp_path / "site"
    module, names = decorated_module(user_archs, site, monkeypatch)
    install_entry_points(site, [f"plain = {module}:{names['plain']}", f"hook = {module}:register"], "ua_plugin")
    assert plugins.load_entry_points() == sorted(names.values())
    assert ARCHITECTURES[names["hooked"]].builder == f"{module}:_conv_net"
    assert plugins.load_entry_points() == []  # loading again adds nothing and raises nothing
    assert main(["list", "hooked_*.scratch.digits"]) == 0
    assert capsys.readouterr().out.split() == [f"{names['hooked']}.scratch.digits"]
    # The real command, in a fresh process, loads the group when it starts.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "suite", "list", f"*_{names['plain'][6:]}.frozen.digits"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == sorted(f"{name}.frozen.digits" for name in names.values())


def test_an_entry_point_that_cant_be_imported_is_one_line(user_archs, tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    install_entry_points(site, ["broken = ua_no_such_plugin_module:register"], "ua_broken")
    monkeypatch.syspath_prepend(str(site))
    assert main(["list", "simple_cnn.scratch.digits"]) == 2
    err = one_error_line(capsys)
    assert "entry point broken = 'ua_no_such_plugin_module:register'" in err and "can't be imported" in err
