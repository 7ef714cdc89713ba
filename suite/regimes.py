"""Training regimes: how much of a backbone starts pretrained and how much trains.

A regime is data. The training loop that reads it lives in ``suite.train``.
The subject of the "freeze depth" study is ``freeze_fraction``; the optimiser,
schedule, regularisation and budgets are case fields held fixed across regimes
(so a comparison between regimes changes one thing at a time).
"""

from __future__ import annotations

from dataclasses import dataclass


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
