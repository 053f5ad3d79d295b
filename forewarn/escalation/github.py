"""GitHub issues as an escalation channel (REST API: search, create, comment, close).

An issue body carries the finding's fingerprint. Before creating an issue the channel
searches the repository's open issues for that fingerprint, so a lost local state, or a
create whose answer timed out, is adopted instead of filed twice. A finding that clears
gets a comment and is closed; one that comes back reopens its issue.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from forewarn.escalation.base import Event, EventKind
from forewarn.escalation.http import HttpError, JsonClient, Retrier

_TITLE_LIMIT = 256  # GitHub refuses longer issue titles
_GONE = (404, 410)  # the issue was deleted or transferred


def issue_body(event: Event) -> str:
    """The Markdown body of a finding's issue, ending with its fingerprint marker."""
    rows = [("check", event.check), ("subject", event.subject)]
    rows += [(key, str(value)) for key, value in event.details.items()]
    table = "\n".join(f"| {key} | `{value}` |" for key, value in rows)
    return (
        f"Forewarn's model health monitor reports: **{event.title}**\n\n"
        f"First seen {event.first_seen.isoformat(timespec='seconds')}.\n\n"
        f"| field | value |\n| --- | --- |\n{table}\n\n"
        "This issue is closed automatically when the condition clears, and reopened if it "
        f"comes back.\n\n<sub>{event.marker}</sub>\n"
    )


class GitHubChannel:
    """Files, closes and reopens one issue per finding in one repository."""

    name = "github"

    def __init__(self, client: JsonClient, repo: str, retrier: Retrier) -> None:
        self._client = client
        self._repo = repo
        self._retrier = retrier

    @classmethod
    def connect(
        cls,
        api_url: str,
        repo: str,
        token: str,
        *,
        timeout_s: float,
        retrier: Retrier,
        clock: Callable[[], float] = time.time,
    ) -> GitHubChannel:
        """The channel for `repo` ("owner/name") at `api_url`, authenticated with `token`."""
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "forewarn-health-monitor",
        }
        client = JsonClient("github", api_url, headers=headers, timeout_s=timeout_s, clock=clock)
        return cls(client, repo, retrier)

    def deliver(self, event: Event) -> str | None:
        """Open (find, reopen or create) or resolve (comment and close) the finding's issue."""
        if event.kind is EventKind.OPENED:
            return self._retrier.run(lambda: self._open(event))
        self._retrier.run(lambda: self._resolve(event))
        return event.ref

    def _open(self, event: Event) -> str:
        # Each attempt searches first: a create that timed out may have succeeded.
        found = self.find_open_issue(event)
        if found is not None:
            return str(found)
        if event.ref is not None and self._reopen(int(event.ref), event):
            return event.ref
        return str(self._create(event))

    def find_open_issue(self, event: Event) -> int | None:
        """The lowest-numbered open issue whose body carries the finding's marker."""
        query = f'repo:{self._repo} is:issue is:open in:body "{event.marker}"'
        found = self._client.request("GET", "/search/issues", params={"q": query})
        items = (found.body or {}).get("items") or []
        numbers = [
            int(item["number"])
            for item in items
            if event.marker in (item.get("body") or "") and item.get("state", "open") == "open"
        ]
        return min(numbers, default=None)

    def _create(self, event: Event) -> int:
        body = {
            "title": event.title[:_TITLE_LIMIT],
            "body": issue_body(event),
            "labels": list(event.labels),
        }
        created = self._client.request("POST", f"/repos/{self._repo}/issues", body)
        return int(created.body["number"])

    def _reopen(self, number: int, event: Event) -> bool:
        try:
            self._client.request("PATCH", self._issue(number), {"state": "open"})
        except HttpError as err:
            if err.status in _GONE:
                return False
            raise
        note = (
            f"The condition is back (occurrence {event.occurrences}, "
            f"{event.opened_at.isoformat(timespec='seconds')}); reopening."
        )
        self._comment(number, note)
        return True

    def _resolve(self, event: Event) -> None:
        if event.ref is None:
            return
        number = int(event.ref)
        # Close before commenting: a retry after a failed comment only closes again (harmless).
        try:
            self._client.request(
                "PATCH", self._issue(number), {"state": "closed", "state_reason": "completed"}
            )
        except HttpError as err:
            if err.status in _GONE:
                return
            raise
        when = (event.resolved_at or event.opened_at).isoformat(timespec="seconds")
        self._comment(number, f"No longer seen by the health scan at {when}; closing.")

    def _comment(self, number: int, text: str) -> None:
        self._client.request("POST", f"{self._issue(number)}/comments", {"body": text})

    def _issue(self, number: int) -> str:
        return f"/repos/{self._repo}/issues/{number}"
