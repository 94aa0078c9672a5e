"""Throwaway: makes site/index.html of the three holdout sites from the source copies.
Inputs (not kept here; re-fetch to re-run): kelkoo_src.html = apache/any23 any23-core/src/test/resources/
microformats/hlisting/kelkoo-full.html @998989b4 (34,050 chars, as read via read_file);
b52_src.html / bbs_src.html = formasaurus/data/html/317.html / 27.html from the PyPI wheel formasaurus 0.10.0."""
import re, pathlib
B = pathlib.Path(__file__).parent
R = B.parent

def cut(s, old, new, count=1):
    n = s.count(old)
    assert n == count, (old[:80], n)
    return s.replace(old, new)

def cut_between(s, start, end, comment, include_end=True):
    i = s.index(start); j = s.index(end, i)
    if include_end: j += len(end)
    assert s.count(start) >= 1
    return s[:i] + comment + s[j:]

# ---------------- Kelkoo ----------------
k = (B/'kelkoo_src.html').read_text()
assert len(k) == 34050
k = cut(k, '<meta http-equiv="content-type" content="text/html;charset=ISO-8859-1">',
        '<!-- realsites: the source declared charset=ISO-8859-1; this copy is UTF-8, so the declaration was changed --><meta http-equiv="content-type" content="text/html;charset=utf-8">')
k = cut_between(k, '<iframe src="http://uk.adserver.yahoo.com/a?f=2022389513&amp;p=ukkkfash&amp;l=PS&amp;', '</iframe>', '<!-- realsites: removed the "site-sponsor" Yahoo ad-server iframe -->')
k = cut_between(k, '<noscript><div>\n  <img src="/servlet/Bs?sc=no"', '</div></noscript>', '<!-- realsites: removed two 1x1 tracking pixels (/servlet/Bs, /servlet/Kelkooid) in <noscript> -->')
k = cut_between(k, '<iframe src="http://uk.adserver.yahoo.com/a?f=2022389513&amp;p=ukkkfash&amp;l=CARD&amp;', '</iframe>', '<!-- realsites: removed the "category-sponsor" Yahoo ad-server iframe -->')
k = cut_between(k, '<script type="text/javascript" charset="iso-8859-1" src="http://html.fr.kelkoo.overture.com', '}catch(e){};\n\n</script>',
                '<!-- realsites: removed the Overture/Yahoo sponsored-links loader script and the inline script that renders those third-party text ads into #yahoo-sponsored-links (~4 KB) -->')
k = cut_between(k, '<script type="text/javascript">\n\tif (window.yahooadcontent) {', '</noscript>', '<!-- realsites: removed the "lrec" 300x265 Yahoo ad slot (document.write ad script + noscript iframe) -->')
k = cut_between(k, '<script type="text/javascript">\n\tif (window.yahooadcontent) {', '</noscript>', '<!-- realsites: removed the footer Yahoo ad-server script and its 1x1 noscript iframe -->')
nc = re.sub(r'<!--.*?-->', '', k, flags=re.S); assert 'adserver' not in nc and 'overture' not in nc, 'k'
(R/'kelkoo_bodies_price_comparison/site/index.html').write_text(k)

# ---------------- B-52s ----------------
b = (B/'b52_src.html').read_text()
assert len(b) == 46633
b = cut(b, '<META http-equiv="Content-Type" content="text/html; charset=utf-16">',
        '<!-- realsites: the source declared charset=utf-16 (the stored text is not UTF-16); this copy is UTF-8, so the declaration was changed --><META http-equiv="Content-Type" content="text/html; charset=utf-8">')
b = cut(b, '<div class="ShareBoxContent"><script src="http://connect.facebook.net/en_US/all.js#xfbml=1"></script><fb:like layout="button_count" fb_ref="LIKE1831" show_faces="false" width="100" font="lucida grande" colorscheme="light" /></div>',
        '<div class="ShareBoxContent"><!-- realsites: removed the Facebook SDK script and the <fb:like> button --></div>')
b = cut_between(b, "<script type=\"text/javascript\">\n\t<!--\n\t\tvar _gaq", '</script>', '<!-- realsites: removed the Google Analytics / DoubleClick tracking script -->')
b = cut_between(b, '<div id="fb-root"></div>', "</script>", '<!-- realsites: removed the Facebook SDK (#fb-root, connect.facebook.net/en_US/all.js) -->')
b = cut_between(b, '<script type="text/javascript">\n\t\t\t\t\tFB.init({', '</script>', '<!-- realsites: removed the FB.init / share-link script -->')
nc = re.sub(r'<!--.*?-->', '', b, flags=re.S); assert 'facebook.net' not in nc and '_gaq' not in nc, 'b'
(R/'b52s_merch_store_listing/site/index.html').write_text(b)

# ---------------- Brooklyn Brew Shop ----------------
s = (B/'bbs_src.html').read_text()
assert len(s) == 39369
s = cut(s, '<script src="//cdn.optimizely.com/js/1030897634.js"></script>', '<!-- realsites: removed the Optimizely loader script (the inline customTag data above is kept) -->')
s = cut_between(s, '<!-- Kissmetrics Start -->', '<!-- Kissmetrics End -->', '<!-- realsites: removed the Kissmetrics loader script (inline _kmq.push calls further down are kept; they do nothing without it) -->')
s = cut_between(s, "<script>(function() {\n  var _fbq", '</noscript>', '<!-- realsites: removed the Facebook pixel script and its <noscript> 1x1 image -->')
s = cut_between(s, "<script>\n  (function(i,s,o,g,r,a,m){i['GoogleAnalyticsObject']", '</script>', '<!-- realsites: removed the Google Analytics (analytics.js) script -->')
s = cut_between(s, '<!-- BEGIN GOOGLE ANALYTICS CODEs -->', '<!-- END GOOGLE ANALYTICS CODE -->', '<!-- realsites: removed the Google Analytics (ga.js) script -->')
assert 'kissmetrics.com' not in s and 'google-analytics' not in s and 'fbds' not in s and 'optimizely.com' not in s
(R/'brooklynbrewshop_cider_kit_product/site/index.html').write_text(s)
print('ok')
