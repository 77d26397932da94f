from django.contrib.sites.models import Site
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Name the site so that links in emails (verification, reminders) point at this server."

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True)
        parser.add_argument("--name", default="Spaces")

    def handle(self, *args, domain: str, name: str, **options):
        Site.objects.update_or_create(pk=1, defaults={"domain": domain, "name": name})
        self.stdout.write(f"Site is {name} at {domain}")
