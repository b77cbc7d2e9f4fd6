-- The trade store: orders, fills and the two views of positions that reconciliation
-- compares. Order and fill ids live here, never in metric labels.
CREATE TABLE trade_orders (
    order_id text PRIMARY KEY,
    portfolio text NOT NULL,
    symbol text NOT NULL,
    side text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity double precision NOT NULL CHECK (quantity > 0),
    arrival_price double precision CHECK (arrival_price > 0),
    status text NOT NULL
        CHECK (status IN ('new', 'partially_filled', 'filled', 'cancelled', 'rejected')),
    submitted_at timestamptz NOT NULL,
    reject_reason text
);
CREATE INDEX trade_orders_portfolio_status ON trade_orders (portfolio, status);

-- The time column is part of the key so the table can become a TimescaleDB hypertable.
CREATE TABLE trade_fills (
    fill_id text NOT NULL,
    order_id text NOT NULL REFERENCES trade_orders (order_id),
    portfolio text NOT NULL,
    symbol text NOT NULL,
    side text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity double precision NOT NULL CHECK (quantity > 0),
    price double precision NOT NULL CHECK (price > 0),
    filled_at timestamptz NOT NULL,
    PRIMARY KEY (fill_id, filled_at)
);
CREATE INDEX trade_fills_order ON trade_fills (order_id, filled_at);

-- Our own book, as the order management system keeps it.
CREATE TABLE internal_positions (
    portfolio text NOT NULL,
    symbol text NOT NULL,
    quantity double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portfolio, symbol)
);

-- The broker's statement of the same book.
CREATE TABLE broker_positions (
    portfolio text NOT NULL,
    symbol text NOT NULL,
    quantity double precision NOT NULL,
    as_of timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portfolio, symbol)
);
