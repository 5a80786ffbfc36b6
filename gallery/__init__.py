"""The gallery app (photos, albums, uploads, accounts; app label "gallery") and, beside it, the
project configuration (gallery.config) and the platform every app runs on (gallery.platform).
docs/architecture.md draws the layout."""
