"""Plain Flask routes next to the Dash pages (file downloads)."""
