"""A message's Markdown (messages/formatting.py): each supported feature, each refused
one, plain messages shown as before, and, for whatever is typed, nothing in the HTML
but the allowed tags, attributes and link schemes."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestbook.messages.formatting import links, render

REL = "nofollow ugc noopener"
# Each allowed tag with the attributes it may carry.
ALLOWED = {
    "p": set(),
    "br": set(),
    "em": set(),
    "strong": set(),
    "code": set(),
    "pre": {"tabindex"},  # "0": it may scroll, and the keyboard must reach it
    "a": {"href", "rel"},
    "ul": set(),
    "ol": {"start"},
    "li": set(),
    "blockquote": set(),
}
SAFE_URL = re.compile(r"(?:https?|mailto):", re.IGNORECASE)


class Parsed(HTMLParser):
    """The tags of some HTML, with their attributes (entities decoded, as a browser
    reads them), and its text as a person reads it: a `<br>` a line break, paragraphs a
    blank line apart."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.blocks: list[str] = [""]
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "br":
            self.blocks[-1] += "\n"
        elif tag == "p":
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":  # what stands between paragraphs is markup's whitespace
            self.blocks.append("")

    def handle_data(self, data: str) -> None:
        self.blocks[-1] += data

    @property
    def text(self) -> str:
        return "\n\n".join(block for block in self.blocks if block.strip())


def html_of(body: str) -> str:
    return str(render(body))


# --- what is Markdown here -------------------------------------------------------------


def a(href: str, text: str) -> str:
    return f'<a href="{href}" rel="{REL}">{text}</a>'


@pytest.mark.parametrize(
    ("body", "html"),
    [
        ("*em* and _em_", "<p><em>em</em> and <em>em</em></p>"),
        ("**strong** and __strong__", "<p><strong>strong</strong> and <strong>strong</strong></p>"),
        ("`x < y`", "<p><code>x &lt; y</code></p>"),
        (
            "```python\nif a < b:\n    pass\n```",
            '<pre tabindex="0"><code>if a &lt; b:\n    pass\n</code></pre>',
        ),
        ("    indented\n    code", '<pre tabindex="0"><code>indented\ncode\n</code></pre>'),
        (
            "[the site](https://example.com/a?b=1&c=2)",
            "<p>" + a("https://example.com/a?b=1&amp;c=2", "the site") + "</p>",
        ),
        ("<https://example.com>", "<p>" + a("https://example.com", "https://example.com") + "</p>"),
        (
            "see https://example.com.",
            "<p>see " + a("https://example.com", "https://example.com") + ".</p>",
        ),
        ("www.example.com", "<p>" + a("http://www.example.com", "www.example.com") + "</p>"),
        ("kim@example.com", "<p>" + a("mailto:kim@example.com", "kim@example.com") + "</p>"),
        ("[write](mailto:kim@example.com)", "<p>" + a("mailto:kim@example.com", "write") + "</p>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'),
        ("> quoted\n> still", "<blockquote>\n<p>quoted<br>still</p>\n</blockquote>"),
        ("one\ntwo", "<p>one<br>two</p>"),
        ("one\n\ntwo", "<p>one</p>\n<p>two</p>"),
        ("\\*not emphasis\\*", "<p>*not emphasis*</p>"),
    ],
)
def test_each_supported_feature(body: str, html: str) -> None:
    assert html_of(body) == html


@pytest.mark.parametrize(
    ("body", "html"),
    [
        # An image is a "!" and a link to it, never an <img>.
        (
            "![a cat](https://example.com/cat.png)",
            "<p>!" + a("https://example.com/cat.png", "a cat") + "</p>",
        ),
        ("# Not a heading", "<p># Not a heading</p>"),
        ("Not a heading\n===", "<p>Not a heading<br>===</p>"),
        ("<b>raw</b> <i>HTML</i>", "<p>&lt;b&gt;raw&lt;/b&gt; &lt;i&gt;HTML&lt;/i&gt;</p>"),
        ("<div>\nblock\n</div>", "<p>&lt;div&gt;<br>block<br>&lt;/div&gt;</p>"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "<p>| a | b |<br>|---|---|<br>| 1 | 2 |</p>"),
        ("---", "<p>---</p>"),
        ("~~not struck~~", "<p>~~not struck~~</p>"),
        ("&amp; &copy;", "<p>&amp;amp; &amp;copy;</p>"),  # entities as typed
        # Links to anything but http, https and mailto are their text, as typed.
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
        ("<javascript:alert(1)>", "<p>&lt;javascript:alert(1)&gt;</p>"),
        ("[x](data:text/html,hi)", "<p>[x](data:text/html,hi)</p>"),
        ("[x](/a/path) [y](//evil.example)", "<p>[x](/a/path) [y](//evil.example)</p>"),
        ("ftp://example.com", "<p>ftp://example.com</p>"),
        # Bare names are not links, even those ending in a country's domain.
        ("README.md, main.py and example.com", "<p>README.md, main.py and example.com</p>"),
        # A URL the sanitizer refuses (this port is out of range) leaves its text.
        ("[x](http://example.com:99999)", "<p>x</p>"),
    ],
)
def test_each_refused_feature_shows_as_text(body: str, html: str) -> None:
    assert html_of(body) == html


@pytest.mark.parametrize(
    "body",
    [
        "Hello, guestbook!",
        "Thanks for the lovely evening.\nSee you next year!\n\nKim",
        "<b>bold?</b> Fish & chips &amp; more",
        "<script>alert(1)</script>",
        'Tom\'s "quoted" words (and 2 + 2 = 4; 3 < 4 > 2) — 100% sure',
        "spaces  inside   a line stay",
        "안녕하세요! 방명록 좋네요 :)\n다음에 또 올게요~",
        "snake_case_name, C:\\Users\\kim, ~/notes, #hashtag, @kim, a+b=c",
    ],
)
def test_a_plain_message_says_what_it_did_before(body: str) -> None:
    """Before, the page showed the text escaped in a `white-space: pre-wrap` paragraph:
    exactly the text. A plain message still shows exactly that, line breaks included."""
    assert Parsed(html_of(body)).text == body
    if "\n\n" not in body:  # one paragraph: the text, escaped alike, in a <p>
        escaped = html.escape(body, quote=False).replace("\n", "<br>")
        assert html_of(body) == f"<p>{escaped}</p>"


# Text with no Markdown in it: words of letters (Hangul too), digits and punctuation
# that starts no syntax, a space or two apart, on lines and in paragraphs.
words = st.text(st.characters(categories=["L", "Nd"], include_characters=",?'\"&;<=%$"), min_size=1)
lines = st.lists(st.tuples(words, st.sampled_from([" ", "  "])), min_size=1, max_size=6).map(
    lambda pairs: "".join(word + gap for word, gap in pairs).rstrip()
)
paragraphs = st.lists(lines, min_size=1, max_size=3).map("\n".join)
plain_bodies = st.lists(paragraphs, min_size=1, max_size=3).map("\n\n".join)


@settings(max_examples=200, deadline=None)
@given(body=plain_bodies)
def test_any_plain_message_says_what_it_did_before(body: str) -> None:
    assert Parsed(html_of(body)).text == body


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ("no links here", 0),
        ("[a](https://a.example) <https://b.example> https://c.example", 3),
        ("www.a.example and kim@example.com", 2),
        ("[x](javascript:alert(1)) [y](data:,x) [z](/relative)", 0),
        ("`https://in.code.example` and\n\n    https://in.a.block.example", 0),
        ("example.com, README.md", 0),
        ("[https://a.example](https://a.example)", 1),  # one link, whatever its text
    ],
)
def test_links_counts_the_links_a_message_shows(body: str, count: int) -> None:
    assert links(body) == count


def test_a_body_renders_once() -> None:
    body = "kept *once* " + "x" * 20
    assert render(body) is render(body)  # the cache's own object: no second parse


# --- whatever is typed -------------------------------------------------------------------

HOSTILE_SCHEMES = [
    "javascript:",
    "JaVaScRiPt:",
    "data:",
    "vbscript:",
    "VBScript:",
    "file:",
    "java\tscript:",
    "java\nscript:",
    "java\x00script:",
    " javascript:",
    "\x01javascript:",
    "javascript\x0b:",
    "jav&#x09;ascript:",
    "&#106;avascript:",
    "javascript&colon;",
    "&#x6A;&#x61;vascript:",
    "java%73cript:",
    "https:",
    "http://",
    "mailto:",
    "//",
    "",
]
TARGETS = ["alert(1)", "//evil.example/", "text/html;base64,PHNjcmlwdD4=", "a@b.example", "x"]
LINK_FORMS = [
    "[{text}]({url})",
    "[{text}](<{url}>)",
    '[{text}]({url} "title")',
    "![{text}]({url})",
    "<{url}>",
    "{url}",
    "[{text}]: {url}\n\n[{text}]",
]
HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil.example>",
    "<svg onload=alert(1)>",
    "<style>*{color:red}</style>",
    "<p onclick=alert(1)>",
    "</p></ol>",
    "<!-- c -->",
    "<![CDATA[x]]>",
    "<math><mi>x</mi></math>",
    '"><b>',
    "&lt;script&gt;",
    "&#0;",
]
MARKS = [
    *"*_`[]()<>!#-+=|~\\\n >:.\t\"'&;@/",
    "```",
    "    ",
    "1. ",
    "- ",
    "> ",
    "\n\n",
    "**",
    "www.",
]

links_typed = st.builds(
    lambda form, text, scheme, target: form.format(text=text, url=scheme + target),
    st.sampled_from(LINK_FORMS),
    st.sampled_from(["x", "*x*", "`x`", "<b>x</b>", "https://a.example", ""]),
    st.sampled_from(HOSTILE_SCHEMES),
    st.sampled_from(TARGETS),
)
pieces = st.one_of(
    st.sampled_from(MARKS),
    st.sampled_from(HTML),
    links_typed,
    st.text(max_size=4),
)
bodies = st.lists(pieces, max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(body=bodies)
def test_whatever_is_typed_only_allowed_html_comes_out(body: str) -> None:
    html = html_of(body)
    parsed = Parsed(html)
    for tag, attributes in parsed.tags:
        assert tag in ALLOWED, (tag, html)
        names = [name for name, _value in attributes]
        assert set(names) <= ALLOWED[tag] and len(names) == len(set(names)), (tag, names, html)
        values = dict(attributes)
        if tag == "a":
            assert values.get("rel") == REL, html
            assert SAFE_URL.match(values.get("href") or ""), html
        if "start" in values:
            assert re.fullmatch(r"\d+", values["start"] or ""), html
        if tag == "pre":
            assert values == {"tabindex": "0"}, html
    assert links(body) == sum(tag == "a" for tag, _attributes in parsed.tags)
