"""Which contracts folder a command reads: `--contracts DIR`, else $SLUICE_CONTRACTS, else the checkout's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sluice.paths import repo_root

if TYPE_CHECKING:
    from sluice_lib.contracts import ContractStore

ENV_VAR = "SLUICE_CONTRACTS"
CONTRACTS_OPTION = typer.Option(
    "--contracts",
    metavar="DIR",
    help=f"Contracts folder (<dataset>.yaml files); default: ${ENV_VAR}, else the checkout's contracts/.",
)


class ContractsUsageError(Exception):
    """The contracts folder or a dataset named on the command line cannot be used; the message says why."""


def contracts_folder(option: Path | None) -> Path:
    """The folder `--contracts` names, else $SLUICE_CONTRACTS, else `contracts/` of the checkout."""
    if option is not None:
        return option
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return repo_root() / "contracts"


def _where(option: Path | None, folder: Path) -> str:
    if option is not None:
        return f"{folder} (--contracts)"
    if os.environ.get(ENV_VAR):
        return f"{folder} (${ENV_VAR})"
    return str(folder)


def load_contracts(option: Path | None, datasets: list[str] | None = None) -> ContractStore:
    """The contracts folder, checked before anything is provisioned: it exists, holds contracts, every one
    is well-formed (`sluice contracts check`), and has each of `datasets`.

    ContractsUsageError otherwise, naming the folder, the problems, or the datasets it knows.
    """
    from sluice_lib.contracts import ContractStore

    folder = contracts_folder(option)
    where = _where(option, folder)
    if not folder.is_dir():
        raise ContractsUsageError(f"{where}: no such folder")
    store = ContractStore(folder.resolve())
    known = store.datasets()
    if not known:
        raise ContractsUsageError(f"{where}: no contracts (<dataset>.yaml files) in the folder")
    problems = store.check_all()
    if problems:
        raise ContractsUsageError(
            f"{where}: {len(problems)} contract problem{'s' if len(problems) != 1 else ''} "
            "(sluice contracts check):\n" + "\n".join(f"  {p}" for p in problems)
        )
    unknown = sorted({d for d in datasets or [] if d not in known})
    if unknown:
        named = ", ".join(repr(d) for d in unknown)
        raise ContractsUsageError(
            f"no contract for dataset {named} in {where}; known datasets: {', '.join(known)}"
        )
    return store
