"""Which language a text is mostly in, to pick the prompt language of helper calls (titles, summaries)."""

from __future__ import annotations

import re

__all__ = ["CJK_CHAR", "HAN_CHAR", "is_mostly_chinese"]

# Chinese characters: the unified ideographs, extension A and the compatibility block.
HAN_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Every character a tokenizer tends to spend about one token on: Han, kana, Hangul, CJK punctuation
# and full-width forms.
CJK_CHAR = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_ENGLISH_WORD = re.compile(r"[A-Za-z]+")


def is_mostly_chinese(text: str) -> bool:
    """True when the text has more Chinese characters than English words (the original MAG's rule).

    Comparing characters with words is deliberate: a Chinese sentence quoting a few English terms
    still counts as Chinese. Text with neither counts as English.
    """
    return len(HAN_CHAR.findall(text)) > len(_ENGLISH_WORD.findall(text))
