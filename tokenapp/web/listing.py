"""Search, sort and pages for the lists on the pages (tokens, keys, members).

Read from the query string and never trusted: an unknown sort is the
default one, a page number that is not a small positive integer is page 1.
"""

from dataclasses import dataclass

from flask import request
from flask import url_for

from ..query import query_int

MAX_PAGE = 100_000
QUERY_MAX = 100


@dataclass(frozen=True)
class Listing:
    q: str
    sort: str
    page: int
    per_page: int

    @classmethod
    def from_request(cls, sorts: dict, per_page: int = 25) -> "Listing":
        q = request.args.get("q", "").strip()[:QUERY_MAX]
        sort = request.args.get("sort", "")
        return cls(
            q=q,
            sort=sort if sort in sorts else next(iter(sorts)),
            page=query_int("page", 1, 1, MAX_PAGE, clamp=True),
            per_page=per_page,
        )

    def search(self, query, *fields):
        """Rows whose fields contain q (peewee: case-insensitive, % and _ taken literally)."""
        if not self.q:
            return query
        condition = None
        for field in fields:
            match = field.contains(self.q)
            condition = match if condition is None else condition | match
        return query.where(condition)

    def page_of(self, query, sorts: dict) -> tuple[list, bool]:
        """This page's rows in the chosen order, and whether a next page exists."""
        rows = list(
            query.order_by(*sorts[self.sort])
            .offset((self.page - 1) * self.per_page)
            .limit(self.per_page + 1)
        )
        return rows[: self.per_page], len(rows) > self.per_page

    def url(self, **changes) -> str:
        """This page's URL with some arguments changed (None drops one)."""
        args = {"q": self.q or None, "sort": self.sort, "page": self.page, **changes}
        args = {name: value for name, value in args.items() if value not in (None, "", 1)}
        return url_for(request.endpoint, **request.view_args, **args)
