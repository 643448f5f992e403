"""A Glue job's script imported as on Glue: the project's modules only from its `--extra-py-files` zips."""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import sys
import sysconfig
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

# Glue has the standard library and its installed packages (pyspark, boto3, ...): a job may import what lives
# here. Anything else, this checkout's sluice_lib and glue/sluice_transform included, must come from its zips.
_INSTALLED = tuple(
    Path(path).resolve()
    for path in {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _installed(name: str) -> bool:
    """Whether the top-level module `name` is the interpreter's or an installed package's (not the checkout's)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return True  # the ordinary import finds it built in, or raises its own ModuleNotFoundError
    origin = Path(spec.origin).resolve()
    return any(origin.is_relative_to(root) for root in _INSTALLED)


class JobImporter:
    """Runs a job script with its own `__import__`: modules the zips hold are loaded from them under private
    names (`<namespace>.sluice_lib.curated`), installed ones as usual, and any other module of this checkout
    is missing, as on Glue. Nothing else in the process changes: the in-process Lambdas keep importing the
    checkout's sluice_lib while the job uses its zip's.

    Why not `SparkContext.addPyFile`: it would put every zip on the driver's `sys.path` for the life of the
    shared session, where the checkout's modules already shadow it; and the job runs no Python UDFs, so Spark's
    Python workers never import the job's modules.
    """

    def __init__(self, libraries: Sequence[Path], namespace: str) -> None:
        self.path = [str(p) for p in libraries]
        self.namespace = namespace
        self.shipped: set[str] = set()
        for library in libraries:
            with zipfile.ZipFile(library) as archive:
                self.shipped |= {n.split("/", 1)[0].removesuffix(".py") for n in archive.namelist()}
        self.modules: dict[str, ModuleType] = {}
        self.builtins = {**vars(builtins), "__import__": self._import}
        self._installed: dict[str, bool] = {}

    def load_script(self, script: Path) -> ModuleType:
        spec = importlib.util.spec_from_file_location(self.namespace, script)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load Glue script {script}")
        module = importlib.util.module_from_spec(spec)
        try:
            self._execute(spec, module)
        except BaseException:  # no half-loaded job stays behind
            for name in [n for n in sys.modules if n.startswith(f"{self.namespace}.")]:
                del sys.modules[name]
            raise
        return module

    def _execute(self, spec: importlib.machinery.ModuleSpec, module: ModuleType) -> None:
        module.__dict__["__builtins__"] = self.builtins  # the module's import statements call self._import
        sys.modules[module.__name__] = module  # dataclasses look a class's module up there
        try:
            assert spec.loader is not None
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module.__name__]
            raise

    def _is_installed(self, top: str) -> bool:
        if top not in self._installed:
            self._installed[top] = _installed(top)
        return self._installed[top]

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        if level:
            package = str((globals or {}).get("__package__") or "").removeprefix(f"{self.namespace}.")
            name = importlib.util.resolve_name("." * level + name, package)
        top = name.partition(".")[0]
        if top not in self.shipped:
            if self._is_installed(top):
                return builtins.__import__(name, globals, locals, fromlist or (), 0)
            where = ", ".join(self.path) or "none"
            raise ModuleNotFoundError(
                f"No module named {top!r} (the job's --extra-py-files: {where})", name=top
            )
        module = self._load(name)
        for item in fromlist or ():
            if item != "*" and hasattr(module, "__path__") and not hasattr(module, item):
                try:
                    self._load(f"{name}.{item}")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{name}.{item}":
                        raise  # a module it imports is missing; a name that is no module fails as usual below
        return module if fromlist else self.modules[top]

    def _load(self, name: str) -> ModuleType:
        if name in self.modules:
            return self.modules[name]
        parent_name, _, child = name.rpartition(".")
        search = self.path
        if parent_name:
            parent = self._load(parent_name)
            search = list(getattr(parent, "__path__", []))
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        spec.name = f"{self.namespace}.{name}"  # the zip's loader finds the file by the last part alone
        self.modules[name] = module = importlib.util.module_from_spec(spec)
        try:
            self._execute(spec, module)
        except BaseException:
            del self.modules[name]
            raise
        if parent_name:
            setattr(self.modules[parent_name], child, module)
        return module
