"""Outcome counts: what ingest made of reports, added up over batches.

:class:`Outcomes` is the one list of ingest's outcomes (accepted, duplicates, quarantined). A
batch's result (``dlrhook.ingest.IngestResult``), the totals of a pull
(``dlrhook.pull.pages.PullTotals``) and of a reconcile pass
(``dlrhook.pull.reconcile.ReconcileTotals``) are ``Outcomes`` with their own fields beside them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcomes:
    """How many reports ingest accepted, dropped as duplicates, and quarantined."""

    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def add(self, result: Outcomes) -> None:
        """Add the counts of another batch (an :class:`~dlrhook.ingest.IngestResult`) or total."""
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined

    def as_dict(self) -> dict[str, int]:
        """The three counts, in this order (a subclass's ``as_dict`` puts its own around them)."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "quarantined": self.quarantined}
