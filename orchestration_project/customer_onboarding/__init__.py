"""Customer onboarding: intake records become CRM accounts, created by a browser agent that
fills the CRM's onboarding form as a declarative YAML form mapping describes it."""
