"""LaTeX markup in arXiv abstracts ("\\textbf{44.94\\%}", "$2\\times$") shown as the plain text a reader expects."""

from __future__ import annotations

import html
import re
from functools import lru_cache

# A LaTeX command or escaped character; "$k$-NN" alone is left as written ("$5 to $10" would not survive math mode).
_MARKUP = re.compile(r"\\(?:[A-Za-z]+|[%$&_#{}(])")
# A percent sign whose character reference lost its "&#" in an upstream export ("about 9&#37; accuracy" stored as
# "about 937; accuracy", 47 abstracts of the shared LLM catalogue): after a number, before a lower-case word or an end
# of clause ("AUC 0.886 to 0.837; ResNet-18" is a number and a semicolon).
_LOST_PERCENT = re.compile(r"(?<=\d)37;(?=\s+[a-z]|[.,)]|\s*$)")


def _readable(text: str) -> str:
    """The text with HTML character references ("&amp;", "&#37;") and percent signs an export mangled restored."""
    if "&" in text:
        text = html.unescape(text)
    return text if "%" in text else _LOST_PERCENT.sub("%", text)


@lru_cache(maxsize=4096)  # the cross-paper check converts each claim once per other claim
def plain_text(text: str) -> str:
    """The text with its LaTeX commands and math as Unicode text, and its mangled characters restored."""
    text = _readable(text)
    if not _MARKUP.search(text):
        return text
    from pylatexenc.latex2text import LatexNodes2Text

    escaped = re.sub(r"(?<!\\)%", r"\\%", text)  # a bare % is a percentage here, not a LaTeX comment
    escaped = re.sub(r"\\\\(?=[()\[\]])", r"\\", escaped)  # math opened twice escaped: "5.16\\(\times\\)"
    try:
        return " ".join(LatexNodes2Text(math_mode="text").latex_to_text(escaped).split())
    # malformed markup in an abstract ("\href{url}" without its text) fails inside pylatexenc in more ways than
    # its LatexWalkerError; the brief then shows the sentence as written rather than lose the run
    except Exception:
        return text
