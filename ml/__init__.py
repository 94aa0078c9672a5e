"""Pure model and statistics code, testable without Dagster (routing, anomaly detection and forecasting arrive with later issues)."""
