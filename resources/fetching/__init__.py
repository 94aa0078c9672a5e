"""Safe web fetching for agents: a plain HTTP fetcher and a real browser (Playwright on
Chromium), both behind the same ``UrlPolicy``, time-outs and size caps.

Scraped content is data, never instructions: these fetchers only bring pages back. Neither
raises for what a web page or the network does wrong: every problem becomes a ``FetchResult``
outcome with a clear error (``timeout``, ``too_large``, ``not_found``, ``http_error``,
``redirect_loop``, ``too_many_redirects``, ``non_html``, ``blocked``, ``error``), so one bad page
never stops a crawl.

The package's modules: :mod:`.result` (``FetchResult``, ``OUTCOMES``), :mod:`.common` (media
types, user agents, response checks shared by both routes), :mod:`.http` (``HttpFetcher``),
:mod:`.chromium` (``find_chromium``, ``BrowserNotAvailableError``), :mod:`.browser`
(``BrowserFetcher``) and :mod:`.browser_session` (``BrowserSession``). Import from the package:
``__all__`` is the public API, and the shared helpers are re-exported here too.
"""

from resources.fetching.browser import BrowserFetcher
from resources.fetching.browser_session import BrowserSession
from resources.fetching.chromium import CHROMIUM_ARGS as CHROMIUM_ARGS
from resources.fetching.chromium import CHROMIUM_CANDIDATES as CHROMIUM_CANDIDATES
from resources.fetching.chromium import INSTALL_HINT as INSTALL_HINT
from resources.fetching.chromium import BrowserNotAvailableError, find_chromium
from resources.fetching.common import BROWSER_USER_AGENT as BROWSER_USER_AGENT
from resources.fetching.common import HTML_TYPES as HTML_TYPES
from resources.fetching.common import USER_AGENT as USER_AGENT
from resources.fetching.common import announced_length as announced_length
from resources.fetching.common import media_type as media_type
from resources.fetching.common import status_error as status_error
from resources.fetching.common import status_outcome as status_outcome
from resources.fetching.http import HttpFetcher
from resources.fetching.result import OUTCOMES as OUTCOMES
from resources.fetching.result import FetchResult
from resources.url_policy import BlockedUrlError, UrlPolicy

__all__ = [
    "BlockedUrlError",
    "BrowserFetcher",
    "BrowserNotAvailableError",
    "BrowserSession",
    "FetchResult",
    "HttpFetcher",
    "UrlPolicy",
    "find_chromium",
]
