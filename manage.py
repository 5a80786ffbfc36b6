#!/usr/bin/env python
"""Django's command-line utility: `python manage.py COMMAND`.

Commands that use the database or the broker get them first: for whichever of DATABASE_URL and
CELERY_BROKER_URL is not set, the embedded PostgreSQL or Redis under var/ is attached to or started
(gallery.platform.embedded.services_attach), and stopped again when the last process using it exits.
"""

import os
import sys

# Commands that touch neither the database nor the broker: they start no server.
COMMANDS_WITHOUT_SERVICES = frozenset({
    "help", "version", "--help", "-h", "--version", "collectstatic",
    "fetch_models", "train_saliency", "evaluate_saliency", "predict_saliency",
    "train_embedder", "evaluate_retrieval", "embed_images",
})


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command not in COMMANDS_WITHOUT_SERVICES:
        from gallery.platform.embedded import services_attach

        services_attach()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
