"""references.bib: one BibTeX entry per paper the brief numbers, for Zotero or a LaTeX paper."""

from __future__ import annotations

import re

from tasks.models import Paper, Report

# BibTeX's special characters; braces are dropped rather than escaped, so no entry can be unbalanced.
_SPECIAL = {"\\": "", "{": "", "}": "", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "~": "", "^": ""}
_ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}$|^[a-z-]+(?:\.[A-Z]{2})?/\d{7}$")


def escape(text: str) -> str:
    """Text safe inside a braced BibTeX field."""
    return "".join(_SPECIAL.get(ch, ch) for ch in " ".join(text.split()))


def cite_key(paper: Paper, number: int) -> str:
    """A stable key: first author's surname, year, and the brief's reference number (ref3 when no author)."""
    surname = re.sub(r"[^A-Za-z]", "", paper.first_surname)
    year = (paper.published or "")[:4]
    return f"{surname.lower() or 'ref'}{year if year.isdigit() else ''}_{number}"


def entry(paper: Paper, number: int) -> str:
    """The paper as an @article (with eprint fields for an arXiv id) or @misc entry."""
    # BibTeX writes authors a source left unnamed as "and others"
    authors = [escape(name) for name in paper.author_names]
    authors += ["others"] if authors and paper.unnamed_authors else []
    fields = {"title": f"{{{escape(paper.title)}}}", "author": " and ".join(authors)}
    year = (paper.published or "")[:4]
    if year.isdigit():
        fields["year"] = year
    if _ARXIV_ID.match(paper.id):
        fields |= {"eprint": paper.id, "archiveprefix": "arXiv", "journal": f"arXiv preprint arXiv:{paper.id}"}
    fields["url"] = paper.link
    kind = "article" if "journal" in fields else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items() if value)
    return f"@{kind}{{{cite_key(paper, number)},\n{body}\n}}\n"


def references_bib(report: Report, numbers: dict[str, int]) -> str:
    """Every numbered paper of the brief, in reference order."""
    papers = {rp.paper.id: rp.paper for rp in [*report.candidates, *report.draft.papers]}
    ordered = sorted(numbers.items(), key=lambda item: item[1])
    return "\n".join(entry(papers[pid], number) for pid, number in ordered if pid in papers)
