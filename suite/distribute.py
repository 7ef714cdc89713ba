"""Training one case on several devices of one machine: ``tf.distribute.MirroredStrategy``.

A case with ``strategy = "mirrored"`` builds, compiles and trains its model
under ``MirroredStrategy`` over every visible GPU (over the logical CPUs of
``SUITE_LOGICAL_CPUS`` when there is no GPU: a testing aid). The scaling rule
(Goyal et al. 2017, "Accurate, Large Minibatch SGD"):

- ``batch_size`` is per replica: each training step takes ``batch_size x replicas`` images;
- the peak learning rate grows linearly with the global batch: ``learning_rate x replicas``
  (warm-up, schedule shape and the fine-tuning scale are unchanged).

So a case means the same per-device work on one GPU or eight, and a row
records ``strategy`` and ``replicas`` beside the case's own ``batch_size`` and
``learning_rate``. Evaluation runs under the strategy too; measurement
(``suite.measure``) runs on one device, on a copy of the trained model.

Not here: ``MultiWorkerMirroredStrategy``. Keras 3's ``fit`` fails under it
(keras-team/keras#20585), so ``strategy = "multiworker"`` is refused; several
machines share a night through ``suite run --executor ray`` instead, one case
per task.
"""

from __future__ import annotations

import dataclasses
import os

from suite.case import Case

LOGICAL_CPUS_ENV = "SUITE_LOGICAL_CPUS"  # testing aid: split the CPU into this many logical devices


def split_cpu() -> None:
    """Splits the CPU into ``$SUITE_LOGICAL_CPUS`` logical devices, so that a CPU-only test can mirror.

    Must run before TensorFlow initialises its devices (it initialises none
    itself); a later call in the same process leaves the split as it is.
    """
    import tensorflow as tf

    wanted = int(os.environ.get(LOGICAL_CPUS_ENV) or 0)
    if wanted > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * wanted)
        except RuntimeError:  # already initialised: keep what there is
            pass


def make_strategy(case: Case):
    """The ``tf.distribute`` strategy ``case`` trains under: mirrored over the GPUs (else the logical CPUs), or the
    default one-device strategy."""
    import tensorflow as tf

    if case.strategy != "mirrored":
        return tf.distribute.get_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def scaled(case: Case, replicas: int) -> Case:
    """``case`` with the global batch and the peak learning rate of ``replicas`` replicas (the rule above)."""
    if replicas == 1:
        return case
    return dataclasses.replace(case, batch_size=case.batch_size * replicas, learning_rate=case.learning_rate * replicas)
