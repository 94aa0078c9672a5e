# Thin wrappers around scripts/ (CI calls the same scripts).
.PHONY: install demo test ui mlflow world lint format bench soak nab stack stack-down stack-status
install: ; ./scripts/install
demo: ; ./scripts/demo
test: ; ./scripts/test
ui: ; ./scripts/ui
mlflow: ; ./scripts/mlflow
world: ; uv run python -m orchestration_project world
lint: ; uv run ruff check . && uv run ruff format --check .
format: ; uv run ruff format . && uv run ruff check --fix .
bench: ; uv run python benchmarks/main_job.py
soak: ; uv run python benchmarks/soak.py
nab: ; uv run python benchmarks/nab_eval.py
stack: ; ./scripts/stack up
stack-down: ; ./scripts/stack down
stack-status: ; ./scripts/stack status
