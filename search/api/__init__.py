"""The read side's REST API, version 1: similar photos and searches with a new photo or a region.
URLs in search.api.urls, included by gallery.config.api_urls under /api/v1/."""
