"""The GPT's documents and tokenizer: one document per line, one token per character, and BOS."""

from __future__ import annotations

import os
from collections.abc import Iterable

from micrograd._files import read_text

__all__ = ["DATA_MODES", "PathLike", "Tokenizer", "documents", "read_documents", "windows"]

# How a data file becomes documents: one per line (names, words), or consecutive windows of the
# block size cut from the whole text (a play, a book), newlines included.
DATA_MODES = ("lines", "windows")

PathLike = str | os.PathLike[str]


def documents(text: str) -> list[str]:
    """One document per non-empty line, each stripped of surrounding white space (as microgpt.py reads its file)."""
    return [line.strip() for line in text.strip().split("\n") if line.strip()]


def windows(text: str, size: int) -> list[str]:
    """``text`` cut into consecutive pieces of ``size`` characters (the last may be shorter), newlines kept.

    As a document, a piece of ``block_size`` characters trains every position of the block: the model
    reads BOS and predicts the piece's characters one by one.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"windows: size must be an int >= 1, got {size!r}")
    return [text[i : i + size] for i in range(0, len(text), size)]


def read_documents(path: PathLike, mode: str = "lines", block_size: int | None = None) -> list[str]:
    """The documents of a UTF-8 text file; ValueError if it holds none.

    ``mode`` ``"lines"``: one per non-blank line, stripped; ``"windows"``: the whole text cut into
    pieces of ``block_size`` characters (``windows``).
    """
    if mode not in DATA_MODES:
        raise ValueError(f"read_documents: mode must be one of {', '.join(DATA_MODES)}, got {mode!r}")
    if mode == "windows" and block_size is None:
        raise ValueError("read_documents: mode 'windows' needs the block_size")
    name = os.fspath(path)
    try:
        # Universal newlines, as microgpt.py's open(): \r\n and \r become \n. read_text refuses
        # devices (/dev/zero never ends) and files over the read limit before they fill the memory.
        text = read_text(name, f"data file {name!r}")
    except IsADirectoryError:
        raise ValueError(f"data file {name!r} is a directory") from None
    except UnicodeDecodeError:
        raise ValueError(f"data file {name!r} is not UTF-8 text") from None
    if mode == "windows":
        assert block_size is not None  # checked above
        if not text.strip():
            raise ValueError(f"data file {name!r} is empty: it needs some text to cut into windows")
        return windows(text, block_size)
    docs = documents(text)
    if not docs:
        raise ValueError(f"data file {name!r} is empty: it needs at least one non-blank line")
    return docs


class Tokenizer:
    """Characters to token ids and back: ``chars`` sorted, id i is ``chars[i]``, and BOS is ``len(chars)``."""

    def __init__(self, chars: Iterable[str]) -> None:
        chars = list(chars)
        for i, ch in enumerate(chars):
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"Tokenizer: chars[{i}] must be one character, got {ch!r}")
        if chars != sorted(set(chars)):
            raise ValueError("Tokenizer: chars must be sorted and unique")
        if not chars:
            raise ValueError("Tokenizer: chars is empty")
        self.chars = chars
        self.bos = len(chars)
        self.vocab_size = len(chars) + 1
        self._ids = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_documents(cls, docs: Iterable[str]) -> Tokenizer:
        """The sorted set of every character in the documents."""
        return cls(sorted(set("".join(docs))))

    def encode(self, text: str) -> list[int]:
        """Token ids of the characters of ``text``; ValueError naming the first unknown character."""
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the vocabulary {''.join(self.chars)!r}") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of token ids (BOS is left out)."""
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def document(self, doc: str) -> list[int]:
        """``[BOS] + ids + [BOS]``: a training sequence."""
        return [self.bos, *self.encode(doc), self.bos]

    def __repr__(self) -> str:
        return f"Tokenizer({''.join(self.chars)!r})"
