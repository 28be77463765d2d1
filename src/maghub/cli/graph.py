"""``maghub graph ...``: check graph files offline; import and export graphs of a running maghub.

A graph file is a graph document: the configuration as ``POST /graphs`` takes it, optionally with
``readme`` and ``prompt_files``. Prompt files that ``{name.ext}`` placeholders name may instead sit
next to the file (or in a ``prompts/`` folder beside it); import and validate pick them up from there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from maghub.cli.http import UrlOption, api_request
from maghub.cli.support import err, fail, out
from maghub.errors import MaghubError
from maghub.graphs.definition.config import GraphDocument
from maghub.graphs.definition.documents import attach_prompt_files, parse_document, read_document_file
from maghub.graphs.definition.validation import Catalog, GraphProblem, GraphValidationError, validate_document

app = typer.Typer(help="Validate, import and export agent graphs.", no_args_is_help=True)


def _read(file: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        return attach_prompt_files(read_document_file(file), file.parent)
    except MaghubError as exc:
        raise fail(str(exc)) from None


def _print_problems(kind: str, style: str, problems: list[GraphProblem] | tuple[GraphProblem, ...]) -> None:
    for problem in problems:
        out.print(f"  [{style}]{kind}:[/] {problem}", highlight=False)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Graph .json files; subgraphs may refer to each other.")],
) -> None:
    """Check graph files without a server: print every problem; exit 1 if any graph has errors.

    Subgraph references are checked against the other files given; models and MCP servers are only
    checked when the graph is saved to a server.
    """
    documents: dict[Path, GraphDocument] = {}
    failed = False
    for file in files:
        data, _ = _read(file)
        try:
            documents[file] = parse_document(data)
        except GraphValidationError as exc:
            failed = True
            out.print(f"[bold]{file}[/]: [red]cannot be read as a graph[/]", highlight=False)
            _print_problems("error", "red", exc.problems)
    graphs = {document.name: document.subgraph_names() for document in documents.values()}
    for file, document in documents.items():
        catalog = Catalog(
            graphs={name: refs for name, refs in graphs.items() if name != document.name},
            all_graphs_known=False,
            prompt_files=set(document.prompt_files or {}),
        )
        report = validate_document(document, catalog)
        if report.errors:
            failed = True
            count = len(report.errors)
            summary = f"[red]{count} error{'s' * (count != 1)}[/]"
        else:
            summary = f"[green]valid[/] ({len(document.nodes)} nodes)"
        out.print(f"[bold]{file}[/]: graph '{document.name}' {summary}", highlight=False)
        _print_problems("error", "red", report.errors)
        _print_problems("warning", "yellow", report.warnings)
    if failed:
        raise typer.Exit(1)


@app.command("import")
def import_graph(
    file: Annotated[
        Path, typer.Argument(help="A graph .json file (e.g. from `maghub graph export`) or a graph package .zip.")
    ],
    replace: Annotated[bool, typer.Option("--replace", help="Replace a graph of the same name (.json only).")] = False,
    url: UrlOption = None,
) -> None:
    """Import a graph file (with the prompt files next to it), or a package, into a running maghub."""
    if file.suffix.lower() == ".zip":
        if replace:
            raise fail("--replace does not apply to packages: delete the graph first, then import the package")
        _import_package(file, url)
        return
    data, missing = _read(file)
    if replace:
        result = api_request(url, "POST", "/graphs", json=data)
    else:
        payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
        result = api_request(
            url, "POST", "/graphs/import_from_file", files={"file": (file.name, payload, "application/json")}
        )
    verb = "created" if result["created"] else "replaced"
    out.print(f"{verb} graph [bold]{result['name']}[/] (version {result['version']})", highlight=False)
    for name in missing:
        err.print(f"[yellow]warning:[/] no prompt file '{name}' next to {file}", highlight=False)
    _print_warnings(result["warnings"])


def _import_package(file: Path, url: str | None) -> None:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    files = {"file": (file.name, data, "application/zip")}
    result = api_request(url, "POST", "/graphs/import_package_from_file", files=files)
    out.print(f"created graph [bold]{result['name']}[/] (version {result['version']})", highlight=False)
    for label, key in (
        ("created subgraph", "imported_subgraphs"),
        ("kept existing subgraph", "skipped_subgraphs"),
        ("added model", "added_models"),
        ("kept existing model", "skipped_models"),
        ("added MCP server", "added_servers"),
        ("kept existing MCP server", "skipped_servers"),
    ):
        for name in result[key]:
            out.print(f"  {label} [bold]{name}[/]", highlight=False)
    for name in result["needs_api_key"]:
        err.print(f"[yellow]to do:[/] model '{name}' has no API key; set it with PUT /models/{name}", highlight=False)
    for secret in result["needs_secrets"]:
        err.print(f"[yellow]to do:[/] {secret} is blank; fill it in", highlight=False)
    _print_warnings(result["warnings"])


def _print_warnings(warnings: list[dict[str, Any]]) -> None:
    for warning in warnings:
        problem = GraphProblem(warning["node"], warning["field"], warning["message"])
        err.print(f"[yellow]warning:[/] {problem}", highlight=False)


@app.command("export")
def export_graph(
    name: Annotated[str, typer.Argument(help="The graph's name.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of stdout (a .zip name writes a package)."),
    ] = None,
    package: Annotated[
        bool,
        typer.Option(
            "--package",
            help="A .zip package: the graph, its subgraphs, prompt files, models, MCP servers (no secrets).",
        ),
    ] = False,
    url: UrlOption = None,
) -> None:
    """Export a graph as one JSON document (configuration, written README, prompt files), or as a package."""
    quoted = quote(name, safe="")
    if package or (output is not None and output.suffix.lower() == ".zip"):
        if output is None:
            raise fail("a package is a zip file: name it with -o FILE.zip")
        _write(output, api_request(url, "GET", f"/graphs/{quoted}/package", binary=True))
        err.print(f"exported graph [bold]{name}[/] as a package to {output} (secrets left blank)", highlight=False)
        return
    result = api_request(url, "GET", f"/graphs/{quoted}/export")
    text = json.dumps(result["graph"], ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    _write(output, text.encode("utf-8"))
    err.print(f"exported graph [bold]{name}[/] to {output}", highlight=False)


def _write(output: Path, data: bytes) -> None:
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
