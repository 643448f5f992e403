"""`sluice invoke`: `sam local invoke` without Docker: one handler, in-process, against the emulated stack."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from sluice.contracts_folder import CONTRACTS_OPTION, ContractsUsageError, load_contracts
from sluice.paths import repo_root

if TYPE_CHECKING:
    from sluice.local.emulator import Emulator

EXIT_OK, EXIT_RAISED, EXIT_USAGE = 0, 1, 2

err = Console(stderr=True, highlight=False, soft_wrap=True)


class InvokeUsageError(Exception):
    """The command line cannot be run as given (unknown function, unreadable event); the message says why."""


@dataclass
class InvokeResult:
    function: str  # the template's logical id
    function_name: str  # the provisioned function's name
    payload: Any  # what the handler returned, or {"errorType", "errorMessage"} when it raised
    error_type: str | None
    seconds: float
    stack_trace: list[str]

    @property
    def raised(self) -> bool:
        return self.error_type is not None


def read_event(source: str | None) -> Any:
    """The event from a JSON file, `-` for stdin, or `{}` without one (as `sam local invoke` sends)."""
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvokeUsageError(f"{source}: cannot read the event ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvokeUsageError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None


def read_env_vars(path: Path | None, logical_id: str) -> dict[str, str]:
    """`--env-vars` as `sam local invoke` reads it: {"Parameters": {...}} for every function, then
    {"<LogicalId>": {...}} for one; values become strings."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvokeUsageError(f"{path}: cannot read the environment file ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise InvokeUsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InvokeUsageError(f'{path}: expected {{"Parameters": {{...}}, "{logical_id}": {{...}}}}')
    merged: dict[str, str] = {}
    for section in ("Parameters", logical_id):
        values = data.get(section, {})
        if not isinstance(values, dict):
            raise InvokeUsageError(f"{path}: {section} must map variable names to values")
        merged.update({str(k): "" if v is None else str(v) for k, v in values.items()})
    return merged


def parse_objects(specs: list[str]) -> list[tuple[str, str, Path]]:
    """`s3://BUCKET/KEY=FILE` (split at the last `=`) as (bucket, key, file); the files must exist."""
    objects = []
    for spec in specs:
        uri, sep, file = spec.rpartition("=")
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not sep or not uri.startswith("s3://") or not bucket or not key:
            raise InvokeUsageError(f"{spec}: expected s3://BUCKET/KEY=FILE")
        path = Path(file)
        if not path.is_file():
            raise InvokeUsageError(f"{spec}: {file}: no such file")
        objects.append((bucket, key, path))
    return objects


def put_objects(emu: Emulator, objects: list[tuple[str, str, Path]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Uploads files into the emulated S3 before the invocation (creating a bucket the stack lacks); returns
    each object's size, ETag and version id by (bucket, key)."""
    s3 = emu.client("s3")
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    put: dict[tuple[str, str], dict[str, Any]] = {}
    for bucket, key, path in objects:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            existing.add(bucket)
        s3.upload_file(str(path), bucket, key)
        head = s3.head_object(Bucket=bucket, Key=key)
        put[(bucket, key)] = {
            "size": head["ContentLength"],
            "etag": head["ETag"].strip('"'),
            "version-id": head.get("VersionId"),
        }
        err.print(f"put s3://{bucket}/{key} ({path.stat().st_size:,} bytes)", markup=False)
    return put


def match_event(event: Any, put: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Makes the event's S3 objects that `--object` put describe the bytes put: `size`, `etag` and (when the
    event has one) `version-id`, as the upload's own event would. Returns the `s3://` URIs it changed."""
    changed: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        if not isinstance(node, dict):
            return
        bucket, obj = node.get("bucket"), node.get("object")
        if isinstance(bucket, dict) and isinstance(obj, dict) and "key" in obj:
            facts = put.get((str(bucket.get("name")), str(obj["key"])))
            if facts is not None:
                for field in ("size", "etag", "version-id"):
                    if (field in obj or field == "size") and facts.get(field) is not None:
                        obj[field] = facts[field]
                changed.append(f"s3://{bucket.get('name')}/{obj['key']}")
        for value in node.values():
            walk(value)

    walk(event)
    return changed


def function_ids(emu: Emulator) -> list[str]:
    return sorted(fn.logical_id for fn in emu.stack.functions.values())


def template_functions(logical_id: str) -> list[str]:
    """The template's function logical ids; InvokeUsageError unless `logical_id` is one (no emulator needed)."""
    # Imported when the command runs: sluice.local loads moto, which every other `sluice` command would wait for.
    from sluice.local.template import SamApp

    ids = sorted(SamApp.load(repo_root() / "template.sam.yaml").code_dirs)
    if logical_id not in ids:
        raise InvokeUsageError(
            f"no function {logical_id!r} in template.sam.yaml; functions: {', '.join(ids)}"
        )
    return ids


def invoke_function(
    emu: Emulator, logical_id: str, event: Any, env_vars: dict[str, str] | None = None
) -> InvokeResult:
    """Runs the handler of the template's function `logical_id` with `event`, as the Lambda runtime would.

    Variables in `env_vars` replace the template's for this function only if the template declares them
    (as `sam local invoke --env-vars` does); the others are reported on stderr and ignored.
    """
    try:
        fn = emu.stack.function_by_logical_id(logical_id)
    except KeyError:
        raise InvokeUsageError(
            f"no function {logical_id!r} in template.sam.yaml; functions: {', '.join(function_ids(emu))}"
        ) from None
    declared = {k: v for k, v in (env_vars or {}).items() if k in fn.environment}
    ignored = sorted(set(env_vars or {}) - set(declared))
    if ignored:
        err.print(f"ignored (not in the template's environment): {', '.join(ignored)}", markup=False)
    saved = dict(fn.environment)
    fn.environment.update(declared)
    started = time.perf_counter()
    try:
        payload, error_type = emu.lambdas.invoke(fn.name, event)
    finally:
        fn.environment.clear()
        fn.environment.update(saved)
    seconds = time.perf_counter() - started
    trace: list[str] = []
    if error_type is not None and isinstance(payload, dict):
        trace = [str(line) for line in payload.get("stackTrace", [])]
        payload = {
            "errorType": payload.get("errorType", error_type),
            "errorMessage": payload.get("errorMessage", ""),
        }
    return InvokeResult(logical_id, fn.name, payload, error_type, seconds, trace)


def run_invoke(
    logical_id: str,
    event: Any,
    env_vars_path: Path | None = None,
    objects: list[str] | None = None,
    debug: bool = False,
    contracts: Path | None = None,
) -> tuple[InvokeResult, int]:
    """Provisions the emulated stack, puts `objects`, invokes, and reports on stderr (where the handler's
    own output goes too). `contracts`: the folder the handlers read contracts from."""
    from sluice.local.emulator import Emulator  # when the command runs (see template_functions)

    template_functions(logical_id)
    env_vars = read_env_vars(env_vars_path, logical_id)
    to_put = parse_objects(objects or [])
    err.print(f"provisioning template.sam.yaml in the emulation, then invoking {logical_id}", markup=False)
    # As `sam local invoke`, the handler calls with the caller's credentials, not its role: an event may name
    # any bucket (events/*.json name sluice-raw-local). `sluice run` and `sluice up` enforce the roles.
    with contextlib.redirect_stdout(sys.stderr), Emulator(contracts=contracts, iam=False) as emu:
        changed = match_event(event, put_objects(emu, to_put))
        if changed:
            err.print(f"event: size and etag of {', '.join(changed)} set to the object put", markup=False)
        result = invoke_function(emu, logical_id, event, env_vars)
    if result.raised:
        message = result.payload.get("errorMessage", "") if isinstance(result.payload, dict) else ""
        err.print(
            f"{logical_id} ({result.function_name}) raised {result.error_type} after {result.seconds:.2f}s: "
            f"{message}",
            markup=False,
        )
        if result.error_type == "SourceObjectMissingError" and not to_put:
            err.print(
                "hint: the emulated stack starts empty; put the event's object first with "
                "--object s3://BUCKET/KEY=FILE",
                markup=False,
            )
        if debug:
            for line in result.stack_trace:
                err.print(line.rstrip("\n"), markup=False)
        return result, EXIT_RAISED
    err.print(f"{logical_id} ({result.function_name}) returned after {result.seconds:.2f}s", markup=False)
    return result, EXIT_OK


def register(app: typer.Typer) -> None:
    @app.command()
    def invoke(
        function: Annotated[
            str,
            typer.Argument(
                help="The function's logical id in template.sam.yaml: <State>Function, e.g. ValidateFunction."
            ),
        ],
        event: Annotated[
            str | None,
            typer.Option(
                "--event", "-e", help="JSON event file (`-` reads stdin); default: an empty event {}."
            ),
        ] = None,
        env_vars: Annotated[
            Path | None,
            typer.Option(
                "--env-vars",
                "-n",
                help='JSON like sam\'s: {"Parameters": {"VAR": "v"}, "ValidateFunction": {"VAR": "v"}}.',
            ),
        ] = None,
        debug: Annotated[
            bool, typer.Option("--debug", help="Print a raised error's stack trace on stderr.")
        ] = False,
        objects: Annotated[
            list[str] | None,
            typer.Option(
                "--object",
                "-o",
                help="s3://BUCKET/KEY=FILE: put FILE there first (the emulated stack starts empty). Repeatable.",
            ),
        ] = None,
        contracts: Annotated[Path | None, CONTRACTS_OPTION] = None,
    ) -> None:
        """Invoke one function's handler in-process against the emulated stack (`sam local invoke`, no Docker).

        The result JSON goes to stdout; the handler's logs and progress to stderr. Exit 1 when the handler
        raised (stdout then holds {"errorType", "errorMessage"}), 2 for usage errors.
        """
        try:
            store = load_contracts(contracts)
            payload = read_event(event)
            result, code = run_invoke(function, payload, env_vars, objects, debug, store.root)
        except (InvokeUsageError, ContractsUsageError) as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(EXIT_USAGE) from None
        except Exception as exc:  # the emulation itself failed (a handler's errors are results, above)
            err.print(
                f"[red]error:[/red] the emulated stack failed: {type(exc).__name__}: {escape(str(exc))}"
            )
            if debug:
                err.print_exception()
            raise typer.Exit(EXIT_RAISED) from None
        sys.stdout.write(json.dumps(result.payload, indent=2, default=str) + "\n")
        raise typer.Exit(code)
