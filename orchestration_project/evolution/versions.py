"""Versions of what produces the platform's data: each asset group's code and the logic inputs
it reads (extraction rules, form mappings, briefs, process definitions, journeys, the detector).

Every version is a content hash, so it is the same in every process and on every machine that
has the same files, and it changes exactly when what it covers changes. An asset's Dagster
``code_version`` is the package version plus the hash of its group's code and logic inputs;
Dagster derives data versions from it and from the upstream data versions, so a changed rule
set marks everything downstream of it as stale in the UI.
"""

import hashlib
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The logic inputs that change what agents produce, besides the code: each is versioned by the
# hash of its content (a file, or a folder of sources such as the extraction rules).
LOGIC_INPUTS: dict[str, str] = {
    "extraction rules": "orchestration_project/research/extraction",
    "form mapping (demo CRM)": "orchestration_project/customer_onboarding/mappings/demo_crm.yaml",
    "CRM catalogue": "orchestration_project/customer_onboarding/catalogue.yaml",
    "content briefs": "orchestration_project/content_marketing/default_briefs.yaml",
    "process: invoice approval": (
        "orchestration_project/business_processes/processes/invoice_approval.yaml"
    ),
    "process: onboarding exception": (
        "orchestration_project/business_processes/processes/onboarding_exception.yaml"
    ),
    "site QA journeys": "orchestration_project/demo_world/qa_journeys.yaml",
    "anomaly detector": "ml/anomaly.py",
    "rollouts": "orchestration_project/evolution/rollouts.yaml",
    "Dagster instance": "dagster.yaml",
}

# Shared code every group runs on: a change here changes every group's code version.
_SHARED = ("orchestration_project/agents", "orchestration_project/common", "resources")

# Per asset group: its Dagster wrappers, its domain package and the logic inputs it reads.
GROUP_SOURCES: dict[str, tuple[str, ...]] = {
    "market_research": (
        "assets/market_research",
        "orchestration_project/research",
        "ml/routing.py",
        "ml/bandit.py",
        "ml/route_success.py",
    ),
    "canary": ("assets/canary", "orchestration_project/research"),
    "operations": ("assets/operations", "orchestration_project/operations", "ml"),
    "optimization": ("assets/optimization", "orchestration_project/optimization", "ml"),
    "content_marketing": (
        "assets/content_marketing",
        "orchestration_project/content_marketing",
        "ml/experiments",
    ),
    "customer_onboarding": (
        "assets/customer_onboarding",
        "orchestration_project/customer_onboarding",
    ),
    "business_processes": ("assets/business_processes", "orchestration_project/business_processes"),
    "site_qa": ("assets/site_qa", "orchestration_project/site_qa"),
    "evolution": ("assets/evolution", "orchestration_project/evolution", "ml/experiments"),
}

# Which logic inputs each group reads (reported beside the code version; already inside the
# code hash when they live in the group's folders).
GROUP_LOGIC_INPUTS: dict[str, tuple[str, ...]] = {
    "market_research": ("extraction rules", "rollouts"),
    "canary": ("extraction rules",),
    "operations": ("anomaly detector", "Dagster instance"),
    "customer_onboarding": ("form mapping (demo CRM)", "CRM catalogue"),
    "content_marketing": ("content briefs",),
    "business_processes": ("process: invoice approval", "process: onboarding exception"),
    "site_qa": ("site QA journeys",),
    "evolution": ("rollouts",),
}

_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".html", ".j2")


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.suffix in _SUFFIXES and "__pycache__" not in p.parts
    )


def content_version(path: Path, *more: Path) -> str:
    """The first 12 hex digits of the SHA-256 of files and folders (each folder's source and
    config files: relative names and contents, in name order); ``missing`` when none exists."""
    paths = [p for p in (path, *more) if p.exists()]
    if not paths:
        return "missing"
    digest = hashlib.sha256()
    for root in paths:
        for f in _files(root):
            digest.update(str(f.relative_to(root.parent)).encode())
            digest.update(b"\0")
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def logic_versions(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """Every logic input's content version, by name."""
    return {name: content_version(root / rel) for name, rel in LOGIC_INPUTS.items()}


def group_logic_versions(group: str, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The versions of the logic inputs one asset group reads."""
    return {
        name: content_version(root / LOGIC_INPUTS[name])
        for name in GROUP_LOGIC_INPUTS.get(group, ())
    }


def code_version(group: str, package_version: str, root: Path = PROJECT_ROOT) -> str:
    """An asset group's code version: ``<package version>+<hash>`` over the group's wrappers,
    its domain package, the shared agent runtime and resources, and its logic inputs. Groups
    not listed hash only the shared code."""
    parts = [*GROUP_SOURCES.get(group, ()), *_SHARED]
    parts += [LOGIC_INPUTS[n] for n in GROUP_LOGIC_INPUTS.get(group, ())]
    digest = content_version(*(root / p for p in parts))
    return f"{package_version}+{digest}"


def code_versions(
    groups: list[str] | tuple[str, ...], package_version: str, root: Path = PROJECT_ROOT
) -> Mapping[str, str]:
    """Code versions of several groups, computed once each."""
    return {g: code_version(g, package_version, root) for g in dict.fromkeys(groups)}
