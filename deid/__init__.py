"""deid: DICOM de-identification and re-identification-risk tool.

The command line (`deid.cli`) is a thin layer over `deid.api`; import that.
"""

__version__ = "0.1.0"
