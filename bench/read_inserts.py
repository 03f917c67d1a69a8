"""The seed's inserts: set-based statements from the plan of draws (`seed_plan`, one row per
ticket, numbered `n` in the order of creation) joined to the quotes (`seed_quotes`) and the
shapes of statuses (`seed_shapes`) that `bench.read_seed` puts in temporary tables."""

from __future__ import annotations

# Columns of the plan as SQL expressions, shared by the inserts below.
# `domain.tickets.ticket_number`: AS<yyyymmdd>-<sequence, at least six digits>.
_TICKET_NO = """'AS' || to_char(p.created_at AT TIME ZONE 'UTC', 'YYYYMMDD') || '-'
    || lpad(p.n::text, greatest(6, length(p.n::text)), '0')"""
_ORDER_ID = "'SO-' || lpad(p.n::text, 8, '0')"
_MERCHANT = "'m-' || lpad(p.merchant_no::text, 5, '0')"
_BUYER = "'b-' || lpad(p.buyer_no::text, 7, '0')"
_QUOTE = """JOIN seed_quotes q ON q.currency = p.currency AND q.product = p.product
    AND q.quantity = p.quantity AND q.reason = p.reason_code AND q.shipped = NOT p.unshipped
    JOIN seed_shapes s ON s.status = p.status"""


_STATEMENTS = [
    (
        "merchants",
        """INSERT INTO merchants (merchant_id, name, locale, email, created_at)
        SELECT 'm-' || lpad(n::text, 5, '0'), 'Merchant ' || n,
               CASE WHEN n %% 5 IN (3, 4) THEN 'en' ELSE 'zh-CN' END,
               'service+' || n || '@merchant.example', now() - interval '2 years'
        FROM generate_series(1, %(merchants)s) AS n""",
    ),
    (
        "warehouses",
        """INSERT INTO warehouses (warehouse_id, merchant_id, name, address, created_at)
        SELECT 'wh-' || lpad(n::text, 5, '0'), 'm-' || lpad(n::text, 5, '0'),
               'Returns centre ' || n, n || ' Logistics Park Rd', now() - interval '2 years'
        FROM generate_series(1, %(merchants)s) AS n""",
    ),
    (
        "buyers",
        """INSERT INTO buyers (buyer_id, name, email, phone, locale, created_at)
        SELECT 'b-' || lpad(n::text, 7, '0'), 'Buyer ' || n, 'buyer' || n || '@mail.example',
               '+86 138 ' || lpad((n %% 100000000)::text, 8, '0'),
               CASE WHEN n %% 4 = 0 THEN 'en' ELSE 'zh-CN' END, now() - interval '1 year'
        FROM generate_series(1, %(buyers)s) AS n""",
    ),
    (
        "orders",
        f"""INSERT INTO orders (order_id, buyer_id, merchant_id, currency, shipping_fee, payment,
            status, shipped_at, delivered_at, version, after_sales_status, refunded_total,
            closed_at, created_at, updated_at)
        SELECT {_ORDER_ID}, {_BUYER}, {_MERCHANT}, p.currency, q.shipping_fee,
               jsonb_build_object('provider', 'sandbox', 'reference', 'pay_' || p.n,
                   'method', CASE WHEN p.spare < 0.6 THEN 'wallet' ELSE 'card' END,
                   'paid_total', q.paid_total,
                   'paid_at', p.created_at - interval '7 days'),
               CASE WHEN p.unshipped THEN 'paid' ELSE 'delivered' END,
               CASE WHEN p.unshipped THEN NULL ELSE p.created_at - interval '5 days' END,
               CASE WHEN p.unshipped THEN NULL ELSE p.created_at - interval '2 days' END,
               1,
               CASE WHEN p.status = 'refunding' THEN 'refunding'
                    WHEN s.refunded AND p.type <> 'exchange' AND q.total >= q.paid_total
                        THEN 'refunded'
                    WHEN s.refunded AND p.type <> 'exchange' THEN 'partially_refunded'
                    ELSE 'none' END,
               CASE WHEN s.refunded AND p.type <> 'exchange' THEN q.total ELSE 0 END,
               NULL, p.created_at - interval '7 days', p.created_at
        FROM seed_plan p {_QUOTE}""",
    ),
    (
        "order lines",
        f"""INSERT INTO order_lines (order_id, line_id, position, sku, title, quantity,
            unit_price, discount)
        SELECT {_ORDER_ID}, 'L1', 0, q.sku, q.title, p.quantity, q.unit_price, q.discount
        FROM seed_plan p {_QUOTE}""",
    ),
    (
        "tickets",
        f"""INSERT INTO tickets (ticket_no, order_id, buyer_id, merchant_id, warehouse_id, type,
            reason_code, description, evidence, destination, destination_details, currency,
            requested_amount, quoted_amount, granted_amount, refunded_amount, breakdown, status,
            next_actor, deadline_at, on_timeout, policy, version, created_by_role, service_fee,
            escalated, risk_level, risk_reasons, evidence_summary, created_at, updated_at,
            closed_at)
        SELECT {_TICKET_NO}, {_ORDER_ID}, {_BUYER}, {_MERCHANT},
               CASE WHEN s.returned AND p.type <> 'refund_only'
                    THEN 'wh-' || lpad(p.merchant_no::text, 5, '0') END,
               p.type, p.reason_code,
               CASE WHEN p.reason_code = 'no_longer_needed' THEN ''
                    ELSE 'The item arrived and is not what the listing promised.' END,
               CASE WHEN p.reason_code IN ('quality_issue', 'damaged_in_transit')
                    THEN jsonb_build_array('https://media.example/evidence/' || p.n || '.jpg')
                    ELSE '[]'::jsonb END,
               'original', NULL, p.currency, NULL, q.total,
               CASE WHEN s.granted AND p.type <> 'exchange' THEN q.total END,
               CASE WHEN s.refunded AND p.type <> 'exchange' THEN q.total ELSE 0 END,
               q.breakdown, p.status, s.next_actor,
               CASE WHEN s.on_timeout IS NOT NULL
                    THEN %(now)s::timestamptz + p.spare * interval '2 days' END,
               s.on_timeout, q.policy, s.version,
               CASE WHEN p.spare < 0.02 THEN 'support' ELSE 'buyer' END, 0,
               p.status = 'under_arbitration',
               CASE WHEN p.spare < 0.02 THEN 'high' WHEN p.spare < 0.1 THEN 'medium' ELSE 'low' END,
               CASE WHEN p.spare < 0.02 THEN '["many refunds in 30 days"]'::jsonb
                    ELSE '[]'::jsonb END,
               NULL, p.created_at,
               least(%(now)s, p.created_at
                   + CASE WHEN s.closed THEN interval '4 days' ELSE interval '1 hour' END),
               CASE WHEN s.closed THEN least(%(now)s, p.created_at + interval '4 days') END
        FROM seed_plan p {_QUOTE}""",
    ),
    (
        "ticket lines",
        f"""INSERT INTO ticket_lines (ticket_no, line_id, order_id, quantity)
        SELECT {_TICKET_NO}, 'L1', {_ORDER_ID}, p.quantity FROM seed_plan p""",
    ),
]


_BY_NAME = dict(_STATEMENTS)
# (step, its statements in order), the biggest first: steps run side by side, each taking the
# values `merchants`, `buyers` and `now`.
INSERTS = [
    ("tickets", [_BY_NAME["tickets"]]),
    ("orders", [_BY_NAME["orders"]]),
    ("order lines", [_BY_NAME["order lines"]]),
    ("ticket lines", [_BY_NAME["ticket lines"]]),
    ("people", [_BY_NAME["merchants"], _BY_NAME["warehouses"], _BY_NAME["buyers"]]),
]
