"""One run over URLs: fetch each (conditionally), tell what it is, read a feed's or sitemap's
entries, fetch the pages not already indexed, and hand back accepted articles — plus the state
to save once the index holding them is published (``commit``).

Rules kept here:
- an entry already indexed at the same version (the feed's updated/published stamp, a sitemap's
  lastmod) is not fetched again; the same page linked from two feeds is fetched once;
- a page that cannot be fetched or extracted falls back to the entry's own content (a warning
  names the page and why); the entry's date is the article's unless the page states one;
- ``source`` is the followed source's name, else the feed's title, else the site's name;
- a feed's validators are saved only when every entry it lists is done, so a 304 never hides an
  entry that still has to be read; a failing entry is tried in ``feed_entry_attempts`` runs, then
  left until the feed updates it;
- every failure is one error naming the URL; nothing stops the other URLs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from itertools import zip_longest

from qa.errors import InputError
from qa.feeds.detect import NotReadable, detect
from qa.feeds.fetch import Fetcher, FetchError, Response, Validators
from qa.feeds.parse import Entry, Listing, ParseError, entry_article, page_article, read_feed, read_sitemap
from qa.feeds.report import FeedReport, FeedResult, FetchProgress
from qa.feeds.state import Changes, EntryState, FetchState
from qa.feeds.urls import canonical_url, host_of
from qa.ingest import accept
from qa.ingest.loaders import RawArticle
from qa.progress import NoProgress
from qa.settings import Settings
from qa.types import Article

MAX_CHILD_SITEMAPS = 20  # a sitemap index's newest sitemaps read per run


@dataclass(frozen=True)
class Target:
    """A URL to read: ``name`` is a followed source's name; ``feed_expected``: it was followed as a
    feed or sitemap, so an HTML page there is an error (naming the feeds it links), not an article."""

    url: str
    name: str = ""
    feed_expected: bool = False


_Got = Response | FetchError | RawArticle | InputError | None  # what fetching one URL came to
_Listed = tuple[str, Listing, "Target"]  # (the feed's URL, what it lists, the target it came from)


@dataclass
class _Wanted:
    """An entry whose page is to be fetched, with every feed that lists it."""

    entry: Entry  # as the first feed listing it has it
    feeds: list[tuple[str, Listing, Target, Entry]] = field(default_factory=list)  # each feed with its own entry


class Crawl:
    def __init__(
        self,
        settings: Settings,
        report: FeedReport,
        *,
        hosts: Iterable[str] | None = None,
        progress: FetchProgress | None = None,
        published_at: date | None = None,
        override_published_at: date | None = None,
        source: str | None = None,
    ):
        self.settings = settings
        self.report = report
        self.progress: FetchProgress = progress or NoProgress()
        self.dates = {"published_at": published_at, "override_published_at": override_published_at, "source": source}
        self.fetcher = Fetcher(settings, hosts=None if hosts is None else list(hosts))
        self.state = FetchState(settings.resolved_index())
        self.changes = Changes()
        self.indexed = published_ids(settings)
        self.articles: list[Article] = []
        self._listed: dict[str, Validators] = {}  # feed → its validators, saved once all its entries are done
        self._open: dict[str, int] = {}  # feed → its entries not done yet
        self._known: dict[str, dict[str, EntryState]] = {}  # feed → its entries' saved states

    def close(self) -> None:
        self.fetcher.close()
        self.state.close()

    def commit(self) -> None:
        """Save what this run learned; call after the index holding its articles is published."""
        self.state.save(self.changes)

    # ------------------------------------------------------------ the run
    def collect(self, targets: Iterable[Target]) -> list[Article]:
        """Accepted articles of ``targets``; every problem is in the report."""
        unique = list({canonical_url(t.url): t for t in targets}.values())
        self.progress.feeds_planned(len(unique))
        listings: list[tuple[str, Listing, Target]] = []
        for target, got in zip(unique, self._fetch_all([(t.url, self._validators(t.url)) for t in unique])):
            listings += self._top(target, got)
        children = [(t, child) for url, listing, t in listings if listing.kind == "sitemap index"
                    for child in listing.newest(MAX_CHILD_SITEMAPS)]
        fetched_children = self._fetch_all([(c.link, self._validators(c.link)) for _, c in children])
        for (target, child), got in zip(children, fetched_children):
            listings += self._child(target, child.link, got)
        wanted = self._wanted([item for item in listings if item[1].kind != "sitemap index"])
        jobs = _interleaved(list(wanted.values()))
        pages = self._fetch_all([(w.entry.link, self._page_validators(w)) for w in jobs], extract=True)
        for item, got in zip(jobs, pages):
            self._entry_done(item, got)
        return self.articles

    # ------------------------------------------------------------ fetching
    def _validators(self, url: str) -> Validators:
        validators, doc_id = self.state.validators(url)
        return validators if doc_id is None or doc_id in self.indexed else Validators()

    def _page_validators(self, wanted: _Wanted) -> Validators:
        validators, doc_id = self.state.validators(wanted.entry.link)
        return validators if doc_id is not None and doc_id in self.indexed else Validators()

    def _fetch_all(self, jobs: list[tuple[str, Validators]], *, extract: bool = False) -> Iterator[_Got]:
        """Fetch (and, for pages, extract) in parallel; results in ``jobs`` order, each as soon as
        it and those before it are done (so progress moves while the rest are fetched)."""
        if not jobs:
            return

        def one(job: tuple[str, Validators]) -> Response | FetchError | RawArticle | InputError | None:
            url, validators = job
            if not url:
                return None  # an entry without a page: its feed's content is all there is
            try:
                got = self.fetcher.get(url, validators=validators)
            except FetchError as e:
                return e
            if not extract or got.not_modified:
                return got
            return _extracted(got)

        with ThreadPoolExecutor(min(self.settings.fetch_workers, len(jobs))) as pool:
            yield from pool.map(one, jobs)

    def _count(self, got: Response) -> None:
        if got.not_modified:
            self.report.not_modified += 1
        else:
            self.report.fetched += 1

    # ------------------------------------------------------------ what a top URL is
    def _top(self, target: Target, got: _Got) -> list[_Listed]:
        url = target.url
        if isinstance(got, FetchError):
            self._failed(url, str(got), feed=target.feed_expected, target=target)
            return []
        assert isinstance(got, Response)
        self._count(got)
        if got.not_modified:
            _, doc_id = self.state.validators(url)
            if doc_id is None:
                self.report.feeds.append(FeedResult(url, target.name, status="not_modified"))
            else:
                self.report.unchanged += 1
                self.progress.entry_done("unchanged")
            self.progress.feed_done(url)
            return []
        try:
            kind = detect(got)
        except NotReadable as e:
            self._failed(url, str(e), feed=target.feed_expected, target=target)
            return []
        if kind == "page":
            if target.feed_expected:
                self._failed(url, _html_instead_of_feed(got), feed=True, target=target)
                return []
            self._page(target, got)
            self.progress.feed_done(url)
            return []
        return self._listing(target, url, got)

    def _child(self, target: Target, url: str, got: _Got) -> list[_Listed]:
        if isinstance(got, FetchError):
            self._failed(url, str(got), feed=True, target=target)
            return []
        assert isinstance(got, Response)
        self._count(got)
        if got.not_modified:
            self.report.feeds.append(FeedResult(url, target.name, status="not_modified"))
            return []
        return self._listing(target, url, got, nested=True)

    def _listing(self, target: Target, url: str, got: Response, *, nested: bool = False) -> list[_Listed]:
        try:
            kind = detect(got)
            if kind == "page":
                raise ParseError(_html_instead_of_feed(got))
            listing = read_feed(got.body, got.final_url, got.content_type) if kind == "feed" else read_sitemap(got.body, got.final_url)
            if nested and listing.kind == "sitemap index":
                raise ParseError("a sitemap index inside a sitemap index is not followed")
        except (NotReadable, ParseError) as e:
            self._failed(url, str(e), feed=True, target=target)
            return []
        for warning in listing.warnings:
            self.report.warn(url, warning)
        result = FeedResult(url, target.name or listing.title, listing.kind, "fetched",
                            len(listing.sitemaps) if listing.kind == "sitemap index" else len(listing.entries))
        self.report.feeds.append(result)
        if listing.kind == "sitemap index":  # always read: its validators could hide a sitemap's new entries
            listing.entries = [Entry(link=u, key=canonical_url(u)) for u in listing.sitemaps]
        else:
            self._listed[url] = got.validators
        self.progress.feed_done(url)
        return [(url, listing, target)]

    # ------------------------------------------------------------ entries
    def _wanted(self, listings: list[_Listed]) -> dict[str, _Wanted]:
        """The entries to read in this run, each once however many feeds list it."""
        wanted: dict[str, _Wanted] = {}
        cap, attempts = self.settings.feed_max_entries, self.settings.feed_entry_attempts
        for url, listing, target in listings:
            known = self._known[url] = self.state.entries_of(url)
            chosen_keys = {e.key for e in listing.newest(cap)}
            result = next(r for r in reversed(self.report.feeds) if r.url == url)
            left = 0
            for entry in listing.entries:
                was = known.get(entry.key)
                if was is None and entry.key in self.indexed:  # first seen here, indexed from elsewhere
                    was = self.changes.entries[(url, entry.key)] = EntryState(entry.version, entry.key, 0)
                done = was is not None and was.version == entry.version and (
                    (was.doc_id is not None and was.doc_id in self.indexed) or was.failures >= attempts)
                if done:
                    if entry.key in chosen_keys and was is not None and was.doc_id is not None:
                        self.report.unchanged += 1
                        self.progress.entry_done("unchanged")
                    continue
                if entry.key not in chosen_keys:
                    left += 1  # beyond this run's cap: the next run reads it
                    continue
                for warning in entry.warnings:
                    self.report.warn(entry.link or url, warning)
                item = wanted.setdefault(entry.key, _Wanted(entry))
                item.feeds.append((url, listing, target, entry))
                if entry.link:
                    result.fetched += 1
                left += 1
            self._open[url] = left
            self._close_feed(url)
        return wanted

    def _close_feed(self, url: str) -> None:
        """Once every entry of a feed is done, its validators may be saved (a 304 hides nothing)."""
        if self._open.get(url) == 0 and url in self._listed:
            self.changes.validators[url] = (self._listed.pop(url), None)

    def _entry_done(self, wanted: _Wanted, got: _Got) -> None:
        """An entry's page is fetched (or failed, or unchanged): make its article, note its state."""
        entry = wanted.entry
        feed_url, listing, target, _ = wanted.feeds[0]
        if isinstance(got, Response):  # 304: the indexed page is current
            self._count(got)
            _, doc_id = self.state.validators(entry.link)
            self.report.unchanged += 1
            self.progress.entry_done("unchanged")
            self._entry_state(wanted, doc_id, ok=True)
            return
        if isinstance(got, (RawArticle, InputError)):
            self.report.fetched += 1  # a page came (extracted or not)
        raw: RawArticle | None = got if isinstance(got, RawArticle) else None
        transient = isinstance(got, FetchError) and got.transient
        if raw is None:
            reason = str(got or "")
            try:
                raw = entry_article(entry, feed_url)
            except InputError as e:
                self._failed(entry.link or feed_url, f"{reason}; and the feed carries no text for this entry"
                             if entry.link else str(e), feed=False)
                self._entry_state(wanted, None, ok=False)
                return
            if entry.link and got is not None:
                self.report.warn(entry.link, f"page not used ({reason}); indexed from the feed's own content")
        elif entry.link:
            self.changes.validators[entry.link] = (raw.extra.pop("validators"), raw.doc_id)
        if raw.published_at is None:
            raw.published_at = entry.published
        raw.title = entry.title or raw.title  # a feed's headline carries no " - Site name" suffix
        raw.source = target.name or listing.title or entry.source or raw.source
        raw.path = feed_url
        article = self._accept(raw, entry.link or feed_url)
        self._entry_state(wanted, article.doc_id if article else None, ok=article is not None and not transient)

    def _entry_state(self, wanted: _Wanted, doc_id: str | None, *, ok: bool) -> None:
        for feed_url, _, _, entry in wanted.feeds:
            was = self._known[feed_url].get(entry.key)
            failures = 0 if ok else (was.failures + 1 if was and was.version == entry.version else 1)
            self.changes.entries[(feed_url, entry.key)] = EntryState(entry.version, doc_id if ok else None, failures)
            if ok or failures >= self.settings.feed_entry_attempts:
                self._open[feed_url] -= 1
                self._close_feed(feed_url)

    # ------------------------------------------------------------ pages
    def _page(self, target: Target, got: Response) -> None:
        """A URL that is an article page."""
        raw = _extracted(got)
        if isinstance(raw, InputError):
            self._failed(target.url, str(raw), feed=False)
            return
        validators = raw.extra.pop("validators")
        raw.path = target.url
        article = self._accept(raw, target.url)
        if article is not None:
            self.changes.validators[target.url] = (validators, article.doc_id)

    def _accept(self, raw: RawArticle, name: str) -> Article | None:
        article = accept(raw, name, self.settings, self.report, **self.dates)  # type: ignore[arg-type]
        self.progress.entry_done("new" if article is not None else "failed")
        if article is not None:
            self.articles.append(article)
        return article

    def _failed(self, url: str, message: str, *, feed: bool, target: Target | None = None) -> None:
        self.report.error(InputError(url, message))
        if feed:
            self.report.feeds.append(FeedResult(url, target.name if target else "", status="failed", error=message))
            self.progress.feed_done(url)
        else:
            self.progress.entry_done("failed")


def _extracted(got: Response) -> RawArticle | InputError:
    """The article of a fetched page, named by its canonical URL (its validators kept in
    ``extra`` for the state)."""
    try:
        kind = detect(got)
        if kind != "page":
            return InputError(got.url, f"a {kind} where an article page was expected")
        raw = page_article(got.body, got.final_url)
    except NotReadable as e:
        return InputError(got.url, str(e))
    except InputError as e:
        return InputError(got.url, str(e))
    except Exception as e:  # noqa: BLE001 — an extractor bug costs this page only
        return InputError(got.url, f"{type(e).__name__}: {e}")
    raw.extra["validators"] = got.validators
    return raw


def _html_instead_of_feed(got: Response) -> str:
    """The error for an HTML page where a feed was expected, naming the feeds it links."""
    from trafilatura.feeds import FeedParameters, determine_feed

    try:
        links = determine_feed(got.body.decode("utf-8", "replace"), FeedParameters(got.final_url, host_of(got.final_url), got.final_url, False, None))
    except Exception:  # noqa: BLE001 — the hint is optional
        links = []
    hint = f" (it links these feeds: {', '.join(links[:3])})" if links else ""
    return f"an HTML page where a feed or sitemap was expected{hint}"


def _interleaved(items: list[_Wanted]) -> list[_Wanted]:
    """Round-robin over hosts, so one slow host does not hold the others' turns."""
    by_host: dict[str, list[_Wanted]] = defaultdict(list)
    for item in items:
        if item.entry.link:
            by_host[host_of(item.entry.link)].append(item)
    linked = [w for group in zip_longest(*by_host.values()) for w in group if w is not None]
    return linked + [w for w in items if not w.entry.link]


def published_ids(settings: Settings) -> set[str]:
    """The ids (documents and recorded duplicates) the published index holds."""
    from qa.index.catalog import Catalog
    from qa.index.generations import Generations

    generations = Generations(settings.resolved_index())
    with generations.reading():
        gen = generations.current()
        if gen is None:
            return set()
        catalog = Catalog(gen)
        try:
            return set(catalog.hashes()) | set(catalog.aliases())
        finally:
            catalog.close()

