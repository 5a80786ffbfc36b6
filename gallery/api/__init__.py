"""The gallery's REST API, version 1: photos, public photos, albums and resumable uploads (and the
sign-in tokens of gallery.accounts.api). URLs in gallery.api.urls; the project's API URLconf
(gallery.config.api_urls) puts them next to the other apps' under /api/v1/."""
