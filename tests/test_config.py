"""User cases from TOML: fields, ids, and one-line errors for every kind of bad file."""

from __future__ import annotations

import pytest

from suite.config import load_cases
from suite.errors import SuiteError
from suite.profiles import get_profile


def write(tmp_path, text: str):
    path = tmp_path / "cases.toml"
    path.write_text(text)
    return path


def test_cases_get_fields_and_ids(tmp_path):
    path = write(
        tmp_path,
        """
[[case]]
arch = "resnet_scratch"
regime = "scratch"
dataset = "digits"
id = "resnet_scratch.scratch.digits.sgd"
optimizer = "nesterov"
learning_rate = 0.05
epochs = 3

[[case]]
arch = "mobilenet_v2"
regime = "frozen"
dataset = "tfds:mnist"
""",
    )
    first, second = load_cases(path)
    assert first.id == "resnet_scratch.scratch.digits.sgd"
    assert (first.optimizer, first.learning_rate, first.epochs) == ("nesterov", 0.05, 3)
    assert second.id == "mobilenet_v2.frozen.tfds_mnist"
    resolved = get_profile("smoke").apply(first)
    assert resolved.epochs == 3, "a field set in TOML wins over the profile"
    assert resolved.train_limit == 128, "fields not set in TOML come from the profile"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nepochs = \n',
            "malformed TOML: .*line 5",
        ),
        (
            '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nepoch = 3\n',
            "unknown key 'epoch'; valid: arch, regime, dataset",
        ),
        ('[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nepochs = "3"\n', "epochs must be int"),
        ('[[case]]\narch = "simple_cnn"\nregime = "scratch"\n', "missing dataset"),
        (
            '[[case]]\narch = "vgg11"\nregime = "scratch"\ndataset = "digits"\n',
            "unknown architecture 'vgg11'; closest: vgg19, vgg16",
        ),
        ('[cases]\narch = "simple_cnn"\n', "unknown top-level key 'cases'"),
        ('[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\n' * 2, "duplicate case id"),
        (
            '[[case]]\narch = "simple_cnn"\nregime = "frozen"\ndataset = "digits"\nhandle = "/m"\n',
            "only hub_\\* architectures load a handle; simple_cnn does not",
        ),
        (
            '[[case]]\narch = "hub_mobilenet_v2"\nregime = "freeze50"\ndataset = "digits"\n',
            "takes regimes frozen, finetune, tuned \\(no scratch, no partial freezing\\). Received: regime='freeze50'",
        ),
        (
            '[[case]]\narch = "hub_inception_v3"\nregime = "frozen"\ndataset = "digits"\nweights = "imagenet"\n',
            "takes its weights from its hub handle",
        ),
    ],
)
def test_bad_files_give_one_line_naming_the_problem(tmp_path, text, message):
    with pytest.raises(SuiteError, match=message) as error:
        load_cases(write(tmp_path, text))
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(SuiteError, match="does not exist"):
        load_cases(tmp_path / "nope.toml")


def test_field_types_are_read_as_types_not_as_annotation_strings(tmp_path, monkeypatch):
    """Bug 4: ``Field.type`` is the string "int" only under ``from __future__ import annotations``.

    Here every field carries its real type object, as it would in a module without that import; reading types
    from ``str(field.type)`` breaks (a KeyError, not even a SuiteError), reading them from the type hints doesn't.
    """
    import typing

    from suite.config import parse_overrides
    from suite.registry import CASE_FIELDS, Case
    from suite.search_space import parse_space

    hints = typing.get_type_hints(Case)
    for name, field in CASE_FIELDS.items():
        monkeypatch.setattr(field, "type", hints[name])
    assert parse_overrides(["epochs=3", "learning_rate=0.5", "optimizer=sgd"]) == {
        "epochs": 3,
        "learning_rate": 0.5,
        "optimizer": "sgd",
    }
    with pytest.raises(SuiteError, match="--set epochs must be int"):
        parse_overrides(["epochs=2.5"])
    with pytest.raises(SuiteError, match="epochs must be int. Received: epochs='3'"):
        load_cases(
            write(tmp_path, '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nepochs = "3"\n')
        )
    (case,) = load_cases(
        write(tmp_path, '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nlearning_rate = 1\n')
    )
    assert case.learning_rate == 1  # a TOML integer is a valid float
    assert parse_space('{"batch_size": {"min": 16, "max": 64}}')["batch_size"] == {"min": 16, "max": 64, "log": False}
    with pytest.raises(SuiteError, match="batch_size must be a int"):
        parse_space('{"batch_size": 0.5}')
