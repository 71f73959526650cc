"""Rebuild `bot/fonts/NotoSansCJKsc-Regular.otf`, the font the ranking image is drawn in.

    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb deb
    python -m tools.make_fonts deb/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

The source is Noto Sans CJK 2.004 (OFL-1.1; Debian's fonts-noto-cjk 1:20220127). Its
collection holds ten faces sharing 65,535 glyphs; we keep the Simplified Chinese face and only
the glyphs its character map reaches (44,810 characters: every CJK ideograph it has, rare and
traditional ones included, kana, hangul, Latin, symbols), which halves the file (8.7 MB).
`bot/fonts/NotoEmoji-Regular.ttf` is Noto Emoji 3.006 as Google Fonts ships it, unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

SC_FACE = 2  # JP, KR, SC, TC, HK, then the Mono faces
OUT = Path(__file__).resolve().parent.parent / "bot" / "fonts" / "NotoSansCJKsc-Regular.otf"


def main(collection: str) -> None:
    font = TTFont(collection, fontNumber=SC_FACE)
    assert font["name"].getDebugName(4) == "Noto Sans CJK SC", font["name"].getDebugName(4)
    options = subset.Options()
    options.layout_features = ["kern", "palt", "liga"]
    options.hinting = False
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=font.getBestCmap().keys())
    subsetter.subset(font)
    font.save(OUT)
    print(f"{OUT}: {OUT.stat().st_size} bytes, {len(font.getBestCmap())} characters")


if __name__ == "__main__":
    main(sys.argv[1])
