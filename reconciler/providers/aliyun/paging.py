"""Reading a whole voice list page by page, the one loop both enrollment families share.

The service may serve fewer voices per page than asked for, so a short page proves nothing: a list ends
with an empty page, or (Qwen) once `total_count` voices were read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from reconciler.errors import ProviderError
from reconciler.providers.aliyun.ratelimit import RetryPolicy

PAGE_SIZE = 100  # asked for; the service may serve fewer
# The service keeps at most 1000 voices per account, so even pages of 10 end well before this.
MAX_PAGES = 200

Page = tuple[list[dict[str, Any]], int | None]  # the page's items and the total count, when the API gives one


def paged(
    fetch: Callable[[int], Page],
    policy: RetryPolicy,
    *,
    key: str,
    what: str,
    enough: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Every item of a paged list: pages 0, 1, ... until an empty page or `total` items.

    `enough(items)` may end the reading early (the caller has seen all it looks for). A server that ignores
    `page_index` would serve the first page forever: a page whose first item was already read stops that."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index in range(MAX_PAGES):
        page, total = policy.call(partial(fetch, index))
        if not page:
            return items
        first = str(page[0].get(key))
        if first in seen:
            raise ProviderError(f"listing {what}: page {index} repeats an earlier page; the list cannot be read")
        seen.update(str(item.get(key)) for item in page)
        items.extend(page)
        if isinstance(total, int) and len(items) >= total:
            return items
        if enough is not None and enough(items):
            return items
    raise ProviderError(f"listing {what} did not end after {MAX_PAGES} pages")
