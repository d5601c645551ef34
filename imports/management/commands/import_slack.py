"""``manage.py import_slack EXPORT.zip --company SLUG``: import a Slack export
(docs/data.md, Import from Slack). Safe to run again: what is already imported
is skipped, and an interrupted import goes on where it stopped."""

import json

from django.core.management.base import BaseCommand, CommandError

from imports.slack import SlackImportError, import_slack


def format_report(report: dict) -> str:
    lines = ["Imported:"]
    lines += [f"  {kind}: {count}" for kind, count in sorted(report["imported"].items())] or ["  nothing"]
    if report["already_imported"]:
        lines.append("Already imported (left as they are):")
        lines += [f"  {kind}: {count}" for kind, count in sorted(report["already_imported"].items())]
    if report["skipped"]:
        lines.append("Skipped:")
        lines += [f"  {count} × {reason}" for reason, count in sorted(report["skipped"].items())]
        lines.append("Details:")
        lines += [f"  {line}" for line in report["details"]]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Import a Slack export ZIP: people, channels, DMs, messages, threads, reactions and included files."

    def add_arguments(self, parser):
        parser.add_argument("export", help="the ZIP of Slack's Export data")
        parser.add_argument("--company", required=True, help="slug of the company the people and rooms join (created when missing)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, export, company, json: bool = False, **options):
        try:
            report = import_slack(export, company_slug=company)
        except SlackImportError as error:
            raise CommandError(str(error)) from None
        except FileNotFoundError:
            raise CommandError(f"{export}: no such file") from None
        self.stdout.write(_dumps(report) if json else format_report(report))
        return None


def _dumps(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
