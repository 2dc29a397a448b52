// The console's views beside the alert queue: each feature registers one here (its module, the
// roles that see its tab) and keeps its strings (i18n.extend) and markup in its own files.
//
// A view module exports a class built as ``new View(section, ctx)`` with ``enter(path)`` (the
// tab is shown; ``path`` is what follows ``#/<name>/`` in the address), ``translate()`` (the
// language changed) and ``reset()`` (signed out). ``ctx``: ``me()``, ``toast(text, kind)``,
// ``merged(summary)``, ``tick()``, ``go(hash)``.

import { CareCallsView } from "./carecalls.js";
import { DashboardView } from "./dashboard.js";
import { MaintenanceView } from "./maintenance.js";
import { AccessLogView } from "./access_log.js";
import { ProvisioningView } from "./provisioning.js";
import { ReportsView } from "./reports.js";
import { ResidentsView } from "./residents/view.js";
import { UsersView } from "./users.js";
import { VisitsView } from "./visits.js";

/** { name, tab (i18n key), roles (null: everyone), View, css (optional stylesheet, e.g.
 * "css/technician.css") } in tab order; the tab's testid is ``tab-<name>``, the section's
 * ``<name>``. */
export const VIEWS = [
  { name: "dashboard", tab: "tab.dashboard", roles: ["operator", "supervisor", "admin", "auditor"],
    View: DashboardView, css: "css/dashboard.css" },
  { name: "reports", tab: "tab.reports", roles: ["supervisor", "admin"], View: ReportsView },
  { name: "residents", tab: "tab.residents", roles: ["operator", "supervisor", "admin", "technician"],
    View: ResidentsView, css: "css/residents.css" },
  { name: "users", tab: "tab.users", roles: ["admin", "supervisor", "auditor"], View: UsersView,
    css: "css/users.css" },
  { name: "provisioning", tab: "tab.provisioning", roles: ["technician", "supervisor", "admin"],
    View: ProvisioningView, css: "css/provisioning.css" },
  { name: "carecalls", tab: "tab.carecalls", roles: ["operator", "supervisor", "admin"],
    View: CareCallsView, css: "css/carecalls.css" },
  { name: "visits", tab: "tab.visits", roles: ["visitor", "operator", "supervisor", "admin"],
    View: VisitsView, css: "css/visits.css" },
  { name: "maintenance", tab: "tab.maintenance", roles: ["technician", "supervisor", "admin"],
    View: MaintenanceView, css: "css/maintenance.css" },
  { name: "access", tab: "tab.access", roles: ["supervisor", "admin", "auditor"], View: AccessLogView,
    css: "css/access.css" },
];

export function allowed(view, me) {
  return !view.roles || view.roles.includes(me?.role);
}
