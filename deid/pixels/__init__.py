"""Burned-in text: render frames, find text, read it, decide, redact."""
