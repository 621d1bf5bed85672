"""Views of the findings: report.json, findings.csv, report.sarif, report.html."""
