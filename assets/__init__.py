"""Domain asset groups; each module exports its assets and the checks beside them."""
