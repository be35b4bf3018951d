"""The app's widgets: token stream, controls, models, plots, system panel."""
