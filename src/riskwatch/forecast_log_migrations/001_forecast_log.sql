-- The forecast log: at each exchange day's close, the 1-day VaR and ES forecast for
-- the next exchange day, per portfolio, method and confidence; and, once that day has
-- closed, its realised return. A backtest joins the two on (portfolio, day).
--
-- Both tables are small (portfolios x methods x confidences rows a day), so they are
-- plain tables, not TimescaleDB hypertables: chunks would only add planning work.

CREATE TABLE forecast_log (
    portfolio text NOT NULL CHECK (portfolio <> ''),
    method text NOT NULL CHECK (method <> ''),
    confidence double precision NOT NULL CHECK (confidence > 0 AND confidence < 1),
    -- The exchange day the forecast is for: the session after the close it was made at.
    day date NOT NULL,
    -- Positive loss fractions. float8 accepts NaN and +-Infinity; a forecast that is
    -- not a number must never be stored as one (NaN sorts above Infinity).
    var double precision NOT NULL CHECK (var > '-Infinity' AND var < 'Infinity'),
    es double precision NOT NULL CHECK (es > '-Infinity' AND es < 'Infinity'),
    made_at timestamptz NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portfolio, method, confidence, day)
);

CREATE TABLE forecast_realised (
    portfolio text NOT NULL CHECK (portfolio <> ''),
    day date NOT NULL,
    realised_return double precision NOT NULL
        CHECK (realised_return > -1 AND realised_return < 'Infinity'),
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portfolio, day)
);
