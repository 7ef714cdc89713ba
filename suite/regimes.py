"""Training regimes: how much of a backbone starts pretrained and how much trains.

A regime is data. The training loop that reads it lives in ``suite.train``.
The subject of the "freeze depth" study is ``freeze_fraction``; the optimiser,
schedule, regularisation and budgets are case fields held fixed across regimes
(so a comparison between regimes changes one thing at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suite.case import Case


@dataclass(frozen=True)
class Phase:
    """One ``model.fit`` of a case's training: its name, epochs, peak learning rate and frozen share of the backbone."""

    name: str  # "head" (backbone frozen), "finetune" (some or all of it trains) or "train" (one phase only)
    epochs: int
    learning_rate: float  # peak rate of the phase's schedule
    freeze_fraction: float  # share of the backbone's weight layers frozen, 0..1


@dataclass(frozen=True)
class Regime:
    """One way of training a backbone plus a new classification head."""

    name: str
    pretrained: bool  # the backbone starts from pretrained weights
    freeze_fraction: float  # share of backbone weight layers frozen in the last phase, 0..1
    head_first: bool  # train the head alone (backbone frozen) before the last phase
    summary: str
    searched: bool = False  # a KerasTuner search (suite.tuning) picks the settings, then the best is trained

    @property
    def frozen_percent(self) -> int:
        """``freeze_fraction`` in whole percent, as the reports label it (``freeze75`` -> 75)."""
        return round(100 * self.freeze_fraction)

    def phases(self, case: Case) -> tuple[Phase, ...]:
        """The ``model.fit`` phases ``suite.train`` runs for ``case`` under this regime, in order.

        scratch and frozen: one phase of ``case.epochs``; finetune and freezeN: the head alone for
        ``case.head_epochs`` (none when 0), then the unfrozen part of the backbone for ``case.epochs`` at
        ``learning_rate x finetune_lr_scale``. A tuned case's final training follows the regime its search chose.
        """
        phases = []
        if self.head_first and case.head_epochs:
            phases.append(Phase("head", case.head_epochs, case.learning_rate, 1.0))
        if self.pretrained and self.freeze_fraction < 1.0:
            scaled = case.learning_rate * case.finetune_lr_scale
            phases.append(Phase("finetune", case.epochs, scaled, self.freeze_fraction))
        else:
            fraction = self.freeze_fraction if self.pretrained else 0.0
            phases.append(Phase("train", case.epochs, case.learning_rate, fraction))
        return tuple(phases)


# In the order the study reads them (reports list regimes so): random start, then from all frozen to none
# frozen, then the searched one.
REGIMES: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime("scratch", False, 0.0, False, "random initialisation, everything trainable"),
        Regime("frozen", True, 1.0, False, "pretrained backbone frozen, new head trained"),
        Regime("freeze75", True, 0.75, True, "first 75% of backbone layers frozen, the rest fine-tuned"),
        Regime("freeze50", True, 0.50, True, "first 50% of backbone layers frozen, the rest fine-tuned"),
        Regime("freeze25", True, 0.25, True, "first 25% of backbone layers frozen, the rest fine-tuned"),
        Regime(
            "finetune",
            True,
            0.0,
            True,
            "head first, then the whole backbone at a lower learning rate, batch norm in inference mode",
        ),
        Regime(
            "tuned",
            True,
            0.0,
            True,
            "KerasTuner searches optimiser, rate, schedule, regularisation, augmentation and the frozen share; "
            "the best configuration is then trained like freezeN",
            searched=True,
        ),
    )
}

# The freeze-depth study: the pretrained regimes whose frozen share is fixed (not searched), most frozen first.
FREEZE_SWEEP: tuple[str, ...] = tuple(
    r.name for r in sorted(REGIMES.values(), key=lambda r: -r.freeze_fraction) if r.pretrained and not r.searched
)
