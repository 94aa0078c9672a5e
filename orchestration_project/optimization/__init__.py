"""Optimisation domain: models trained on the platform's own run metadata that change how the
next runs behave (today: a model of each fetch route's success, the bandit router's prior)."""
