"""The platform the apps run on: the embedded servers and the `serve` launcher, queueing after
commit, sending files, the fail-open cache and the API plumbing (gallery.platform.api). It imports
no app of this project (an import-linter contract), so any app may use it."""
