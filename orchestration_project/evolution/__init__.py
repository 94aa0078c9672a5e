"""Workflow evolution: versions of code and of the logic inputs (rules, prompts, mappings,
models, detector config), versioned warehouse migrations, backward-compatible run configs, and
gradual rollout of new versions with statistical promotion and automatic rollback."""
