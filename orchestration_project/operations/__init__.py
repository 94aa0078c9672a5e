"""Operations: run metadata from the Dagster instance into the warehouse, alerting, incidents
and self-healing (classification, remedies, circuit breakers, reports), fault injection."""
