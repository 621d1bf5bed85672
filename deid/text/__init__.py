"""Free text: one tokenizer and the matchers built on it.

Cleaning, verification, `deid scan` and the OCR labels of burned-in text all
compare identifiers through `tokens`, so a surname is found the same way in
a series description, a ROI label (`GTV_Smith`), a private attribute or a
line of burned-in text. `find.spans` is the single answer to "which words of
this text identify someone": the cleaner removes exactly those words and the
scan reports exactly those words.
"""
