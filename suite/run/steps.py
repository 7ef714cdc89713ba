"""One case as typed steps, in the order they run: search, resolve, build, train, evaluate, measure, formats.

Each step is a function of what the steps before it produced; it returns a
dataclass with its results and its part of the row (``columns``).
``suite.run.runner.Runner.run_case`` runs them in order and owns what lies
between them: the out-of-memory retry (build, train and evaluate again at
half the batch; never the search) and the failed row. A new stage (export to
a deployed format, measure it) is one more step here and one more line there.

``runner`` below is the ``suite.run.runner.Runner`` of the process: its profile,
results folder, device and loaded datasets. KerasTuner (``suite.tuning``), TF-Hub and the deployed formats'
runtimes are imported by the steps that need them, so a plain case's worker does not start them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from suite import progress, storage, train_jit, transfer
from suite import train as training
from suite.case import Case
from suite.data.pipeline import case_split, input_side, training_split
from suite.distribute import make_strategy, scaled
from suite.errors import PrerequisiteFailed, one_line
from suite.measure import measure_inference, model_facts
from suite.models import ARCHITECTURES, build_backbone, build_classifier
from suite.regimes import REGIMES, Regime
from suite.run import parallel

log = logging.getLogger(__name__)


@dataclass
class Searched:
    """The case to train: a tuned case's best configuration (``suite.tuning``), any other case as it is."""

    case: Case
    regime: Regime
    columns: dict[str, Any] = field(default_factory=dict)


def search(runner, case: Case, seed: int) -> Searched:
    """Runs (or resumes) a tuned case's KerasTuner search; other regimes pass through."""
    regime = REGIMES[case.regime]
    if not regime.searched:
        return Searched(case, regime)
    from suite.tuning import search as tuning

    if ARCHITECTURES[case.arch].hub:  # an unreachable module fails the case now, not trial by trial
        from suite.models.hub import load_module

        load_module(case.handle or ARCHITECTURES[case.arch].handle)
    found = tuning.search(runner, case, seed)
    return Searched(found.case, found.regime, found.row())


@dataclass
class Inputs:
    """What the case trains on: the dataset's splits, the model's input side, the weights it starts from."""

    raw: Any  # suite.data.loaders.RawSplits
    side: int
    weights: str  # "none", "imagenet", "source:<name>" or a file: transfer.resolve_weights

    @property
    def columns(self) -> dict[str, Any]:
        return {"image_size": self.side, "weights": self.weights}


def resolve(runner, case: Case) -> Inputs:
    """The case's data (loaded once per process), weights and input side, which follows the weights
    (``suite.sides``: ImageNet and hub weights at their own side, the rest at the dataset's)."""

    raw = runner.dataset(case.dataset, case.image_size)
    weights = transfer.resolve_weights(case, runner.profile)
    side = input_side(
        case.arch,
        raw.side,
        case.image_size,
        case.handle,
        weights=weights,
        transfer_side=runner.profile.transfer_side,
        case_id=case.id,
        download=True,
    )
    return Inputs(raw, side, weights)


@dataclass
class Built:
    """The classifier, its backbone with its starting weights, and the strategy it trains under."""

    model: Any
    backbone: Any
    strategy: Any  # tf.distribute strategy (suite.distribute); the default one for strategy "none"
    run: Case  # the case at the global batch and peak learning rate of its replicas
    columns: dict[str, Any]
    jit_compile: bool | str = "auto"  # train under XLA: True, False or Keras' "auto" (suite.train_jit)


def build(runner, case: Case, seed: int, inputs: Inputs, xla: bool = True) -> Built:
    """Whether to train under XLA (``suite.train_jit``: cached, or probed now on models of its own), then a fresh
    session, the backbone with its weights and a new head, under the case's strategy. ``xla=False``: never."""

    if not xla:
        jit = train_jit.Choice(
            jit_compile=False, speedup=None, note="off: XLA failed in training; trained again without it"
        )
    elif runner.profile.train_xla == "auto":
        jit = train_jit.AUTO
    else:
        jit = train_jit.choose(case, inputs.side, inputs.raw.num_classes)
    keras.backend.clear_session()
    model_facts.reset_gpu_peak()
    keras.utils.set_random_seed(seed)
    strategy = make_strategy(case)
    columns = {"strategy": case.strategy, "replicas": strategy.num_replicas_in_sync, **jit.columns}
    with strategy.scope():
        backbone = build_backbone(
            case.arch, inputs.side, depth=case.depth, l2=case.l2, bn_momentum=case.bn_momentum, handle=case.handle
        )
        columns.update(load_weights(runner, case, inputs, backbone))
        keras.utils.set_random_seed(seed)
        model = build_classifier(backbone, inputs.raw.num_classes, dropout=case.dropout, l2=case.l2)
    return Built(model, backbone, strategy, scaled(case, strategy.num_replicas_in_sync), columns, jit.jit_compile)


def load_weights(runner, case: Case, inputs: Inputs, backbone) -> dict[str, Any]:
    """Loads the starting weights into ``backbone``; returns the weights columns.

    Source pretraining that failed for this architecture and side earlier in
    this run (in any process: ``storage.failed_source``) is not tried again:
    the case is ``skipped`` with the first failure's reason.
    """

    if not inputs.weights.startswith("source:"):
        return {
            "weights": transfer.load_weights(
                backbone, inputs.weights, case.arch, case, runner.profile.source_for(case.arch)
            )
        }
    key = f"{case.arch}@{inputs.side}"
    earlier = storage.failed_source(runner.results_dir, key)
    if earlier is not None:
        raise PrerequisiteFailed(f"source pretraining of {case.arch} failed earlier in this run: {earlier}")
    started = time.perf_counter()
    progress.emit(stage="weights", message=inputs.weights)
    cached = transfer.source_weights_path(case.arch, inputs.side, case, runner.profile.source_for(case.arch)).is_file()
    try:
        transfer.load_weights(backbone, inputs.weights, case.arch, case, runner.profile.source_for(case.arch))
    except Exception as error:
        storage.record_failed_source(runner.results_dir, key, one_line(error))
        raise
    return {
        "weights": inputs.weights,
        "source_pretrain_seconds": 0.0 if cached else round(time.perf_counter() - started, 2),
        "source_accuracy": transfer.source_accuracy(case.arch, inputs.side, case, runner.profile.source_for(case.arch)),
    }


@dataclass
class Trained:
    """The trained model's training record, and the held-out splits it is evaluated on."""

    result: Any  # suite.train.TrainResult
    val: Any  # tf.data.Dataset
    test: Any
    test_images: int
    columns: dict[str, Any]


def train(runner, case: Case, seed: int, regime: Regime, inputs: Inputs, built: Built) -> Trained:
    """Trains under ``regime`` (``suite.train``) and writes the epoch history to ``DIR/history/``."""

    splits = dict(side=inputs.side, seed=seed, batch_size=built.run.batch_size)
    run = built.run
    with built.strategy.scope():
        train_ds, train_images, steps_per_epoch = training_split(case, inputs.raw, **splits)
        val_ds, _ = case_split(case, inputs.raw, "val", **splits)
        test_ds, test_images = case_split(case, inputs.raw, "test", **splits)
        log.info(
            "  %s seed %d: %s at %dpx, weights %s, %d train images",
            case.id,
            seed,
            case.arch,
            inputs.side,
            built.columns["weights"],
            train_images,
        )
        board = training.TensorBoardRun(
            training.tensorboard_dir(runner.results_dir, case.id, seed), training.case_hparams(run, seed=seed)
        )
        fit = training.FitInputs(
            train=train_ds,
            val=val_ds,
            images=train_images,
            steps_per_epoch=steps_per_epoch,
            callbacks=[board, parallel.YieldToTiming()],
            jit_compile=built.jit_compile,
        )
        result = training.train(built.model, built.backbone, regime, run, fit)
    result.history.to_csv(storage.case_file(runner.results_dir, "history", case.id, seed, ".csv"), index=False)
    columns = {
        "epochs": result.epochs,
        "train_seconds": round(result.seconds, 2),
        "train_images_per_s": round(result.images_per_s, 1),
        "train_jit_compile": bool(built.model.jit_compile),  # as Keras resolved it (a refused True is False)
        "time_to_target_s": None if result.time_to_target_s is None else round(result.time_to_target_s, 2),
        "target_accuracy": case.target,
        "train_images": train_images,
    }
    return Trained(result, val_ds, test_ds, test_images, columns)


def rehearse(case: Case, seed: int, regime: Regime, inputs: Inputs, built: Built) -> float:
    """Trains ``built`` as ``case`` asks, without the run's side files (history, TensorBoard), and returns its best
    validation accuracy: a rung of the rate grid (``suite.run.rate_grid``). The test split is not touched."""
    splits = dict(side=inputs.side, seed=seed, batch_size=built.run.batch_size)
    with built.strategy.scope():
        train_ds, train_images, steps_per_epoch = training_split(case, inputs.raw, **splits)
        val_ds, _ = case_split(case, inputs.raw, "val", **splits)
        fit = training.FitInputs(
            train=train_ds,
            val=val_ds,
            images=train_images,
            steps_per_epoch=steps_per_epoch,
            callbacks=[parallel.YieldToTiming()],
            jit_compile=built.jit_compile,
        )
        result = training.train(built.model, built.backbone, regime, built.run, fit)
    return float(result.history["val_accuracy"].max())


@dataclass
class Evaluated:
    """The model to measure (single-device) and its accuracy and size columns."""

    model: Any
    columns: dict[str, Any]


def evaluate(runner, case: Case, seed: int, built: Built, trained: Trained) -> Evaluated:
    """Validation and test accuracy; saves the model to ``DIR/models/``; a mirrored model is reloaded outside
    the strategy's scope, as measurement is single-device."""

    progress.emit(stage="evaluate")
    with built.strategy.scope():
        val_accuracy = built.model.evaluate(trained.val, verbose=0, return_dict=True)["accuracy"]
        labels, predicted = predict_classes(built.model, trained.test)
    storage.write_predictions(runner.results_dir, case.id, seed, labels, predicted)
    test_accuracy = float(np.mean(labels == predicted))
    path = storage.case_file(runner.results_dir, "models", case.id, seed, ".keras")
    built.model.save(path)
    measured = built.model if case.strategy == "none" else keras.models.load_model(path, compile=False)
    columns = {
        "val_accuracy": round(float(val_accuracy), 5),
        "test_accuracy": round(float(test_accuracy), 5),
        "test_images": trained.test_images,
        "params": built.model.count_params(),
        "trainable_params": model_facts.trainable_params(built.model),
        "model_mb": model_facts.weights_mb(built.model),
        "checkpoint_mb": model_facts.serialized_mb(path),
    }
    return Evaluated(measured, columns)


def predict_classes(model, test) -> tuple[np.ndarray, np.ndarray]:
    """The test split's true and predicted classes, image by image, in the split's order: the one pass of the
    trained model over the test set. ``predict`` (not a timing: ``suite.measure`` times) gathers a mirrored
    model's replicas in order; the labels come from the same pipeline, which reads no model."""
    labels = np.concatenate([np.argmax(np.asarray(targets), axis=-1) for _, targets in test])
    predicted = np.argmax(model.predict(test.map(lambda images, _: images), verbose=0), axis=-1)
    return labels, predicted


@dataclass
class Measured:
    """The inference protocol's report (``suite.measure.inference``) and the row's speed and memory columns."""

    report: Any  # suite.measure.InferenceReport
    columns: dict[str, Any]


def measure(runner, case: Case, seed: int, side: int, model) -> Measured:
    """Runs the measurement protocol; writes every latency sample and throughput point to the side tables."""

    progress.emit(stage="measure")
    report = measure_inference(model, side, runner.profile.measure, runner.device)
    report.samples.to_csv(storage.case_file(runner.results_dir, "latency", case.id, seed, ".csv"), index=False)
    report.points.to_csv(storage.case_file(runner.results_dir, "throughput", case.id, seed, ".csv"), index=False)
    columns = {**report.row, "peak_rss_mb": model_facts.peak_rss_mb(), "peak_gpu_mb": model_facts.peak_gpu_mb()}
    return Measured(report, columns)


@dataclass
class Deployed:
    """The case's deployed formats (``suite.deploy``): their ``ok`` rows in ``formats.csv``, and the row's pick."""

    rows: list[dict]
    columns: dict[str, Any]


@dataclass
class Deploying:
    """A case's deployment between its two steps: the files exported (``suite.deploy.stage.export_case``), not yet
    timed, and what their rows will carry."""

    deployment: Any  # suite.deploy.stage.Deployment
    files: Any  # suite.deploy.stage.Exported
    identity: dict[str, Any]
    earlier: dict[str, dict]


def export_formats(runner, case: Case, seed: int, inputs: Inputs, model, row: dict) -> Deploying | None:
    """Exports the model to ``runner.formats_for(case)`` under ``DIR/deploy/<case>-s<seed>/`` (formats already
    ``ok`` in ``formats.csv`` for this very model are kept, not redone); None if the case deploys nothing.

    Exporting and converting time nothing, so a run does it beside other jobs' training; ``time_formats`` then
    measures the files alone.
    """
    chosen = runner.formats_for(case)
    if not chosen:
        return None
    from suite.deploy import stage

    progress.emit(stage="formats", message="export " + ",".join(chosen))
    keras_path = storage.case_file(runner.results_dir, "models", case.id, seed, ".keras")
    sha = storage.model_sha256(keras_path)  # rows of this very model only: a retrained case redoes them all
    earlier = storage.read_formats(runner.results_dir, every_attempt=True)
    mine = earlier[
        (earlier["case_key"] == row["case_key"])
        & (earlier["seed"] == seed)
        & (earlier["status"] == "ok")
        & (earlier["model_sha256"] == sha)
    ]
    identity = {column: row.get(column) for column in storage.FORMAT_IDENTITY} | {"model_sha256": sha}
    deployment = stage.Deployment(
        model=model,
        keras_path=keras_path,
        folder=storage.case_file(runner.results_dir, "deploy", case.id, seed, ""),
        images=stage.case_images(case, inputs.raw, inputs.side, seed),
        budget=runner.profile.measure,
    )
    done = {r["format"]: r for r in mine.to_dict("records")}
    return Deploying(deployment, stage.export_case(deployment, chosen, done), identity, done)


def time_formats(runner, exported: Deploying | None, timed: bool = True) -> Deployed:
    """Measures every exported file (``suite.deploy.stage.measure_case``), appending a ``formats.csv`` row per
    format as it is done. A format that can't be converted or run is a ``failed`` or ``skipped`` row; the case
    stays ``ok``. Not ``timed``: each file's accuracy only, and the row picks no best format."""
    if exported is None:
        return Deployed([], {})
    from suite.deploy import stage

    progress.emit(stage="formats", message="measure " + ",".join(exported.files.files))
    rows = stage.measure_case(
        exported.deployment,
        exported.files,
        identity=exported.identity,
        earlier=exported.earlier,
        append=lambda format_row: storage.append_format_row(runner.results_dir, format_row),
        timed=timed,
    )
    return Deployed(rows, stage.best_format(rows) if timed else {})
