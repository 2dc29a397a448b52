"""月度服务报告: a month's figures for an area beside the previous month's, and the report as
CSV, XLSX and printable HTML (``figures``, ``export``)."""

from server.monthly.export import rows, title, to_csv, to_html, to_xlsx
from server.monthly.figures import MonthFigures, MonthlyReport, area_scope, monthly_report

__all__ = ["MonthFigures", "MonthlyReport", "area_scope", "monthly_report", "rows", "title",
           "to_csv", "to_html", "to_xlsx"]
