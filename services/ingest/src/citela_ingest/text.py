"""Free text from open-data feeds turned into the plain text a catalogue entry carries.

Descriptions arrive as Markdown (data.gouv.fr), HTML (DATAtourisme, some Service-Public fields),
or plain text with HTML entities and odd whitespace. ``plain_text`` gives plain text:

* HTML: tags are removed; block tags (``p``, ``br``, ``div``, ``li``, ``h1``…, ``tr``) end a line,
  ``li`` items start with ``- ``; ``script`` and ``style`` contents are dropped; entities
  (``&eacute;``, ``&#233;``, ``&nbsp;``) are unescaped, twice when the source escaped them twice.
* Markdown: headings, emphasis, inline code, code fences, block quotes, horizontal rules, table
  pipes, images (their alt text stays), links (their text stays; a bare ``<https://…>`` keeps the
  URL) and reference definitions are removed; bullet markers become ``- ``, numbered items keep
  their number.
* Whitespace: every run of spaces, tabs and no-break spaces becomes one space, lines are
  trimmed, and runs of blank lines become one blank line (so paragraphs stay apart).

The functions are pure and never raise on odd input: the worst case is text with some markup left.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

__all__ = ["collapse_whitespace", "html_to_text", "plain_text", "strip_markdown"]

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "header",
        "footer",
        "dd",
        "dt",
        "hr",
    }
)
_PARAGRAPH_TAGS = frozenset({"p", "div", "ul", "ol", "table", "blockquote", "h1", "h2", "h3"})
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})
_TAG_HINT = re.compile(
    r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+\d*);"
)
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+\d*);")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def _break(self, lines: int) -> None:
        """End the current line (1) or paragraph (2), without piling up blank lines."""
        text = "".join(self.parts[-6:]).rstrip(" \t")
        trailing = len(text) - len(text.rstrip("\n"))
        if self.parts and trailing < lines:
            self.parts.append("\n" * (lines - trailing))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self._break(1)
            if tag == "li":
                self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._break(1)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
        elif tag in _BLOCK_TAGS:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            # whitespace between tags is layout of the HTML source, not text
            self.parts.append(data if data.strip() else " ")


def html_to_text(value: str) -> str:
    """Text of an HTML fragment (tags removed, entities unescaped), whitespace not yet collapsed."""
    parser = _TextExtractor()
    try:
        parser.feed(value)
        parser.close()
    except Exception:
        return html.unescape(re.sub(r"<[^>]*>", " ", value))
    text = "".join(parser.parts)
    if _ENTITY.search(text):  # escaped twice at the source ("&amp;eacute;")
        text = html.unescape(text)
    return text


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_BULLET = re.compile(r"^\s*[-*+•]\s+")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]+|mailto:[^>\s]+|[^>\s@]+@[^>\s@]+)>")
_CODE = re.compile(r"`+([^`]+)`+")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_STAR_EM = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_UNDER_EM = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")


def _inline(line: str) -> str:
    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    line = _REF_LINK.sub(r"\1", line)
    line = _CODE.sub(r"\1", line)
    line = _BOLD.sub(r"\2", line)
    line = _STRIKE.sub(r"\1", line)
    line = _STAR_EM.sub(r"\1", line)
    line = _UNDER_EM.sub(r"\1", line)
    return _ESCAPE.sub(r"\1", line)


def strip_markdown(value: str) -> str:
    """Markdown syntax removed line by line; the words stay."""
    out: list[str] = []
    for raw_line in value.split("\n"):
        line = raw_line
        if _FENCE.match(line) or _RULE.match(line) or _TABLE_SEP.match(line):
            out.append("")
            continue
        if _REF_DEF.match(line):
            continue
        if _SETEXT.match(line) and out and out[-1].strip():
            continue  # the underline of a setext heading
        heading = _HEADING.match(line)
        if heading:
            out.append(_inline(heading.group(1)))
            continue
        while _QUOTE.match(line):
            line = _QUOTE.sub("", line, count=1)
        bullet = _BULLET.match(line)
        prefix = ""
        if bullet:
            prefix = "- "
            line = line[bullet.end() :]
        if "|" in line and line.strip().startswith("|"):
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        out.append(prefix + _inline(line))
    return "\n".join(out)


_SPACES = re.compile(r"[^\S\n]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def collapse_whitespace(value: str) -> str:
    """One space between words, trimmed lines, at most one blank line between paragraphs."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in value.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def plain_text(value: object) -> str:
    """Plain text from Markdown, HTML or messy text; "" for None or a non-string."""
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = _AUTOLINK.sub(r"\1", text)
    if _TAG_HINT.search(text):
        text = html_to_text(text)
    text = strip_markdown(text)
    return collapse_whitespace(text)
