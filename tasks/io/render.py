"""The brief rendered: Markdown and HTML from the Jinja templates, PDF through WeasyPrint (data: URLs only)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from tasks.brief import brief_context, cite_links, md_escape, md_url
from tasks.io.latex import plain_text
from tasks.models import Report

TEMPLATES = Path(__file__).parent / "templates"


class DataOnlyFetcher(URLFetcher):
    """WeasyPrint fetcher that serves data: URLs only, so text in a paper can never make it fetch."""

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        """Fetch a data: URL; refuse everything else."""
        if not url.lower().startswith("data:"):
            raise ValueError(f"refused to fetch {url!r}: only data: URLs are allowed")
        return super().fetch(url, headers)


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md_escape=md_escape, md_url=md_url, cite_links=cite_links, plain=plain_text)
    return env


_HTML_ENV = _environment(autoescape=True)
_MD_ENV = _environment(autoescape=False)


def render_markdown(report: Report) -> str:
    """The brief as Markdown; text from papers is escaped so it can never become markup."""
    return _MD_ENV.get_template("brief.md.j2").render(brief_context(report))


def render_html(report: Report) -> str:
    """The brief as a self-contained HTML page (inline CSS), autoescaped."""
    return _HTML_ENV.get_template("brief.html.j2").render(brief_context(report))


def render_pdf(html: str) -> bytes:
    """PDF of the HTML; the renderer may fetch data: URLs only."""
    return HTML(string=html, url_fetcher=DataOnlyFetcher()).write_pdf()
