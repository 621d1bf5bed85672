"""What happens to a document's structured dates (HL7 TS values).

Text dates are always removed by the free-text cleaner; structured ones
(effectiveTime, low/high, time) follow the profile, which the caller knows:
removed (PS3.15 Basic), shifted by the patient's offset (Retain Longitudinal
Temporal Information with Modified Dates) or kept (... with Full Dates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from deid.actions import shift_dt

# YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+-ZZZZ]: HL7 v3 TS, the same shape as DICOM DT.
TS = re.compile(
    r"^\d{4}(?:(?:0[1-9]|1[0-2])(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d+)?)?)?)?)?)?"
    r"(?:[+-]\d{4})?$"
)


class DateMode(Enum):
    REMOVE = "remove"
    SHIFT = "shift"
    KEEP = "keep"


@dataclass(frozen=True)
class DateHandling:
    mode: DateMode = DateMode.REMOVE
    days: int = 0  # for SHIFT: the patient's offset, the one the header's dates got

    @classmethod
    def shift(cls, days: int) -> DateHandling:
        return cls(DateMode.SHIFT, int(days))

    def apply(self, value: str) -> str | None:
        """The value to write, or None to remove it."""
        if self.mode is DateMode.KEEP:
            return value
        if self.mode is DateMode.REMOVE:
            return None
        return shift_dt(value, self.days) or None


REMOVE = DateHandling()  # PS3.15 Basic: no structured date survives
