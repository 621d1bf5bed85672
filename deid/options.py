"""The PS3.15 Annex E profile options, as coded values (CID 7050).

These are fixed by the standard, so they live here as an enum rather than in
profile data: profiles and the CLI name them, the engine trusts them.
"""

from __future__ import annotations

from enum import Enum


class Option(Enum):
    """value = (CLI name, Table E.1-1 column, CID 7050 code, code meaning)."""

    CLEAN_PIXEL_DATA = ("clean-pixel-data", "", "113101", "Clean Pixel Data Option")
    CLEAN_VISUAL_FEATURES = (
        "clean-recognizable-visual-features",
        "",
        "113102",
        "Clean Recognizable Visual Features Option",
    )
    CLEAN_GRAPHICS = ("clean-graphics", "cleanGraphOpt", "113103", "Clean Graphics Option")
    CLEAN_STRUCTURED_CONTENT = (
        "clean-structured-content",
        "cleanStructContOpt",
        "113104",
        "Clean Structured Content Option",
    )
    CLEAN_DESCRIPTORS = ("clean-descriptors", "cleanDescOpt", "113105", "Clean Descriptors Option")
    RETAIN_FULL_DATES = (
        "retain-longitudinal-full-dates",
        "rtnLongFullDatesOpt",
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    )
    RETAIN_MODIFIED_DATES = (
        "retain-longitudinal-modified-dates",
        "rtnLongModifDatesOpt",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    )
    RETAIN_PATIENT_CHARACTERISTICS = (
        "retain-patient-characteristics",
        "rtnPatCharsOpt",
        "113108",
        "Retain Patient Characteristics Option",
    )
    RETAIN_DEVICE_IDENTITY = (
        "retain-device-identity",
        "rtnDevIdOpt",
        "113109",
        "Retain Device Identity Option",
    )
    RETAIN_UIDS = ("retain-uids", "rtnUIDsOpt", "113110", "Retain UIDs Option")
    RETAIN_SAFE_PRIVATE = (
        "retain-safe-private",
        "rtnSafePrivOpt",
        "113111",
        "Retain Safe Private Option",
    )
    RETAIN_INSTITUTION_IDENTITY = (
        "retain-institution-identity",
        "rtnInstIdOpt",
        "113112",
        "Retain Institution Identity Option",
    )

    @property
    def cli_name(self) -> str:
        return self.value[0]

    @property
    def column(self) -> str:
        return self.value[1]

    @property
    def code(self) -> str:
        return self.value[2]

    @property
    def meaning(self) -> str:
        return self.value[3]

    @classmethod
    def by_name(cls, name: str) -> Option:
        for option in cls:
            if option.cli_name == name:
                return option
        raise KeyError(name)

    @classmethod
    def names(cls) -> list[str]:
        return [o.cli_name for o in cls]


BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
