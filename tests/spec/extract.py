"""Extract the report webhooks of Infobip's OpenAPI spec into a folder of samples and schemas.

    python -m tests.spec.extract SPEC_FILE_OR_DIR... [--out tests/samples/spec]

Reads ``infobip-<api>-openapi.json`` files (the ones of github.com/api-evangelist/infobip),
and for every webhook in :data:`WEBHOOKS` writes:

- each request-body example, one file each, named ``<spec version>--<webhook id>--<example>``
  with ``.json`` or ``.xml`` (the bytes of the spec's example: JSON pretty-printed, XML as is);
- the request-body schema with every ``$ref`` resolved, ``schemas/<version>--<webhook id>.json``;
- ``manifest.json``: the version, and per webhook its channel URL, kind, schema and examples.

A webhook of the spec that looks like a report (its id says ``report``) but is not in
:data:`WEBHOOKS` stops the extraction with its name: a newer spec's new report must be looked
at, not silently skipped. ``make spec-check SPEC=...`` extracts into a temporary folder and
runs the spec tests against it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

#: Webhook id -> (spec file's API name, notify URL path, kind). "delivery" and "seen" reports
#: come in a ``results`` list; "event" is an Email user event (one flat object).
WEBHOOKS: dict[str, tuple[str, str, str]] = {
    "receive-outbound-sms-message-reports": ("sms", "/notify/sms", "delivery"),
    "receive-outbound-sms-message-reports-v3": ("sms", "/notify/sms", "delivery"),
    "receive-outbound-mms-message-reports": ("mms", "/notify/mms", "delivery"),
    "receive-outbound-mms-message-delivery-reports": ("mms", "/notify/mms", "delivery"),
    "receive-whatsapp-delivery-reports": ("whatsapp", "/notify/whatsapp", "delivery"),
    "receive-whatsapp-seen-reports": ("whatsapp", "/notify/whatsapp", "seen"),
    "receive-outbound-viber-message-delivery-reports": ("viber", "/notify/viber", "delivery"),
    "receive-viber-seen-reports": ("viber", "/notify/viber", "seen"),
    "receive-outbound-viber-bot-message-delivery-reports": ("viber", "/notify/viber-bot", "delivery"),
    "receive-outbound-rcs-message-delivery-reports": ("rcs", "/notify/rcs", "delivery"),
    "receive-rcs-seen-reports": ("rcs", "/notify/rcs", "seen"),
    "receive-email-delivery-reports": ("email", "/notify/email", "delivery"),
    "receive-email-tracking-reports": ("email", "/notify/email", "event"),
    "receive-messages-api-delivery-reports": ("messages-api", "/notify/messages", "delivery"),
    "receive-messages-api-seen-reports": ("messages-api", "/notify/messages", "seen"),
}

#: Webhooks whose id says "report" but that carry no message report (URL-click tracking).
NOT_REPORTS = frozenset({"receive-sms-tracking-notification", "receive-mms-tracking-notification"})
_LOOKS_LIKE_A_REPORT = re.compile(r"report|tracking")


def resolve(document: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """*node* with every local ``$ref`` replaced by what it points to (a cycle raises)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise ValueError(f"cannot resolve {ref!r}")
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            out = resolve(document, target, (*seen, ref))
            extra = {k: resolve(document, v, seen) for k, v in node.items() if k != "$ref"}
            return {**out, **extra}
        return {k: resolve(document, v, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(document, v, seen) for v in node]
    return node


def _without_examples(node: Any) -> Any:
    """A schema without its ``example``/``examples`` keywords (they are not constraints)."""
    if isinstance(node, dict):
        return {k: _without_examples(v) for k, v in node.items() if k not in ("example", "examples")}
    if isinstance(node, list):
        return [_without_examples(v) for v in node]
    return node


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def extract(spec_files: list[Path], out: Path) -> dict[str, Any]:
    """Write the samples, schemas and manifest of *spec_files* into *out*; return the manifest."""
    (out / "schemas").mkdir(parents=True, exist_ok=True)
    versions: set[str] = set()
    webhooks: list[dict[str, Any]] = []
    found: set[str] = set()
    for path in sorted(spec_files):
        document = json.loads(path.read_text(encoding="utf-8"))
        version = str(document.get("info", {}).get("version", "unknown"))
        for webhook_id, operations in sorted((document.get("webhooks") or {}).items()):
            if webhook_id not in WEBHOOKS:
                if _LOOKS_LIKE_A_REPORT.search(webhook_id) and webhook_id not in NOT_REPORTS:
                    raise SystemExit(
                        f"{path.name}: webhook {webhook_id!r} looks like a report and is not in "
                        "tests/spec/extract.py WEBHOOKS: decide its channel URL and kind, then add it"
                    )
                continue
            found.add(webhook_id)
            versions.add(version)
            api, url, kind = WEBHOOKS[webhook_id]
            content = operations["post"]["requestBody"]["content"]
            schema_json = content.get("application/json", {}).get("schema")
            schema_name = f"schemas/{version}--{webhook_id}.json"
            schema = _without_examples(resolve(document, schema_json)) if schema_json else {}
            (out / schema_name).write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            examples = []
            for content_type, media in content.items():
                extension = "xml" if "xml" in content_type else "json"
                for name, example in (media.get("examples") or {}).items():
                    value = example.get("value")
                    if value is None:
                        continue
                    file = f"{version}--{webhook_id}--{slug(name)}.{extension}"
                    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
                    (out / file).write_text(text.rstrip("\n") + "\n", encoding="utf-8")
                    examples.append({"name": name, "file": file, "contentType": content_type})
            webhooks.append(
                {
                    "id": webhook_id,
                    "api": api,
                    "specFile": path.name,
                    "url": url,
                    "kind": kind,
                    "summary": operations["post"].get("summary"),
                    "schema": schema_name,
                    "examples": examples,
                }
            )
    missing = sorted(set(WEBHOOKS) - found)
    if missing:
        raise SystemExit(f"the spec files lack these report webhooks: {', '.join(missing)}")
    manifest = {"version": ", ".join(sorted(versions)), "webhooks": webhooks}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def spec_files_of(paths: list[str]) -> list[Path]:
    """The ``*-openapi.json`` files named, or found in the folders named."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            # Only the APIs whose report webhooks dlrhook takes (the folder holds every API).
            apis = sorted({api for api, _, _ in WEBHOOKS.values()})
            files.extend(p for api in apis if (p := path / f"infobip-{api}-openapi.json").exists())
        else:
            files.append(path)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("spec", nargs="+", help="Infobip's infobip-<api>-openapi.json files, or folders of them")
    parser.add_argument("--out", default="tests/samples/spec", help="folder to write (default: %(default)s)")
    args = parser.parse_args(argv)
    manifest = extract(spec_files_of(args.spec), Path(args.out))
    count = sum(len(w["examples"]) for w in manifest["webhooks"])
    print(f"spec {manifest['version']}: {len(manifest['webhooks'])} report webhooks, {count} examples -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
