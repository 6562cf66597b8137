"""``/docs/api``: the API reference for people, generated from the OpenAPI document (no scripts)."""
from __future__ import annotations

import copy
import json

import markdown as markdown_lib
import nh3
from flask import Blueprint, current_app
from markupsafe import Markup

from app.web.rendering import render

bp = Blueprint("docs", __name__, url_prefix="/docs")

METHODS = ("get", "post", "put", "patch", "delete")
API_DOCUMENT = "linktime_api_document"  # where app.api.register_api offers the OpenAPI document
FORMAT_EXAMPLES = {"date-time": "2026-03-01T14:00:00.000Z", "date": "2026-03-01", "email": "jane@example.com",
                   "uri": "https://cal.example.com/jane/30-min"}
TYPE_EXAMPLES = {"string": "string", "integer": 0, "number": 0, "boolean": True, "null": None}


def resolve(schema: dict, schemas: dict) -> dict:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(schema: dict, schemas: dict, depth: int = 0):
    """A sample value for ``schema``: its ``example``, else one built from its type."""
    schema = resolve(schema, schemas)
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return example(options[0], schemas, depth) if options else None
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        if depth > 6:
            return {}
        return {name: example(prop, schemas, depth + 1) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema.get("items", {}), schemas, depth + 1)]
    if kind == "string" and schema.get("format") in FORMAT_EXAMPLES:
        return FORMAT_EXAMPLES[schema["format"]]
    return TYPE_EXAMPLES.get(kind)


def _markdown(text: str) -> Markup:
    html = markdown_lib.markdown(text or "", output_format="html")
    return Markup(nh3.clean(html, tags={"p", "code", "strong", "em", "a", "ul", "li"},
                            attributes={"a": {"href"}}, url_schemes={"http", "https"}))


def type_label(schema: dict, schemas: dict) -> str:
    """``string (date-time)``, ``Booking``, ``array of Booking``, ``string or null`` ..."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(type_label(s, schemas) for s in schema["anyOf"])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        return " or ".join(type_label({**schema, "type": k}, schemas) for k in kind)
    if kind == "array":
        return f"array of {type_label(schema.get('items', {}), schemas)}"
    label = kind
    if schema.get("format"):
        label += f" ({schema['format']})"
    if schema.get("enum") and kind != "null":
        label += ": " + " | ".join(str(v) for v in schema["enum"])
    return label


def fields(schema: dict, schemas: dict) -> list[dict]:
    """The top-level properties of an object schema, for a table."""
    schema = resolve(schema, schemas)
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        limits = [f"{key} {prop[key]}" for key in ("minimum", "maximum", "maxLength", "default") if key in prop]
        rows.append({"name": name, "type": type_label(prop, schemas), "required": name in required,
                     "description": _markdown(resolve(prop, schemas).get("description", "")),
                     "limits": ", ".join(limits)})
    return rows


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def reference(doc: dict) -> list[dict]:
    """Sections by tag, each with its operations ready for the template."""
    schemas = doc["components"]["schemas"]
    sections = {tag["name"]: {"name": tag["name"], "description": tag.get("description", ""), "operations": []}
                for tag in doc.get("tags", [])}
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody")
            body_schema = body["content"]["application/json"]["schema"] if body else None
            responses = []
            for status, response in op["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                schema = media.get("schema")
                sample = media["example"] if "example" in media else example(schema, schemas) if schema else None
                responses.append({"status": status, "description": _markdown(response["description"]),
                                  "schema": type_label(schema, schemas) if schema else "",
                                  "example": _pretty(sample) if schema else None,
                                  "headers": list(response.get("headers", {}))})
            sections.setdefault(op["tags"][0], {"name": op["tags"][0], "description": "", "operations": []})
            sections[op["tags"][0]]["operations"].append({
                "anchor": op["operationId"], "method": method.upper(), "path": path, "summary": op["summary"],
                "description": _markdown(op.get("description", "")), "public": op.get("security") == [],
                "params": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                            "type": type_label(p["schema"], schemas), "description": _markdown(p["description"]),
                            "limits": ", ".join(f"{k} {p['schema'][k]}" for k in ("minimum", "maximum", "maxLength",
                                                                                  "default") if k in p["schema"])}
                           for p in op.get("parameters", [])],
                "body": ({"required": body.get("required", False), "schema": type_label(body_schema, schemas),
                          "fields": fields(body_schema, schemas), "example": _pretty(example(body_schema, schemas))}
                         if body else None),
                "responses": responses,
            })
    return [section for section in sections.values() if section["operations"]]


@bp.get("/api")
def api():
    doc = current_app.extensions[API_DOCUMENT]()
    return render("docs/api.html", doc=doc, intro=_markdown(doc["info"]["description"]),
                  sections=reference(doc))
