"""Read an HTML page the way a reader sees it: headings, table rows as cell texts, and the
classes set inside each row, so tests assert on content rather than on exact markup."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """`tags` (every start tag), `urls` (src/href values), `headings` (h1..h3 texts) and
    `rows` (per table row: its cell texts, the CSS classes used inside it and the cells of its
    table's first row, the header)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.headings: list[str] = []
        self.rows: list[tuple[list[str], set[str], list[str]]] = []
        self._header: list[str] = []
        self._text: list[str] | None = None
        self._heading: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag == "table":
            self._header = []
        elif tag == "tr":
            cells: list[str] = []
            self._header = self._header or cells
            self.rows.append((cells, set(), self._header))
        elif tag in ("td", "th"):
            self._text = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        if self.rows and self._text is not None:
            for k, v in attrs:
                if k == "class" and v:
                    self.rows[-1][1].update(v.split())

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._text is not None and self.rows:
            self.rows[-1][0].append("".join(self._text).strip())
            self._text = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        for sink in (self._text, self._heading):
            if sink is not None:
                sink.append(data)

    def _find(self, first: str, column: str | None) -> tuple[list[str], set[str], list[str]]:
        for found in self.rows:
            cells, _, header = found
            if cells and cells[0] == first and cells is not header and (
                    column is None or column in header):
                return found
        raise AssertionError(f"no table row starts with {first!r}"
                             + (f" in a table with a {column!r} column" if column else ""))

    def row(self, first: str, column: str | None = None) -> list[str]:
        """The cells of the first row whose first cell reads `first` (in a table with a
        `column` header when given)."""
        return self._find(first, column)[0]

    def classes(self, first: str, column: str | None = None) -> set[str]:
        """The CSS classes used inside that row."""
        return self._find(first, column)[1]
