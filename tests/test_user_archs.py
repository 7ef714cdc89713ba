"""User architectures from [[arch]] tables: registration, import paths, workers, builder hashes, checks, bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from helpers import one_error_line, smoke_args

from suite import plugins
from suite.case import Case
from suite.cli import main
from suite.config import load_cases
from suite.data import BUILTIN_DATASETS
from suite.models import ARCHITECTURES, build_backbone, build_classifier, user
from suite.regimes import REGIMES
from suite.registry import list_cases, remove_architecture
from suite.run.jobs import base_row, case_key


def sha12(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_an_arch_table_registers_the_architecture_with_a_case_for_every_regime_and_dataset(
    user_archs, tmp_path, capsys
):
    module = user_archs.module(tmp_path)
    path = user_archs.toml(tmp_path, "tiny_mixer", f"{module}:build", min_size=16, native_size=64)
    assert load_cases(path) == []
    spec = ARCHITECTURES["tiny_mixer"]
    assert (spec.source, spec.module, spec.family, spec.builder) == ("user", "user", "user", f"{module}:build")
    assert (spec.preprocess, spec.min_size, spec.native_size, spec.imagenet) == ("unit", 16, 64, False)
    assert spec.builder_hash == sha12(tmp_path / f"{module}.py")
    expected = sorted(f"tiny_mixer.{regime}.{dataset}" for regime in REGIMES for dataset in BUILTIN_DATASETS)
    assert list_cases("tiny_mixer.*") == expected
    assert load_cases(path) == []  # loading the same file again is harmless
    assert main(["list", "tiny_mixer.f*.digits", "--cases", path]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == ["tiny_mixer.finetune.digits", "tiny_mixer.freeze25.digits", "tiny_mixer.freeze50.digits",
                      "tiny_mixer.freeze75.digits", "tiny_mixer.frozen.digits"]  # fmt: skip


def test_cases_in_the_same_file_can_name_the_architecture(user_archs, tmp_path):
    module = user_archs.module(tmp_path)
    path = user_archs.toml(tmp_path, "tiny_mixer", f"{module}:build")
    with open(path, "a") as toml:
        toml.write('[[case]]\narch = "tiny_mixer"\nregime = "freeze50"\ndataset = "digits"\nepochs = 3\n')
    (case,) = load_cases(path)
    assert (case.id, case.epochs) == ("tiny_mixer.freeze50.digits", 3)


def test_a_builder_is_imported_from_the_toml_folder_first_then_the_working_directory(user_archs, tmp_path, monkeypatch):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    in_project = user_archs.module(project)
    in_cwd = user_archs.module(elsewhere)
    monkeypatch.chdir(elsewhere)
    load_cases(user_archs.toml(project, "from_toml_folder", f"{in_project}:build"))
    load_cases(user_archs.toml(project, "from_cwd", f"{in_cwd}:build"))
    assert user.import_paths() == [str(elsewhere.resolve()), str(project.resolve())]
    assert sys.path.index(str(project.resolve())) < sys.path.index(str(elsewhere.resolve()))
    carried = plugins.carried()  # what a worker process is told
    assert carried["paths"] == user.import_paths()
    assert {spec["name"] for spec in carried["specs"]} == {"from_toml_folder", "from_cwd"}


def test_a_worker_registers_the_architectures_it_is_carried(user_archs, tmp_path):
    module = user_archs.module(tmp_path)
    load_cases(user_archs.toml(tmp_path, "carried_mixer", f"{module}:build"))
    carried = plugins.carried()
    remove_architecture("carried_mixer")
    plugins.restore(carried)
    assert ARCHITECTURES["carried_mixer"].builder_hash == sha12(tmp_path / f"{module}.py")
    assert "carried_mixer.tuned.digits" in list_cases()


def test_a_changed_builder_is_a_new_case_and_an_unchanged_one_keeps_its_key(user_archs, tmp_path):
    from suite import transfer
    from suite.profiles import get_profile
    from suite.tuning.search import search_name

    env = {"suite_version": "0.1.0", "fingerprint": "0123456789ab"}
    builtin = Case("simple_cnn", "scratch", "digits")
    identity = json.dumps([builtin.to_json(), env["suite_version"], env["fingerprint"]])
    assert case_key(builtin, env) == hashlib.sha256(identity.encode()).hexdigest()[:12]  # built-in keys unchanged
    row = base_row(builtin, 0, "smoke", "cpu")
    assert (row["arch_builder"], row["arch_builder_hash"]) == ("", "")

    module = user_archs.module(tmp_path)
    path = user_archs.toml(tmp_path, "keyed_mixer", f"{module}:build")
    case = Case("keyed_mixer", "finetune", "digits")

    def keys() -> tuple[str, ...]:
        load_cases(path)
        source = transfer.source_weights_path("keyed_mixer", 32, case, get_profile("smoke").source)
        return case_key(case, env), str(source), search_name(case, {}, "source:glyphs", 0)

    first = keys()
    assert keys() == first, "an unchanged builder resumes as the same case"
    row = base_row(case, 0, "smoke", "cpu")
    assert (row["arch_builder"], row["arch_builder_hash"]) == (f"{module}:build", sha12(tmp_path / f"{module}.py"))
    with open(tmp_path / f"{module}.py", "a") as source:
        source.write("\n# one more comment is a changed builder\n")
    changed = keys()
    assert all(a != b for a, b in zip(first, changed)), "key, cached source weights and search all change"
    assert base_row(case, 0, "smoke", "cpu")["arch_builder_hash"] == sha12(tmp_path / f"{module}.py")


def test_the_backbone_is_checked_named_and_takes_the_suites_head(user_archs, tmp_path):
    module = user_archs.module(tmp_path)
    load_cases(user_archs.toml(tmp_path, "good_mixer", f"{module}:build"))
    backbone = build_backbone("good_mixer", 40)
    assert backbone.name == "good_mixer" and backbone.input_shape == (None, 40, 40, 3)
    model = build_classifier(backbone, 10)
    assert model.output_shape == (None, 10)
    with pytest.raises(ValueError, match="depth applies to simple_cnn and resnet_scratch"):
        build_backbone("good_mixer", 32, depth=2)
    with pytest.raises(ValueError, match="use weight_decay instead of l2"):
        build_backbone("good_mixer", 32, l2=1e-4)


@pytest.mark.parametrize(
    "function, message",
    [
        ("not_a_model", "the builder returned a list, not a keras.Model"),
        ("wrong_side", "takes inputs of shape (None, 64, 64, 3), not (None, 32, 32, 3) as asked"),
        ("tokens", "must output a feature map (batch, h, w, c) or a feature vector (batch, c)"),
        ("broken", "failed at 32x32x3: ValueError: kernel larger than the image"),
    ],
)
def test_a_builder_that_returns_no_usable_backbone_is_one_line_before_any_case_runs(
    user_archs, tmp_path, capsys, function, message
):
    module = user_archs.module(tmp_path)
    path = user_archs.toml(tmp_path, "bad_mixer", f"{module}:{function}")
    results = tmp_path / "results"
    args = smoke_args("bad_mixer.scratch.digits", results=results, more=["--cases", path])
    assert main(args) == 2
    err = one_error_line(capsys)
    assert message in err and "'bad_mixer'" in err and f"{module}:{function}" in err
    assert (results / "results.csv").read_text().count("\n") == 1  # the header; no case ran


RAISES = "raise RuntimeError('this module is broken')\n"


@pytest.mark.parametrize(
    "name, builder, more, message",
    [
        ("tiny", "ua_nothing:build", {}, "builder module 'ua_nothing' can't be imported: ModuleNotFoundError"),
        ("tiny", "{raises}:build", {}, "can't be imported: RuntimeError: this module is broken"),
        ("tiny", "{module}:nope", {}, "module '{module}' has no 'nope'"),
        ("tiny", "{module}", {}, "builder is 'module:function' (e.g. 'my_models.mixer:build') or a .keras file"),
        ("tiny", "missing.keras", {}, "saved backbone missing.keras does not exist"),
        ("resnet50", "{module}:build", {}, "architecture 'resnet50' is a built-in one"),
        ("tiny", "{module}:build", {"preprocess": "bgr"}, "unknown preprocess 'bgr'; valid: unit, tf, caffe, torch"),
        ("tiny", "{module}:build", {"min_side": 32}, "unknown key 'min_side'; valid: name, builder, preprocess"),
        ("tiny", "{module}:build", {"min_size": "32"}, "min_size must be int. Received: min_size='32'"),
        ("tiny", "{module}:build", {"unsafe": True}, "unsafe = true applies to a saved .keras builder only"),
        ("TinyMixer", "{module}:build", {}, "an architecture name is lower-case letters, digits and _"),
        ("tiny-mixer", "{module}:build", {}, "Received: name='tiny-mixer'"),
    ],
)  # fmt: skip
def test_a_bad_arch_table_is_one_line_and_exit_2(user_archs, tmp_path, capsys, name, builder, more, message):
    names = {"module": user_archs.module(tmp_path), "raises": user_archs.module(tmp_path, RAISES)}
    path = user_archs.toml(tmp_path, name, builder.format(**names), **more)
    args = smoke_args("tiny.scratch.digits", results=tmp_path / "r", more=["--cases", path])
    assert main(args) == 2
    err = one_error_line(capsys)
    assert message.format(**names) in err and "[[arch]] #1" in err
    assert not (tmp_path / "r").exists(), "refused before the results folder is touched"


def test_bad_input_is_one_line_without_a_traceback_in_a_real_process(user_archs, tmp_path):
    module = user_archs.module(tmp_path)
    for builder, message in ((f"{module}:nope", "has no 'nope'"), (f"{module}:not_a_model", "not a keras.Model")):
        path = user_archs.toml(tmp_path, "tiny", builder)
        result = subprocess.run(
            [sys.executable, "-m", "suite", "run", "tiny.scratch.digits", "--cases", path, "--profile", "smoke",
             "--formats", "none", "--results", str(tmp_path / "r"), "--device", "cpu"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        ours = [line for line in result.stderr.splitlines() if line.startswith("suite")]  # TF prints its own
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(ours) == 1 and message in ours[0], result.stderr


def test_a_file_of_architectures_alone_needs_patterns_to_run(user_archs, tmp_path, capsys):
    path = user_archs.toml(tmp_path, "tiny", f"{user_archs.module(tmp_path)}:build")
    assert main(smoke_args(results=tmp_path / "r", more=["--cases", path])) == 2
    assert "declares architectures but no [[case]] tables; name the cases to run by pattern" in one_error_line(capsys)
