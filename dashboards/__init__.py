"""Dash pages for comms leads, HR and executives; they read materialised aggregates only."""
