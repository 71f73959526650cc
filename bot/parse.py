"""Turning a command's message segments into words, mentions and images.

Reads uniseg segments (`Text`, `At`, `Image`), the same on every platform. Numbers are read
after NFKC normalisation, so full-width digits (`３`) count as digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.text import clean_name, clean_text
from models.usecases.base import Word
from models.words import (  # noqa: F401 (the words people type: read in models, used here)
    FINE_WORDS,
    ID_RE,
    MAX_DIGITS,
    MAX_NOTE,
    URL_RE,
    clip_echo,
    find_fines,
    first_url,
    looks_numeric,
    note_of,
    parse_days,
    parse_entry_id,
    parse_int,
)


def clean(text: str) -> str:
    """Text as it may be stored (`models.text.clean_text`: surrogates replaced, control
    characters but line breaks and tabs removed)."""
    return clean_text(text)


def _segment_str(value: object) -> str | None:
    """A segment field that must be text (an image's `url` or `file`): anything else a
    client sends there (a list, an object, a number) is as good as absent."""
    if not isinstance(value, str):
        return None
    return clean_name(value) or None


Token = Word  # a word of the message, or an @ (`models.usecases.base.Word`)


@dataclass
class Image:
    url: str | None
    file: str | None
    raw: bytes | None = None  # the picture itself, where the platform gives no URL (WeCom)


@dataclass
class Args:
    tokens: list[Token] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    @classmethod
    def from_message(cls, message, self_id: str | None = None) -> Args:
        """The words, @s and pictures of a uniseg message (`bot.dispatch.match_command`).
        A picture's url is kept only when it is one (uniseg writes a bare file name as
        `https://<name>`); its id is the platform's file or resource id."""
        from nonebot_plugin_alconna.uniseg import At, Text
        from nonebot_plugin_alconna.uniseg import Image as UniImage

        args = cls()
        for seg in message:
            if isinstance(seg, Text):
                args.tokens += [Token(w) for w in clean(seg.text).split()]
            elif isinstance(seg, At):
                raw = seg.target
                uid = (
                    clean_name(str(raw))
                    if seg.flag == "user" and isinstance(raw, str | int)
                    else ""
                )
                if uid and uid != "all" and uid != self_id:
                    shown = clean_name(str(seg.display or "")).strip().lstrip("@")
                    args.tokens.append(Token(mention=uid, shown=shown))
            elif isinstance(seg, UniImage):
                file = _segment_str(seg.id)
                url = _segment_str(seg.url)
                if url is not None and url == f"https://{seg.id}":
                    url = None
                raw = seg.raw_bytes if seg.raw is not None else None
                args.images.append(Image(url, file, raw))
        return args

    @property
    def words(self) -> list[str]:
        return [t.text for t in self.tokens if t.mention is None]

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def mentions(self) -> list[str]:
        return [t.mention for t in self.tokens if t.mention]
