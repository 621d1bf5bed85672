"""Views of the findings stream: report.json now; csv, html, sarif later."""
