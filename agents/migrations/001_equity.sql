-- The trading agent's equity curve: one point per portfolio per cycle. It is what
-- keeps the drawdown peak and the day's P&L across a restart mid-day.
CREATE TABLE agent_equity (
    portfolio text NOT NULL,
    ts timestamptz NOT NULL,
    value_usd double precision NOT NULL CHECK (value_usd > 0),
    PRIMARY KEY (portfolio, ts)
);
