"""Face-reconstruction risk of head CT/MR series: gates, volume, render, evidence."""
