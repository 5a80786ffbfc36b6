"""What every API endpoint shares: the error shape and handler (errors), throttles, cursor paging,
upload reading and the OpenAPI schema generator. No endpoint lives here: each app has its own API
package (gallery.api, search.api, gallery.accounts.api), composed in gallery.config.api_urls."""
