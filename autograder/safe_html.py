"""What a student wrote never runs or renders as active content where it is looked at.

A submission's markdown (reflection answers included), raw cells and outputs reach three
HTML pages: nbgrader's formgrader (the instructor's browser, logged in to Jupyter: a
script there can open a terminal), the feedback page and, as a notebook, JupyterLab. Three
layers, each enough on its own against a script tag:

1. ``SanitizeSubmission`` (a preprocessor in the autograde and feedback lists of
   nbgrader_config.py) cleans the notebook itself: a markdown or raw cell whose rendered
   HTML the policy below would change is kept as its plain text in a code fence (so the
   instructor still reads what the student wrote, as text); outputs keep only inert mime
   types, HTML ones cleaned; attachments only raster images; widget state is dropped.
2. The HTML exporter's ``markdown2html`` and ``clean_html`` filters are replaced
   (``HTMLExporter.filters``) by ones that clean with bleach, a well-kept allow-list
   sanitiser, under the policy below; nbgrader's formgrade and feedback templates pipe
   markdown through ``markdown2html`` without ``clean_html``, so this covers them too.
3. Both pages carry a Content-Security-Policy (``csp_meta``): scripts only from the
   page's own trusted parts (nbgrader's files and inline scripts, by hash; the
   formgrader's MathJax, from the Jupyter server), no inline event handlers, no plugins,
   no base or form hijacking.

Math: ``markdown2html`` writes markdown's formulas as MathML (``outputs/mathml.py``), which
browsers render with no script, so a feedback page handed back alone shows them. They are
placeholders while bleach cleans the HTML, then MathML that we built under an allow-list of
its own: the policy below allows no MathML from a student (a ``<math>`` they type is
escaped as before), and a placeholder they type is not one (a nonce).

The policy: the tags markdown makes, no attribute that can run or style anything (no
``on*``, no ``style``, ``class`` only with the names syntax highlighting uses, so a
student cannot dress text up as nbgrader's score panel), URLs only http(s)/mailto/
relative, images also ``data:image/(png|jpeg|gif|webp)``.
``active_content`` is the browser-free check the tests use on every page.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
import secrets
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import bleach
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Int

from .outputs.mathml import ATTRIBUTES as MATHML_ATTRIBUTES
from .outputs.mathml import ELEMENTS as MATHML_ELEMENTS
from .outputs.mathml import to_mathml
from .safe_text import visible_controls

__all__ = ["clean_html", "markdown2html", "active_content", "csp_meta", "PAGE_CSP",
           "SanitizeSubmission", "ALLOWED_TAGS"]

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p",
    "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
})
_SAFE_CLASS = re.compile(r"^(?:highlight|hl-[\w-]+|anchor-link|language-[\w+-]+|ansi-[\w-]+)$")
_SAFE_PROTOCOLS = ("http", "https", "mailto")
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")
_SAFE_ALIGN = {"left", "right", "center"}


def _pygments_classes() -> frozenset[str]:
    from pygments.token import STANDARD_TYPES

    return frozenset(STANDARD_TYPES.values()) - {""}


_PYGMENTS = _pygments_classes()


def _class_ok(value: str) -> bool:
    names = value.split()
    return all(n in _PYGMENTS or _SAFE_CLASS.match(n) for n in names)


def _url_ok(url: str, image: bool = False) -> bool:
    # nbgrader's templates pipe the cleaned HTML through nbconvert's strip_files_prefix,
    # which turns href="files/javascript:..." into href="javascript:...": a URL is judged
    # as it is and as it will be once that prefix is gone.
    stripped = re.sub(r"^/?files/", "", url)
    return _one_url_ok(url, image) and (stripped == url or _one_url_ok(stripped, image))


def _one_url_ok(url: str, image: bool = False) -> bool:
    url = url.strip()
    if image and _DATA_IMAGE.match(url):
        return True
    # What browsers ignore inside a scheme (tabs, newlines) is gone before we look.
    squeezed = re.sub(r"[\x00-\x20]", "", url).lower()
    scheme = urlsplit(squeezed).scheme
    if image:
        # An image loads by itself, with the instructor's cookies: only the submission's
        # own files (relative, not climbing out), never "/logout" or another origin.
        return scheme == "" and _stays_below(squeezed)
    return scheme in _SAFE_PROTOCOLS or (scheme == "" and not squeezed.startswith("//"))


def _stays_below(url: str) -> bool:
    """Whether a relative URL, resolved as a browser does (WHATWG URL: ``\\`` is ``/``,
    ``%2e`` is ``.`` in a dot segment, ``.`` and ``..`` segments removed), stays in the
    page's folder. Decoded until nothing changes, so ``%252e`` is judged as ``.`` too:
    stricter than a browser, never looser."""
    path = re.split(r"[?#]", url, maxsplit=1)[0]
    for _ in range(8):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        return False  # encoded over and over: no real image path
    path = path.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[a-z][a-z0-9+.-]*:", path):
        return False
    return ".." not in [segment.strip() for segment in path.split("/")]


def _attribute_ok(tag: str, name: str, value: str) -> bool:
    if name in ("title", "lang"):
        return True
    if name == "id":  # headings' anchors; elsewhere an id could clobber a page global
        return tag in ("h1", "h2", "h3", "h4", "h5", "h6")
    if name == "class":
        return _class_ok(value)
    if tag == "a" and name == "href":
        return _url_ok(value)
    if tag == "img":
        if name == "src":
            return _url_ok(value, image=True)
        return name in ("alt", "width", "height") and (name == "alt" or value.isdigit())
    if tag in ("td", "th"):
        return (name in ("colspan", "rowspan") and value.isdigit()) or (
            name == "align" and value in _SAFE_ALIGN)
    if tag == "ol":
        return name == "start" and value.isdigit()
    if tag == "details":
        return name == "open"
    return False


_CLEANER = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_attribute_ok,
    protocols=[*_SAFE_PROTOCOLS, "data"],   # data: is narrowed to raster images above
    strip=False,                            # a refused tag is shown as text, not hidden
    strip_comments=True,
)


def clean_html(html) -> str:
    """``html`` under the policy: refused tags escaped (visible as text), refused
    attributes dropped. A drop-in for nbconvert's ``clean_html`` filter."""
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
    return _CLEANER.clean(text)


def _render_markdown(source: str, attachments=None, formulas: "_Formulas | None" = None) -> str:
    """``source`` as HTML, not yet cleaned. Its math is left as escaped TeX text, as
    nbconvert leaves it; with ``formulas``, as placeholders that ``formulas.insert`` turns
    into MathML once the HTML is cleaned."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer = _renderer_class()(escape=False, attachments=attachments or {},
                                 embed_images=False, path="", anchor_link_text="¶",
                                 exclude_anchor_links=False)
    renderer.formulas = formulas
    return MarkdownWithMath(renderer=renderer).render(source)


@functools.cache
def _renderer_class():
    """nbconvert's IPythonRenderer whose math, given a ``_Formulas``, becomes placeholders
    (made once: nbconvert is imported only when markdown is rendered)."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathRenderer(IPythonRenderer):
        formulas = None

        def inline_math(self, body):
            shown = super().inline_math(body)
            return shown if self.formulas is None else self.formulas.add(body, False, shown)

        def block_math(self, body):
            shown = super().block_math(body)
            return shown if self.formulas is None else self.formulas.add(body, True, shown)

        def latex_environment(self, name, body):
            shown = super().latex_environment(name, body)
            tex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
            return shown if self.formulas is None else self.formulas.add(tex, True, shown)

    return MathRenderer


class _Formulas:
    """One rendering's formulas. Each is a placeholder in the HTML while bleach cleans it
    (the policy for what a student writes stays as narrow as it is: no MathML), then the
    MathML built by ``outputs.mathml`` (an allow-list of its own), or the escaped TeX the
    page showed before where it cannot be built. A placeholder carries a nonce drawn for
    this rendering: one a student types is never taken for a formula."""

    def __init__(self):
        self.nonce = secrets.token_hex(16)
        self.items: list[tuple[str, bool, str]] = []  # TeX, display, its escaped text
        self.pattern = re.compile(f"convlabmath{self.nonce}n(\\d+)e")

    def add(self, tex: str, display: bool, shown: str) -> str:
        self.items.append((tex, display, shown))
        return f"convlabmath{self.nonce}n{len(self.items) - 1}e"

    def _mathml(self, match) -> str:
        tex, display, shown = self.items[int(match.group(1))]
        return to_mathml(tex, display) or shown

    def _text(self, match) -> str:
        # In an attribute (an image's alt, a heading's anchor id): the TeX, as text.
        return html.escape(html.unescape(self.items[int(match.group(1))][2]), quote=True)

    def insert(self, cleaned: str) -> str:
        """``cleaned`` (bleach's output) with each placeholder in text replaced by its
        MathML, and each in a tag's attributes by its TeX as text."""
        if not self.items:
            return cleaned
        rewriter = _Rewriter(lambda text: self.pattern.sub(self._mathml, text),
                             lambda tag: self.pattern.sub(self._text, tag))
        rewriter.feed(cleaned)
        rewriter.close()
        return "".join(rewriter.out)


class _Rewriter(HTMLParser):
    """Copies HTML, passing its text runs and its start tags through two functions: a
    browser's view of which is which, not a regex's (an attribute may hold a ``>``)."""

    def __init__(self, text, tag):
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self._text, self._tag = text, tag

    def handle_starttag(self, tag, attrs):
        self.out.append(self._tag(self.get_starttag_text()))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        self.out.append(self._text(data))

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):  # bleach strips them; kept inert if ever there
        self.out.append(html.escape(f"<!--{data}-->"))

    def handle_decl(self, decl):
        self.out.append(html.escape(f"<!{decl}>"))

    def unknown_decl(self, data):
        self.out.append(html.escape(f"<![{data}]>"))

    def handle_pi(self, data):
        self.out.append(html.escape(f"<?{data}>"))


def _escaped_block(source: str) -> str:
    return f"<pre>{html.escape(source)}</pre>"


def markdown2html(context, source: str) -> str:
    """nbconvert's markdown2html (attachments resolved from the cell), cleaned. A cell
    that cannot be rendered (a missing attachment, ...) is shown as escaped text: one
    broken cell never fails a whole page."""
    cell = context.get("cell", {}) if context is not None else {}
    formulas = _Formulas()
    try:
        rendered = _render_markdown(str(source), cell.get("attachments", {}), formulas)
    except Exception:
        return _escaped_block(str(source))
    return formulas.insert(clean_html(rendered))


try:  # a Jinja context filter: it reads the cell's attachments
    from jinja2 import pass_context

    markdown2html = pass_context(markdown2html)
except ImportError:  # pragma: no cover - jinja2 < 3
    from jinja2 import contextfilter

    markdown2html = contextfilter(markdown2html)


# --- the browser-free check ---------------------------------------------------------

_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster",
                   "background", "srcset", "lowsrc", "dynsrc", "ping"}


class _Finder(HTMLParser):
    def __init__(self, allowed_scripts, allowed_styles):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.allowed_scripts = allowed_scripts
        self.allowed_styles = allowed_styles
        self._in = None
        self._text = []
        self._math = 0  # how many <math> elements we are in

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "math" or self._math:
            # MathML is inert only as outputs/mathml.py builds it: its elements, its
            # attributes with their values (no mglyph, annotation-xml, href, mathcolor).
            if tag not in MATHML_ELEMENTS:
                self.found.append(f"<math> holding <{tag}>")
            for name, value in attrs:
                if name not in MATHML_ATTRIBUTES or not MATHML_ATTRIBUTES[name](value or ""):
                    self.found.append(f"<{tag} {name}={(value or '')[:40]!r}> in <math>")
            self._math += tag == "math"
        if tag in ("script", "style"):
            self._in, self._text = (tag, attributes), []
        if tag in ("iframe", "object", "embed", "frame", "frameset", "applet", "base",
                   "form", "svg", "link", "meta") and not (
                       tag in ("link", "meta") and self._trusted_head(tag, attributes)):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style" and value not in self.allowed_styles:
                self.found.append(f"<{tag} style={value[:40]!r}>")
            if name in _URL_ATTRIBUTES and not _url_ok(value, image=tag == "img"):
                if not (tag == "script" and name == "src" and value in self.allowed_scripts):
                    self.found.append(f"<{tag} {name}={value[:60]!r}>")

    def _trusted_head(self, tag, attributes) -> bool:
        if tag == "meta":
            return set(attributes) <= {"charset", "http-equiv", "content", "name"} and (
                attributes.get("http-equiv", "").lower() in ("", "content-security-policy"))
        return attributes.get("href") in self.allowed_styles

    def handle_endtag(self, tag):
        if tag == "math" and self._math:
            self._math -= 1
        if self._in and tag == self._in[0]:
            kind, attributes = self._in
            body = "".join(self._text).strip()
            key = attributes.get("src") or body
            allowed = self.allowed_scripts if kind == "script" else self.allowed_styles
            if key not in allowed:
                self.found.append(f"<{kind}>{key[:60]!r}")
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text.append(data)


def active_content(page: str, allowed_scripts=(), allowed_styles=()) -> list[str]:
    """What in ``page`` could run or restyle it: script and style elements (other than
    ``allowed_*``, given by their src/href or exact text), ``on*`` attributes, style
    attributes (other than ``allowed_styles``), ``javascript:`` and other non-http URLs,
    frames, objects, forms, svg, MathML beyond what outputs/mathml.py builds. An empty
    list: nothing active."""
    finder = _Finder(set(allowed_scripts), set(allowed_styles))
    finder.feed(page)
    finder.close()
    return finder.found


# --- Content-Security-Policy -------------------------------------------------------

# For pages with no script at all (the grader's own problem pages).
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_SRC = re.compile(r"""\bsrc\s*=\s*["']([^"']+)["']""", re.I)
_TYPE = re.compile(r"""\btype\s*=\s*["']([^"']+)["']""", re.I)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _source_of(url: str) -> str:
    """A CSP source for a script URL: 'self' for the page's own, else its folder."""
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return "'self'"
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/"


def policy(*trusted_html: str) -> str:
    """A CSP allowing exactly the scripts of ``trusted_html`` (template output, never a
    student's): their src folders, their inline bodies and event handlers by hash."""
    sources, hashes, handlers = set(), set(), set()
    for html in trusted_html:
        for attributes, body in _SCRIPT.findall(str(html)):
            src = _SRC.search(attributes)
            kind = _TYPE.search(attributes)
            if src:
                sources.add(_source_of(src.group(1)))
            elif not kind or kind.group(1).lower() in ("text/javascript", "module",
                                                        "application/javascript"):
                hashes.add(_sha256(body))
        for double, single in _HANDLER.findall(str(html)):
            handlers.add(_sha256(double or single))
    script = sorted(sources) + sorted(hashes) + (["'unsafe-hashes'", *sorted(handlers)]
                                                 if handlers else [])
    if any("mathjax" in s for s in sources):
        # MathJax 2 reads its text/x-mathjax-config block with eval; no student script
        # element survives the sanitiser, so eval is reachable only from trusted code.
        script.append("'unsafe-eval'")
    cdn = sorted({s for s in sources if s.startswith("http")})
    return "; ".join([
        "default-src 'self'",
        "script-src " + (" ".join(script) if script else "'none'"),
        "style-src 'self' 'unsafe-inline' " + " ".join(cdn),
        "font-src 'self' data: " + " ".join(cdn),
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]).replace("  ", " ").strip()


def csp_meta(header: str, *also_trusted: str) -> str:
    """Jinja filter for a template's header block: insert, first thing in <head>, a CSP
    meta tag built from the header's own scripts (and ``also_trusted`` template output)."""
    import html as html_module

    tag = (f'<meta http-equiv="Content-Security-Policy" '
           f'content="{html_module.escape(policy(header, *also_trusted))}">')
    header = str(header)
    match = re.search(r"<head\b[^>]*>", header, re.I)
    if match is None:
        return tag + header
    return header[:match.end()] + "\n" + tag + header[match.end():]


# --- the notebook itself ---------------------------------------------------------------

# What may stay in an output: inert types, and HTML/markdown once cleaned.
_INERT_MIME = {"text/plain", "image/png", "image/jpeg", "image/gif", "text/latex",
               "application/json", "application/vnd.convlab.grade+json"}
_CLEANED_MIME = {"text/html", "text/markdown"}
_RASTER = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _fenced(source: str, why: str) -> str:
    """``source`` as a markdown code block it cannot close early, under a note."""
    longest = max((len(run) for run in re.findall(r"~+", source)), default=0)
    fence = "~" * max(3, longest + 1)
    return f"*[{why}; shown as text.]*\n\n{fence} text\n{source}\n{fence}"


class SanitizeSubmission(Preprocessor):
    """Makes a submitted notebook inert (see the module's docstring), for every page and
    program that opens it after grading. Code cells' sources are left alone: they are
    always shown as highlighted, escaped text."""

    # nbconvert's preprocessors are off unless enabled; one named in a list means it.
    enabled = Bool(True).tag(config=True)
    max_attachment_bytes = Int(2 << 20, help="Largest attachment kept (base64 bytes)."
                               ).tag(config=True)

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        nb, resources = super().preprocess(nb, resources)
        return nb, resources

    def _markdown_is_clean(self, cell) -> bool:
        try:
            rendered = _render_markdown(cell.source, cell.get("attachments", {}))
        except Exception:
            return False
        return not active_content(rendered) and _same_tags(rendered, clean_html(rendered))

    def preprocess_cell(self, cell, resources, index):
        attachments = cell.get("attachments")
        if attachments:
            for name in list(attachments):
                bundle = attachments[name]
                kept = {k: v for k, v in bundle.items()
                        if k in _RASTER and len(str(v)) <= self.max_attachment_bytes}
                if kept:
                    attachments[name] = kept
                else:
                    del attachments[name]
        if cell.cell_type in ("markdown", "raw"):
            # Controls and bidi overrides in a reflection are shown, not obeyed.
            cell.source = visible_controls(cell.source)
        if cell.cell_type == "markdown":
            if not self._markdown_is_clean(cell):
                self.log.info("Cell %d: markdown with active content kept as text", index)
                cell.source = _fenced(cell.source, "This cell held HTML that could run or "
                                      "restyle the page; the grader removed its formatting")
                cell.pop("attachments", None)
        elif cell.cell_type == "raw":
            if active_content(cell.source) or not _same_tags(cell.source, clean_html(cell.source)):
                cell.source = clean_html(cell.source)
        elif cell.cell_type == "code":
            for output in cell.get("outputs", []):
                # Streams and errors are rendered through ansi2html: an escape sequence a
                # student's exception text carries would become styling (hidden or recoloured
                # text, a fake score). Shown as text instead.
                if "text" in output:
                    output["text"] = visible_controls(_joined(output["text"]))
                if "evalue" in output:
                    output["evalue"] = visible_controls(output["evalue"])
                if "traceback" in output:
                    output["traceback"] = [visible_controls(line) for line in output["traceback"]]
                data = output.get("data")
                if not data:
                    continue
                if "text/plain" in data:
                    data["text/plain"] = visible_controls(_joined(data["text/plain"]))
                for mime in list(data):
                    if mime in _CLEANED_MIME:
                        value = data[mime]
                        text = "".join(value) if isinstance(value, list) else str(value)
                        data[mime] = (clean_html(text) if mime == "text/html"
                                      else clean_html(_render_markdown(text)))
                        if mime == "text/markdown":  # now HTML: keep it as such
                            data.setdefault("text/html", data.pop(mime))
                    elif mime not in _INERT_MIME:
                        del data[mime]
                output.get("metadata", {}).pop("application/javascript", None)
        return cell, resources


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.items: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.items.append((tag, tuple(sorted((k, v or "") for k, v in attrs))))

    def handle_endtag(self, tag):
        self.items.append(("/" + tag,))


def _same_tags(before: str, after: str) -> bool:
    """Whether cleaning kept every tag and attribute (text re-escaping aside)."""
    a, b = _Tags(), _Tags()
    a.feed(before)
    b.feed(after)
    return [t for t in a.items if t[0] not in ("/br", "/hr", "/img")] == \
        [t for t in b.items if t[0] not in ("/br", "/hr", "/img")]
