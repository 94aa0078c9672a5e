"""Market research: the crawler (link following, relevance, routed fetch), generic extraction
of products, prices, features, ratings and reviews (``extraction``), scoring against a ground
truth (``evaluation``) and the market report (``reporting``)."""
