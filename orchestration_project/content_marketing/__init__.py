"""Content marketing: briefs → drafts per strategy (templated, built from the market-research
facts, written by an LLM when one is configured) → channel outputs (blog, e-mail, social, each
with its own rules) → content checks that block publication → publication → A/B experiments of
the strategies → the promoted strategy.

Pure domain code: no Dagster. The language engine is passed in (anything with ``write``), so
the domain never needs to know whether it is the offline engine or an LLM endpoint.
"""
