"""Findings, residual-PHI verification and (later) dataset-level risk."""
