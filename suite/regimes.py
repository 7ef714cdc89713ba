"""Training regimes: how much of a backbone starts pretrained and how much trains.

A regime is data. The training loop that reads it lives in ``suite.train``.
The subject of the "freeze depth" study is ``freeze_fraction``; the optimiser,
schedule, regularisation and budgets are case fields held fixed across regimes
(so a comparison between regimes changes one thing at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.case import Case


@dataclass(frozen=True, kw_only=True)
class Phase:
    """One ``model.fit`` of a case's training: its name, epochs, peak learning rate and frozen share of the backbone."""

    name: str  # "head" (backbone frozen), "finetune" (some or all of it trains) or "train" (one phase only)
    epochs: int
    learning_rate: float  # peak rate of the phase's schedule
    freeze_fraction: float  # share of the backbone's weight layers frozen, 0..1


@dataclass(frozen=True, kw_only=True)
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
            phases.append(
                Phase(name="head", epochs=case.head_epochs, learning_rate=case.learning_rate, freeze_fraction=1.0)
            )
        if self.pretrained and self.freeze_fraction < 1.0:
            scaled = case.learning_rate * case.finetune_lr_scale
            phases.append(
                Phase(name="finetune", epochs=case.epochs, learning_rate=scaled, freeze_fraction=self.freeze_fraction)
            )
        else:
            fraction = self.freeze_fraction if self.pretrained else 0.0
            phases.append(
                Phase(name="train", epochs=case.epochs, learning_rate=case.learning_rate, freeze_fraction=fraction)
            )
        return tuple(phases)


# In the order the study reads them (reports list regimes so): random start, then from all frozen to none
# frozen, then the searched one.
REGIMES: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime(
            name="scratch",
            pretrained=False,
            freeze_fraction=0.0,
            head_first=False,
            summary="random initialisation, everything trainable",
        ),
        Regime(
            name="frozen",
            pretrained=True,
            freeze_fraction=1.0,
            head_first=False,
            summary="pretrained backbone frozen, new head trained",
        ),
        Regime(
            name="freeze75",
            pretrained=True,
            freeze_fraction=0.75,
            head_first=True,
            summary="first 75% of backbone layers frozen, the rest fine-tuned",
        ),
        Regime(
            name="freeze50",
            pretrained=True,
            freeze_fraction=0.50,
            head_first=True,
            summary="first 50% of backbone layers frozen, the rest fine-tuned",
        ),
        Regime(
            name="freeze25",
            pretrained=True,
            freeze_fraction=0.25,
            head_first=True,
            summary="first 25% of backbone layers frozen, the rest fine-tuned",
        ),
        Regime(
            name="finetune",
            pretrained=True,
            freeze_fraction=0.0,
            head_first=True,
            summary="head first, then the whole backbone at a lower learning rate, batch norm in inference mode",
        ),
        Regime(
            name="tuned",
            pretrained=True,
            freeze_fraction=0.0,
            head_first=True,
            summary="KerasTuner searches optimiser, rate, schedule, regularisation, augmentation and the frozen "
            "share; the best configuration is then trained like freezeN",
            searched=True,
        ),
    )
}

# The freeze-depth study: the pretrained regimes whose frozen share is fixed (not searched), most frozen first.
FREEZE_SWEEP: tuple[str, ...] = tuple(
    r.name for r in sorted(REGIMES.values(), key=lambda r: -r.freeze_fraction) if r.pretrained and not r.searched
)
