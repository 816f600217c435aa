from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from runbooks.services import runbooks_import


class Command(BaseCommand):
    help = (
        "Import runbooks from a Markdown file or a folder (front matter + '## Step' sections). "
        "Prints created / new version / updated / unchanged / rejected per file; exits 1 if any file is rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="A runbook file, or a folder searched recursively for *.md.")
        parser.add_argument(
            "--draft",
            action="store_true",
            help="Leave new content as draft versions for a publisher to approve in the admin "
            "(default: publish, the repository's review being the approval).",
        )

    def handle(self, *args, path, draft, **options):
        root = Path(path)
        report = runbooks_import(path=root, publish=not draft, display_root=root if root.is_dir() else root.parent)
        for line in report.lines:
            self.stdout.write(str(line))
        self.stdout.write(report.summary())
        if report.rejected:
            raise CommandError(f"{report.rejected} file(s) rejected", returncode=1)
