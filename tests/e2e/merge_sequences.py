"""Random file sequences for tests/e2e/test_merge_property.py and the reference models they are checked against:
a dict by key per dataset, computed from the input rows alone with the rule docs/merge.md states (written here,
not imported from sluice_lib). The generators read a model only to aim rows at existing keys (corrections,
moves, older re-sends, emptying a partition); every expectation comes from applying a model to the files."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal

from offers_rows import OFFERS_HEADER, offers_row

SEEDS_ENV = "SLUICE_PROPERTY_SEEDS"


def seeds(default: Sequence[int]) -> list[int]:
    """`default`, or seeds 0 .. n-1 when SLUICE_PROPERTY_SEEDS=n."""
    text = os.environ.get(SEEDS_ENV, "").strip()
    return list(range(int(text))) if text else list(default)


# --- offers: primaryKey [account, offer_id], dedupe.order_by created, partitioned by created's year and month ---

KEY_SPACE = 30  # offers 0..29: small, so files overlap
TICKS = 24  # `created` is one of 24 instants, four a month from January to June 2026: ties are common
EARLY = 12  # new offers are created in January to March, so a later correction has months to move to
RISKS = ("low", "medium", "high")


def created(tick: int) -> str:
    return f"2026-{tick // 4 + 1:02d}-{1 + 7 * (tick % 4):02d}T06:00:00+00:00"


def month_of(tick: int) -> int:
    return tick // 4 + 1


def offers_partition(tick: int) -> str:
    return f"year=2026/month={month_of(tick)}"


@dataclass(frozen=True)
class Offer:
    """One offers line: offer `i` (account 10000000+i, offer_id 100000000000+i), its `created` and `risk`."""

    i: int
    tick: int
    risk: str

    def __str__(self) -> str:
        return f"{self.i}@{self.tick}/{self.risk}"


@dataclass
class OffersFile:
    name: str
    rows: list[Offer]

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        lines = [offers_row(r.i, created=created(r.tick), risk=r.risk) for r in self.rows]
        path.write_text("\n".join([OFFERS_HEADER, *lines]) + "\n", encoding="utf-8")
        return path

    def __str__(self) -> str:
        return f"{self.name}: {' '.join(map(str, self.rows))}"


StepKind = Literal["upload", "reupload", "rerun", "burst"]


@dataclass
class Step:
    """`upload`: new files one after another; `reupload`: an earlier file put again (a new object version);
    `rerun`: a new execution with the previous execution's input (the console's "New execution"); `burst`:
    the files uploaded at once, their executions running together."""

    label: str
    kind: StepKind
    files: list[OffersFile]
    emptied: str | None = None  # the partition this step moves every row out of, when it means to


@dataclass
class OffersCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deduped: int = 0

    def merge(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class OffersModel:
    """The offers table by offer: per key the highest `created`, ties to the later ingest; within a file the
    highest `created`, ties to the later line (the contract's `dedupe: {order_by: created}`)."""

    table: dict[int, Offer] = field(default_factory=dict)

    def copy(self) -> OffersModel:
        return OffersModel(dict(self.table))

    def ingest(self, rows: Sequence[Offer]) -> OffersCounts:
        """Merges one file, as the latest ingest; returns what its run should count."""
        within: dict[int, Offer] = {}
        for row in rows:
            if row.i not in within or row.tick >= within[row.i].tick:
                within[row.i] = row
        counts = OffersCounts(deduped=len(rows) - len(within))
        for i, row in within.items():
            old = self.table.get(i)
            if old is None:
                counts.inserted += 1
            elif row.tick >= old.tick and row != old:  # the incoming row is the later ingest: it wins ties
                counts.updated += 1
            else:
                counts.unchanged += 1
            if old is None or row.tick >= old.tick:
                self.table[i] = row
        return counts

    def partitions(self) -> set[str]:
        return {offers_partition(r.tick) for r in self.table.values()}


def _fresh(rng: random.Random) -> Offer:
    return Offer(rng.randrange(KEY_SPACE), rng.randrange(EARLY), rng.choice(RISKS))


def _aimed(rng: random.Random, table: dict[int, Offer]) -> Offer:
    """A row for an offer the table holds: a correction (same `created`, another risk), a newer version (maybe
    in a later month: a move), an older re-send (must lose) or the same row again."""
    old = table[rng.choice(sorted(table))]
    kind = rng.choice(["correction", "newer", "older", "same"])
    if kind == "correction":
        return Offer(old.i, old.tick, rng.choice([r for r in RISKS if r != old.risk]))
    if kind == "newer" and old.tick < TICKS - 1:
        return Offer(old.i, rng.randrange(old.tick + 1, TICKS), rng.choice(RISKS))
    if kind == "older" and old.tick > 0:
        return Offer(old.i, rng.randrange(old.tick), rng.choice(RISKS))
    return old


def _with_duplicates(rng: random.Random, rows: list[Offer], count: int) -> list[Offer]:
    """Adds `count` lines for offers already in the file, anywhere in it: the same `created` and another risk
    (the later line wins; always the first one added) or another `created` (the higher wins)."""
    rows = list(rows)
    for n in range(count):
        first = rng.choice(rows)
        if n == 0 or rng.random() < 0.5:
            dup = Offer(first.i, first.tick, rng.choice([r for r in RISKS if r != first.risk]))
        else:
            dup = Offer(first.i, rng.randrange(TICKS), rng.choice(RISKS))
        rows.insert(rng.randrange(len(rows) + 1), dup)
    return rows


def _mixed(
    rng: random.Random, table: dict[int, Offer], size: int, avoid_month: int | None = None
) -> list[Offer]:
    rows: list[Offer] = []
    while len(rows) < size:
        row = _aimed(rng, table) if table and rng.random() < 0.6 else _fresh(rng)
        if avoid_month is not None and (
            month_of(row.tick) == avoid_month
            or (row.i in table and month_of(table[row.i].tick) == avoid_month)
        ):
            continue
        rows.append(row)
    return rows


def _evacuation(rng: random.Random, table: dict[int, Offer]) -> tuple[list[Offer], int]:
    """Newer versions of every offer of one of the table's months, all in later months (the month is left
    empty), and a few other rows that neither fall in that month nor name its offers."""
    months = sorted({month_of(r.tick) for r in table.values()} - {month_of(TICKS - 1)})
    assert months, "every offer is in the last month: none can move to a later one"
    month = rng.choice(months)
    moved = [
        Offer(r.i, rng.randrange(4 * month, TICKS), rng.choice(RISKS))
        for r in table.values()
        if month_of(r.tick) == month
    ]
    rows = moved + _mixed(rng, table, max(rng.randint(2, 6), 5 - len(moved)), avoid_month=month)
    rng.shuffle(rows)
    return rows, month


def _burst(rng: random.Random, table: dict[int, Offer], prefix: str, files: int) -> list[OffersFile]:
    """Files whose executions run together. Keys overlap between them, but an offer named by two of them never
    has the same `created` in both: the winner is then the highest `created` (or the table's row or a burst row
    on a tie with the table, never two burst rows), so the final table does not depend on the order the lease
    lets them merge in. The test checks that by applying the model in every order."""
    taken: dict[tuple[int, int], int] = {}  # (offer, tick) -> the burst file that uses it
    burst = []
    for n in range(files):
        rows: list[Offer] = []
        size = rng.randint(5, 10)
        while len(rows) < size:
            row = _aimed(rng, table) if table and rng.random() < 0.6 else _fresh(rng)
            if taken.setdefault((row.i, row.tick), n) != n:
                continue
            rows.append(row)
        burst.append(OffersFile(f"{prefix}-burst-{n}.csv", rows))
    return burst


def offers_sequence(seed: int) -> list[Step]:
    """The seed's steps: a first file, a mixed one, one that empties a month, maybe another mixed one, a
    re-upload of an earlier file, a console rerun of that execution, and a burst of 3-4 files."""
    rng = random.Random(seed)
    model = OffersModel()
    prefix = f"offers-s{seed}"
    steps: list[Step] = []
    uploaded: list[OffersFile] = []

    def upload(label: str, rows: list[Offer], emptied: str | None = None) -> None:
        file = OffersFile(f"{prefix}-{len(uploaded) + 1}.csv", rows)
        uploaded.append(file)
        steps.append(Step(label, "upload", [file], emptied))
        model.ingest(rows)

    upload("first", _with_duplicates(rng, [_fresh(rng) for _ in range(rng.randint(8, 20))], 2))
    upload("mixed", _with_duplicates(rng, _mixed(rng, model.table, rng.randint(8, 20)), rng.randint(1, 3)))
    rows, month = _evacuation(rng, model.table)
    upload("empties a month", rows, emptied=f"year=2026/month={month}")
    if rng.random() < 0.5:
        upload("mixed", _with_duplicates(rng, _mixed(rng, model.table, rng.randint(5, 15)), 1))
    # An earlier file whose rows would win again somewhere (a tie with a later file's row), when there is one.
    changing = [f for f in uploaded[:-1] if model.copy().ingest(f.rows).updated]
    again = rng.choice(changing or uploaded[:-1])
    steps.append(Step(f"re-upload of {again.name}", "reupload", [again]))
    model.ingest(again.rows)
    steps.append(Step("console rerun", "rerun", [again]))
    model.ingest(again.rows)
    steps.append(Step("burst", "burst", _burst(rng, model.table, prefix, rng.choice([3, 4]))))
    return steps


# --- orders: primaryKey [order_id], dedupe without order_by, partitioned by order_date's year and month ---

ORDERS_HEADER = "Order ID,Customer Name,Product,Quantity,Unit Price,Order Date"
ORDER_IDS = 10
ORDER_DATES = [date(2025, month, day) for month in (1, 2, 3, 4) for day in (3, 17)]
PRODUCTS = [("Laptop", "1000.00"), ("Mouse", "19.50"), ("Keyboard", "49.00"), ("USB cable", "4.50")]
CUSTOMERS = ["Ada Okafor", "", "Ben Smith"]


@dataclass(frozen=True)
class Order:
    order_id: str
    customer: str
    product: str
    quantity: int
    unit_price: str
    order_date: date

    def line(self) -> str:
        return ",".join(
            [
                self.order_id,
                self.customer,
                self.product,
                str(self.quantity),
                self.unit_price,
                self.order_date.isoformat(),
            ]
        )

    def __str__(self) -> str:
        return f"{self.order_id}:{self.quantity}x{self.unit_price}@{self.order_date}"


@dataclass
class OrdersFile:
    name: str
    rows: list[Order]
    emptied: str | None = None  # the partition this file moves every order out of, when it means to

    def text(self) -> str:
        return "\n".join([ORDERS_HEADER, *(r.line() for r in self.rows)]) + "\n"

    def __str__(self) -> str:
        return f"{self.name}: {' '.join(map(str, self.rows))}"


def orders_partition(day: date) -> str:
    return f"year={day.year}/month={day.month}"


@dataclass
class OrdersModel:
    """The orders table by order id: no `order_by`, so the later line of a file, then the later file, wins."""

    table: dict[str, Order] = field(default_factory=dict)

    def ingest(self, rows: Iterable[Order]) -> dict[str, int]:
        within = {r.order_id: r for r in rows}
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        for order_id, row in within.items():
            old = self.table.get(order_id)
            counts["inserted" if old is None else "updated" if old != row else "unchanged"] += 1
            self.table[order_id] = row
        return counts

    def months(self) -> set[str]:
        return {orders_partition(r.order_date) for r in self.table.values()}


def _new_order(rng: random.Random, order_id: str) -> Order:
    product, price = rng.choice(PRODUCTS)
    return Order(order_id, rng.choice(CUSTOMERS), product, rng.randint(1, 5), price, rng.choice(ORDER_DATES))


def _order_change(rng: random.Random, table: dict[str, Order]) -> Order:
    """A new order, or an existing one with its quantity corrected or its date moved to another month."""
    free = [f"ORD-{n}" for n in range(ORDER_IDS) if f"ORD-{n}" not in table]
    kind = rng.choice(["new", "quantity", "move"]) if free else rng.choice(["quantity", "move"])
    if kind == "new":
        return _new_order(rng, rng.choice(free))
    old = table[rng.choice(sorted(table))]
    if kind == "quantity":
        return replace(old, quantity=rng.choice([q for q in range(1, 6) if q != old.quantity]))
    other = [d for d in ORDER_DATES if d.month != old.order_date.month]
    return replace(old, order_date=rng.choice(other))


def orders_sequence(seed: int) -> list[OrdersFile]:
    """The seed's 3-4 orders files: new orders, then corrections of quantity, moves of `order_date` to another
    month and a repeated line; one file moves every order of a month out of it."""
    rng = random.Random(seed)
    model = OrdersModel()
    files: list[OrdersFile] = []

    def add(rows: list[Order], emptied: str | None = None) -> None:
        files.append(OrdersFile(f"orders-s{seed}-{len(files) + 1}.csv", rows, emptied))
        model.ingest(rows)

    add([_new_order(rng, f"ORD-{n}") for n in rng.sample(range(ORDER_IDS), rng.randint(4, 6))])
    rows = [_order_change(rng, model.table) for _ in range(rng.randint(2, 4))]
    rows.insert(
        rng.randrange(len(rows) + 1), _order_change(rng, model.table)
    )  # maybe a key twice: the later line
    add(rows)
    month = rng.choice(sorted({(d.year, d.month) for d in (r.order_date for r in model.table.values())}))
    moved = [
        replace(r, order_date=rng.choice([d for d in ORDER_DATES if (d.year, d.month) != month]))
        for r in model.table.values()
        if (r.order_date.year, r.order_date.month) == month
    ]
    add(moved, emptied=f"year={month[0]}/month={month[1]}")
    if rng.random() < 0.5:
        add([_order_change(rng, model.table) for _ in range(rng.randint(1, 3))])
    return files


def offers_coverage(steps: Sequence[Step]) -> dict[str, int]:
    """How often a sequence does each thing the property test means it to do, counted with the model (the
    burst in file order)."""
    model = OffersModel()
    found = dict.fromkeys(
        [
            "tie won by the later ingest",
            "older re-send lost",
            "moved to another month",
            "tie in a file won by the later line",
            "older line in a file lost",
            "month emptied",
            "re-upload changed a row",
            "offer in two burst files",
        ],
        0,
    )
    for step in steps:
        for file in step.files:
            within: dict[int, Offer] = {}
            for row in file.rows:
                best = within.get(row.i)
                if best is not None and row.tick == best.tick and row.risk != best.risk:
                    found["tie in a file won by the later line"] += 1
                if best is not None and row.tick < best.tick:
                    found["older line in a file lost"] += 1
                if best is None or row.tick >= best.tick:
                    within[row.i] = row
            for row in within.values():
                old = model.table.get(row.i)
                if old is not None and row.tick == old.tick and row.risk != old.risk:
                    found["tie won by the later ingest"] += 1
                if old is not None and row.tick < old.tick:
                    found["older re-send lost"] += 1
                if old is not None and row.tick > old.tick and month_of(row.tick) != month_of(old.tick):
                    found["moved to another month"] += 1
            before = model.partitions()
            counts = model.ingest(file.rows)
            if step.kind == "reupload" and counts.updated:
                found["re-upload changed a row"] += 1
            if step.emptied and step.emptied in before - model.partitions():
                found["month emptied"] += 1
        if step.kind == "burst":
            named = [i for file in step.files for i in {r.i for r in file.rows}]
            found["offer in two burst files"] = sum(1 for i in set(named) if named.count(i) > 1)
    return found
