"""The fixture lake the dbt tests build on: named people covering every rank and identity case,
a 1,000-record identity chain, and a second day that refunds, merges and adds records."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from bench.lake import write_empty_entities, write_partition
from tests.dbt.lake_fixtures import customer, order

DAY0 = "2025-06-29"
DAY1 = "2025-06-30"  # as_of of the first build
DAY2 = "2025-07-01"  # the one new day
CHAIN = 1000


def chain_records(n: int = CHAIN, seed: int = 7) -> list[dict]:
    """n records linked in a chain: 2k~2k+1 share an email, 2k-1~2k share a mobile. Their ages are
    shuffled so the oldest record sits anywhere in the chain (the hard case for propagation)."""
    rng = random.Random(seed)
    ages = list(range(n))
    rng.shuffle(ages)
    base = datetime(2018, 1, 1, 9, 0)
    rows = []
    for i in range(n):
        rows.append(
            customer(
                "chain",
                f"k{i:04d}",
                registered_at=(base + timedelta(minutes=ages[i])).isoformat(sep=" "),
                email=f"m{i // 2}@chain.test",
                phone=f"+6689{(i + 1) // 2:07d}",
            )
        )
    return rows


def build_day1(lake: Path) -> None:
    cust = [
        # transitive: A~B by email, B~C by mobile
        customer(
            "crm",
            "A",
            "2019-01-01 09:00:00",
            email="somchai@example.com",
            first_name="Somchai",
            address="1 Sukhumvit",
            district="Watthana",
            province="Bangkok",
            postal_code="10110",
            birth_date="1985-05-05",
            gender="M",
        ),
        customer("web", "B", "2020-01-01 09:00:00", email="somchai@example.com", phone="+66811111111"),
        customer("pos", "C", "2021-01-01 09:00:00", phone="+66811111111"),
        # placeholders never merge
        customer("pos", "J1", "2020-02-01 09:00:00", email="noemail@example.com"),
        customer("pos", "J2", "2020-02-02 09:00:00", email="noemail@example.com"),
        customer("pos", "J3", "2020-02-03 09:00:00", phone="+66000000000"),
        customer("pos", "J4", "2020-02-04 09:00:00", phone="+66000000000"),
        # rank cases
        customer("pos", "D1", "2020-03-01 09:00:00", email="dup@example.com"),
        customer("pos", "X1", "2020-03-02 09:00:00", email="cancel@example.com"),
        customer("pos", "O1", "2020-03-03 09:00:00", email="old@example.com"),
        # to be merged on day 2
        customer("web", "M1", "2018-05-01 09:00:00", email="m1@example.com"),
        customer("pos", "M2", "2022-05-01 09:00:00", phone="+66822222222"),
    ]
    # an email used by 11 records is shared (> 10): never merges
    cust += [
        customer("shop", f"S{i:02d}", f"2021-06-{i + 1:02d} 09:00:00", email="shared@shop.com")
        for i in range(11)
    ]
    write_partition(lake, "customers", DAY0, cust, source="crm_customers")
    write_partition(lake, "customers", DAY1, chain_records(), source="chain_customers")
    write_partition(
        lake,
        "orders",
        DAY0,
        [
            order("pos", "o1", "C", "2025-01-10 19:30:00", 25000, channel="store", store_id="S01"),
            order("web", "o2", "B", "2025-02-01 10:00:00", 6000, channel="web", store_id=None),
            order("pos", "o3", "D1", "2025-03-01 10:00:00", 10000),
            order("pos", "o4", "X1", "2025-03-01 10:00:00", 40000),
            order("pos", "o5", "O1", "2022-06-29 10:00:00", 50000),
            order("web", "o6", "M1", "2025-04-01 10:00:00", 2000),
            order("pos", "o7", "M2", "2025-04-02 10:00:00", 3000),
        ],
        source="pos_orders",
    )
    write_partition(
        lake,
        "orders",
        DAY1,
        [
            order("pos", "o3", "D1", "2025-03-01 10:00:00", 10000),  # delivered twice
            order("pos", "o4", "X1", "2025-03-01 10:00:00", 40000, status="cancelled"),
        ],
        source="pos_orders",
    )
    write_partition(
        lake,
        "order_lines",
        DAY0,
        [
            {
                "source_system": "pos",
                "order_id": "o1",
                "line_no": 1,
                "product_id": "P1",
                "quantity": 2,
                "unit_price": 12500.0,
            },
            {
                "source_system": "web",
                "order_id": "o2",
                "line_no": 1,
                "product_id": "P2",
                "quantity": 1,
                "unit_price": 6000.0,
            },
        ],
        source="pos_lines",
    )
    write_partition(
        lake,
        "products",
        DAY0,
        [
            {"product_id": "P1", "name": "Air conditioner", "category": "appliances", "price": 12500.0},
            {"product_id": "P2", "name": "Kettle", "category": "kitchen", "price": 6000.0},
        ],
        source="products",
    )
    write_partition(
        lake,
        "web_events",
        DAY1,
        [
            {
                "event_id": "e1",
                "source_system": "web",
                "source_customer_id": "B",
                "event_type": "login",
                "occurred_at": "2025-06-20 08:00:00",
            },
            {
                "event_id": "e2",
                "source_system": "web",
                "source_customer_id": "B",
                "event_type": "search",
                "occurred_at": "2025-06-20 08:01:00",
                "search_term": "Fan",
            },
            {
                "event_id": "e3",
                "source_system": "web",
                "source_customer_id": "B",
                "event_type": "page_view",
                "occurred_at": "2025-06-20 08:02:00",
                "url": "/p/1",
            },
        ],
        source="web_events",
    )
    write_partition(
        lake,
        "consents",
        DAY1,
        [
            {
                "source_system": "crm",
                "source_customer_id": "A",
                "channel": "email",
                "status": "opt_out",
                "recorded_at": "2025-06-01 10:00:00",
            },
            {
                "source_system": "web",
                "source_customer_id": "B",
                "channel": "all",
                "status": "opt_in",
                "recorded_at": "2025-05-01 10:00:00",
            },
        ],
        source="consents",
    )
    write_partition(
        lake,
        "support_tickets",
        DAY1,
        [
            {
                "ticket_id": "t1",
                "source_system": "crm",
                "source_customer_id": "A",
                "opened_at": "2025-06-01 10:00:00",
                "status": "open",
                "category": "repair",
            },
        ],
        source="tickets",
    )
    write_empty_entities(lake, load_date=DAY0)


def build_day2(lake: Path) -> None:
    write_partition(
        lake,
        "customers",
        DAY2,
        [
            customer("web", "A2", "2025-06-30 12:00:00", email="somchai@example.com"),  # joins person A
            customer(
                "crm", "M3", "2025-06-30 12:00:00", email="m1@example.com", phone="+66822222222"
            ),  # merges M1 + M2
        ],
        source="crm_customers",
    )
    write_partition(
        lake,
        "orders",
        DAY2,
        [
            order(
                "web", "o2", "B", "2025-02-01 10:00:00", 6000, status="refunded"
            ),  # drops person A to Regular
            order("pos", "o8", "D1", "2025-06-30 20:00:00", 500),
        ],
        source="pos_orders",
    )
    write_partition(
        lake,
        "web_events",
        DAY2,
        [
            {
                "event_id": "e4",
                "source_system": "web",
                "source_customer_id": "B",
                "event_type": "login",
                "occurred_at": "2025-06-30 21:00:00",
            },
        ],
        source="web_events",
    )
