"""Text as it may be stored (SPEC §5, §6: any text typed or sent by a client is stored or
refused, never an error).

Every string taken from a chat event goes through `clean_text` (notes, arguments) or
`clean_name` (names, ids) before it is stored: a lone surrogate (valid JSON, not valid
UTF-8, so neither engine can store it) becomes U+FFFD, and control characters are removed —
C0, DEL and C1; a note keeps its line breaks and tabs, a name keeps none. PostgreSQL also
refuses NUL, and openpyxl refuses the C0 controls in a workbook cell.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAME_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Surrogates replaced by U+FFFD; control characters but \\n and \\t removed."""
    return _CONTROLS.sub("", _SURROGATE.sub("\ufffd", text))


def clean_name(text: str) -> str:
    """Surrogates replaced by U+FFFD; every control character removed."""
    return _NAME_CONTROLS.sub("", _SURROGATE.sub("\ufffd", text))
