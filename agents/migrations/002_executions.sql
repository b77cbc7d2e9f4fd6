-- The fills the broker reported, as the agent read them, and where matching them into
-- closed trades starts. A fill is identified by its broker's exec_id within its
-- portfolio: reading the same fill again (the agent re-reads the day's fills every
-- cycle, and again after a restart) writes nothing.
CREATE TABLE agent_executions (
    portfolio text NOT NULL,
    exec_id text NOT NULL,
    symbol text NOT NULL,
    side text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity double precision NOT NULL CHECK (quantity > 0 AND quantity < 'Infinity'),
    price double precision NOT NULL CHECK (price > 0 AND price < 'Infinity'),
    ts timestamptz NOT NULL,
    PRIMARY KEY (portfolio, exec_id)
);
CREATE INDEX agent_executions_by_time ON agent_executions (portfolio, ts);

-- The book the first recorded fills traded against: its positions, at their average
-- cost, when the agent first recorded the portfolio's fills. Without them a sale of a
-- position bought before then would read as opening a short. Fills at or before
-- as_of are already in these positions, so matching starts after it.
CREATE TABLE agent_trade_start (
    portfolio text PRIMARY KEY,
    as_of timestamptz NOT NULL
);
CREATE TABLE agent_opening_lots (
    portfolio text NOT NULL REFERENCES agent_trade_start (portfolio),
    symbol text NOT NULL,
    -- Signed: negative for a short position.
    quantity double precision NOT NULL CHECK (quantity <> 0 AND abs(quantity) < 'Infinity'),
    price double precision NOT NULL CHECK (price > 0 AND price < 'Infinity'),
    PRIMARY KEY (portfolio, symbol)
);
