"""pyproject.toml's dependencies match the code: every import is declared, and the pinned floors hold what
the code relies on (Keras' export formats, KerasTuner's private gRPC servicer), so a too-old install fails here."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME_EXTRAS = ("ray", "deploy")  # the package may import these; never the dev extra (pytest, ruff)


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(extras: tuple[str, ...] = RUNTIME_EXTRAS) -> dict[str, Requirement]:
    """The dependencies and the ``extras``' requirements, by normalised distribution name."""
    lines = PROJECT["dependencies"] + [line for extra in extras for line in PROJECT["optional-dependencies"][extra]]
    return {normalised(requirement.name): requirement for requirement in map(Requirement, lines)}


def third_party_imports(package: Path) -> dict[str, str]:
    """Each top-level module ``package`` imports that is neither the standard library nor its own, with the first
    file that imports it."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in {package.name, "__future__"}:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_in_suite_is_declared():
    distributions = importlib.metadata.packages_distributions()
    names = declared()
    undeclared = []
    for module, where in third_party_imports(ROOT / "suite").items():
        candidates = {normalised(dist) for dist in distributions.get(module, [module])}
        if not candidates & names.keys():
            undeclared.append(f"{module} ({where}; distribution {', '.join(sorted(candidates))})")
    assert not undeclared, f"imported but not in pyproject.toml's dependencies or {RUNTIME_EXTRAS} extras: {undeclared}"


def test_the_installed_package_does_not_import_pytest():
    assert "pytest" not in third_party_imports(ROOT / "suite")
    assert "pytest" not in declared()  # only in the dev extra


def test_the_installed_distributions_meet_the_pins():
    """This environment holds what pyproject.toml asks for, so the other checks here test the pinned versions."""
    unmet = []
    for name, requirement in declared(()).items():
        version = importlib.metadata.version(name)
        if not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{name} {version} (wants {requirement.specifier})")
    assert not unmet, unmet


def test_keras_export_knows_every_format_the_suite_writes():
    """``model.export(format="litert")`` arrived in Keras 3.13; an unknown format's error lists those it knows."""
    import keras

    from suite.deploy.formats import FORMATS

    assert {"format", "verbose", "input_signature"} <= set(inspect.signature(keras.Model.export).parameters)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Supported formats are") as raised:
        model.export("unused", format="no_such_format")
    wanted = {fmt.export_format for fmt in FORMATS.values() if fmt.export_format}
    missing = [name for name in sorted(wanted) if f"'{name}'" not in str(raised.value)]
    assert not missing, f"Keras {keras.__version__} can't export {missing}: {raised.value}"


def test_keras_litert_export_is_quiet_with_verbose_false(tmp_path, capfd):
    """Keras 3.15 passes ``verbose`` to the LiteRT exporter; 3.13 and 3.14 print 'Saved artifact' for every file,
    in the middle of the suite's progress lines."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    capfd.readouterr()
    model.export(str(tmp_path / "tiny.tflite"), format="litert", verbose=False)
    assert (tmp_path / "tiny.tflite").stat().st_size > 0
    assert "Saved artifact" not in capfd.readouterr().out


def test_keras_tuner_public_base_tuner_is_the_one_the_suite_subclasses():
    from keras_tuner.engine import base_tuner
    from keras_tuner.src.engine import base_tuner as private

    from suite.tuning.search import CaseTuner

    assert base_tuner.BaseTuner is private.BaseTuner and issubclass(CaseTuner, base_tuner.BaseTuner)


def test_keras_tuner_private_chief_imports_still_resolve():
    """suite/tuning/distributed.py uses KerasTuner's private gRPC servicer (hence keras-tuner<1.5); a release
    that moves it fails here, not in the middle of a distributed search."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    assert callable(protos.get_service_grpc().add_OracleServicer_to_server)
    assert callable(exit_chief)
    assert OracleServicer(oracle=None).stop_triggered is False
