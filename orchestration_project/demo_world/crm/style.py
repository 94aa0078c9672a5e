"""The CRM's two stylesheets: the classic top-bar design and the redesign with a side rail.

Served at ``/static/crm.css`` and ``/static/crm-v2.css``. Only presentation lives here; nothing a
browser script should depend on.
"""

from __future__ import annotations

CLASSIC_CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --brand: #2457c5; --bad: #c62828; }
* { box-sizing: border-box; }
body.app { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--ink); background: #f5f7fa; }
.skip-link { position: absolute; left: -999px; }
.skip-link:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; }
.topbar { display: flex; align-items: center; gap: 24px; padding: 10px 24px;
  background: #102a43; color: #fff; }
.topbar a { color: #fff; }
.brand { font-weight: 700; font-size: 18px; text-decoration: none; }
.mainnav { display: flex; align-items: center; gap: 16px; flex: 1; }
.mainnav form, .usermenu form { display: inline; margin: 0; }
.mainnav a[aria-current] { text-decoration: underline; font-weight: 600; }
.usermenu { display: flex; align-items: center; gap: 8px; color: #d9e2ec; }
.content { max-width: 960px; margin: 24px auto; padding: 0 24px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 20px 24px;
  margin-bottom: 16px; }
.form-group { margin: 0 0 18px; }
.form-group--error { border-left: 4px solid var(--bad); padding-left: 12px; }
.form-label, .form-legend { display: block; font-weight: 600; margin-bottom: 4px; }
.form-hint { color: var(--muted); margin: 0 0 6px; font-size: 14px; }
.form-error { color: var(--bad); font-weight: 600; margin: 0 0 6px; }
.form-control { width: 100%; max-width: 420px; padding: 8px 10px; border: 1px solid #9aa5b1;
  border-radius: 4px; font: inherit; }
.form-control[aria-invalid="true"] { border-color: var(--bad); }
.form-fieldset { border: 0; padding: 0; }
.form-check { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px; margin: 6px 0; }
.form-check-hint { flex-basis: 100%; margin: 0 0 0 24px; color: var(--muted); font-size: 13px; }
.form-actions { display: flex; align-items: center; gap: 16px; margin-top: 24px; }
.btn { font: inherit; border-radius: 4px; padding: 8px 16px; cursor: pointer; border: 0; }
.btn-primary { background: var(--brand); color: #fff; }
.btn-link { background: none; color: inherit; text-decoration: underline; padding: 0; }
.error-summary { border: 3px solid var(--bad); padding: 12px 16px; margin-bottom: 20px; }
.error-summary h2 { margin-top: 0; font-size: 18px; }
.error-summary a { color: var(--bad); }
.wizard-steps ol { display: flex; gap: 8px; list-style: none; padding: 0; margin: 0 0 16px; }
.wizard-step { padding: 6px 12px; border-radius: 999px; background: #e4e7eb; }
.wizard-step [aria-current] { font-weight: 700; color: var(--brand); }
.data-table { width: 100%; border-collapse: collapse; background: #fff; }
.data-table th, .data-table td { text-align: left; padding: 8px; border-bottom: 1px solid var(--line); }
.data-table td:first-child { white-space: nowrap; }
.data-table caption { text-align: left; color: var(--muted); padding: 4px 0; }
.notice { background: #fff3cd; border: 1px solid #f0c36d; padding: 10px 14px; border-radius: 4px; }
.review-list { display: grid; grid-template-columns: 220px 1fr; gap: 4px 16px; }
.review-list dt { color: var(--muted); }
.review-list dd { margin: 0; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
.footer { text-align: center; color: var(--muted); font-size: 13px; padding: 24px; }
"""

REDESIGN_CSS = """
:root { --fg: #17202a; --soft: #5d6d7e; --edge: #e5e8e8; --go: #0b7a5a; --bad: #b03a2e; }
* { box-sizing: border-box; }
body.shell-v2 { margin: 0; display: grid; grid-template-columns: 1fr 240px;
  grid-template-areas: "pane rail" "foot rail"; min-height: 100vh;
  font: 14px/1.6 Georgia, serif; color: var(--fg); background: #fbfcfc; }
.jump { position: absolute; top: -100px; }
.jump:focus { top: 4px; }
.rail { grid-area: rail; background: #0e6655; color: #fff; padding: 20px 16px;
  display: flex; flex-direction: column; gap: 20px; }
.rail a { color: #fff; }
.rail__logo { font-size: 20px; font-style: italic; text-decoration: none; }
.rail__menu { display: flex; flex-direction: column; gap: 10px; }
.rail__account { margin-top: auto; font-size: 13px; }
.pane { grid-area: pane; padding: 28px 40px; max-width: 900px; }
.pane__foot { grid-area: foot; padding: 12px 40px; color: var(--soft); font-size: 12px; }
.surface { border-top: 4px solid var(--go); background: #fff; padding: 18px 22px;
  margin-bottom: 18px; box-shadow: 0 1px 3px rgba(0, 0, 0, .08); }
.fld { display: grid; grid-template-columns: 200px 1fr; gap: 2px 16px; margin-bottom: 14px; }
.fld > *:not(.fld__caption) { grid-column: 2; }
.fld--bad .fld__control { outline: 2px solid var(--bad); }
.fld__caption, .fld-set__title { font-weight: 700; text-transform: uppercase; font-size: 12px;
  letter-spacing: .05em; }
.fld__help { color: var(--soft); margin: 0; font-size: 13px; }
.fld__problem { color: var(--bad); margin: 0; }
.fld__control { padding: 6px 8px; border: 0; border-bottom: 2px solid #aeb6bf; font: inherit;
  background: #f8f9f9; }
.fld-set { border: 1px dashed var(--edge); padding: 10px 14px; margin: 0 0 14px; }
.opt { display: inline-flex; align-items: baseline; gap: 6px; margin: 4px 18px 4px 0; }
.opt__note { color: var(--soft); font-size: 12px; margin: 0; }
.toolbar { display: flex; flex-direction: row; gap: 12px; justify-content: flex-end;
  margin-top: 20px; }
.action { font: inherit; border: 2px solid var(--go); padding: 6px 18px; cursor: pointer; }
.action--go { background: var(--go); color: #fff; }
.action--quiet { background: none; border-color: transparent; color: inherit; }
.problems { background: #fdedec; border-left: 6px solid var(--bad); padding: 10px 16px;
  margin-bottom: 16px; }
.stepper ol { list-style: none; counter-reset: none; display: flex; padding: 0;
  border-bottom: 1px solid var(--edge); }
.stepper__item { padding: 8px 14px; }
.stepper__item [aria-current] { border-bottom: 3px solid var(--go); font-weight: 700; }
.grid-list { width: 100%; border-spacing: 0; }
.grid-list th { background: #e8f6f3; text-align: left; padding: 6px; }
.grid-list td { padding: 6px; border-top: 1px solid var(--edge); }
.banner { background: #fef9e7; padding: 10px 14px; border: 1px solid #f7dc6f; }
.recap dt { font-weight: 700; }
.recap dd { margin: 0 0 8px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
"""

STYLESHEETS: dict[str, str] = {
    "/static/crm.css": CLASSIC_CSS,
    "/static/crm-v2.css": REDESIGN_CSS,
}
