"""What a message body shows: a small Markdown subset, as sanitized HTML.

A body may hold emphasis (`*a*`), strong (`**a**`), inline code and code blocks (fenced
or indented), links, lists, block quotes and line breaks: a single newline is a `<br>`.
Links are `[text](url)`, `<url>`, and bare `http://…`, `https://…`, `www.…` and e-mail
addresses, as GitHub finds them; only http, https and mailto, each with
`rel="nofollow ugc noopener"`. Nothing else is Markdown here: an image's `![…](url)` is a
`!` and a link, a heading's `#`, a table's pipes and a rule's dashes show as typed, and so
does raw HTML, escaped. A plain message shows its text and line breaks as before.

Why these libraries: markdown-it-py is a CommonMark parser whose "zero" preset starts
with every rule off, so the subset is a list of rules turned on (syntax a later release
adds stays off); linkify-it-py is the bare-link finder markdown-it itself uses. What the
parser writes then passes nh3 (ammonia, in Rust: an allow-list sanitizer on a real HTML
parser), so whatever a parser bug or a rule turned on later lets through, only the tags,
attributes and URL schemes below reach a page or a feed.

Parsing is the cost (about 0.3 ms for a 200-character message with a link, half of it
the link finder; 0.08 µs from the cache), and pages render their lists again after every
write: `render` keeps the HTML of a few thousand bodies.
"""

from __future__ import annotations

import functools
import re

import nh3
from linkify_it import LinkifyIt
from linkify_it.main import Match
from markdown_it import MarkdownIt
from markupsafe import Markup
from quart import Quart

# markdown-it's rules, by name, on top of the zero preset's paragraphs and text.
RULES = [
    "code",  # indented code blocks
    "fence",
    "blockquote",
    "list",
    "newline",  # line breaks
    "escape",  # \* is a star, not emphasis
    "backticks",
    "emphasis",
    "link",
    "autolink",  # <https://…>
    "linkify",  # bare links (a core rule and an inline one: one name turns on both)
]
TAGS = {"p", "br", "em", "strong", "code", "pre", "a", "ul", "ol", "li", "blockquote"}
# "*": no attribute on every tag (ammonia's default allows `lang` and `title` on all).
ATTRIBUTES: dict[str, set[str]] = {"*": set(), "a": {"href"}, "ol": {"start"}}
# A code block scrolls sideways (style.css): it takes the keyboard's focus so that
# those without a mouse can scroll it too.
SET_ATTRIBUTES = {"pre": {"tabindex": "0"}}
SCHEMES = {"http", "https", "mailto"}
REL = "nofollow ugc noopener"
# What the parser may make a link of: http(s) with a host, or mailto. Anything else (a
# relative path, javascript:, data:, ...) stays the text that was typed.
LINKABLE = re.compile(r"(?:https?://[^/?#]|mailto:)", re.IGNORECASE)
# A link whose URL the sanitizer refused (one the parser took but the URL standard does
# not, such as `http://a:99999`): nh3 keeps the tag without its href; we keep its text.
REFUSED_LINK = re.compile(f'<a rel="{REL}">(.*?)</a>', re.DOTALL)  # `a` never nests
CACHED = 4096  # bodies of at most 1,000 characters: at worst ~20 MB per worker


class _BareLinks(LinkifyIt):
    """linkify-it without its "fuzzy" links (any word that ends in a top-level domain:
    `README.md` and `main.py` would be links, and count against a new member's
    limit), with `www.` links instead, as GitHub finds them."""

    def __init__(self) -> None:
        super().__init__(options={"fuzzy_link": False})
        host_and_path = self.re["src_host_port_strict"] + self.re["src_path"]
        self.add(
            "www.",
            {"validate": re.compile("^" + host_and_path, re.IGNORECASE), "normalize": self._web},
        )

    def _web(self, match: Match) -> None:
        match.url = "http://" + match.url


def _linkable(url: str) -> bool:
    return LINKABLE.match(url) is not None


def _line_break(*_token: object) -> str:
    # markdown-it writes "<br>\n"; paragraphs keep the spaces typed (white-space:
    # pre-wrap in style.css), where that newline would break the line a second time.
    return "<br>"


def _parser() -> MarkdownIt:
    parser = MarkdownIt("zero", {"html": False, "breaks": True, "linkify": True})
    parser.linkify = _BareLinks()
    parser.enable(RULES)  # raises on a name markdown-it does not know
    parser.validateLink = _linkable  # type: ignore[method-assign]
    parser.add_render_rule("softbreak", _line_break)
    parser.add_render_rule("hardbreak", _line_break)
    return parser


_MARKDOWN = _parser()
_SANITIZER = nh3.Cleaner(
    tags=TAGS,
    attributes=ATTRIBUTES,
    set_tag_attribute_values=SET_ATTRIBUTES,
    url_schemes=SCHEMES,
    url_relative="deny",
    link_rel=REL,
)


@functools.lru_cache(maxsize=CACHED)
def render(body: str) -> Markup:
    """`body` as the HTML a page shows: Markdown's subset, sanitized."""
    html = REFUSED_LINK.sub(r"\1", _SANITIZER.clean(_MARKDOWN.render(body))).rstrip("\n")
    # Safe: nh3's output, holding only the tags and attributes allowed above.
    return Markup(html)  # noqa: S704


def plain(body: str) -> str:
    """`body` as the text a page shows, without its formatting: a feed entry's title
    (`type="text"`), where `**bold**` would otherwise show its asterisks."""
    return render(body).replace("<br>", " ").striptags()


def links(body: str) -> int:
    """How many links `body` shows once rendered: what a new member's link limit counts.
    A link written any way counts (`[x](https://a)`, `<https://a>`, a bare URL, `www.`, an
    e-mail address); one that is not shown as a link (`javascript:`, a URL in code, a
    bare `example.com`) does not."""
    return render(body).count("<a href=")


def init_app(app: Quart) -> None:
    """`{{ message.body | markdown }}` and `{{ message.body | plain }}` in templates."""
    app.add_template_filter(render, "markdown")
    app.add_template_filter(plain)
