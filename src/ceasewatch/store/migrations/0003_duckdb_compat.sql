-- DuckDB functions that read queries shared by both stores use, so that the same SQL
-- runs on PostgreSQL: arg_max(value, key) (the value at the largest non-null key),
-- epoch_us, string_split, list_has_any.
CREATE TYPE _cw_argmax_text_ts AS (v TEXT, k TIMESTAMPTZ);
CREATE FUNCTION _cw_argmax_text_ts_step(s _cw_argmax_text_ts, v TEXT, k TIMESTAMPTZ)
RETURNS _cw_argmax_text_ts LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN k IS NULL THEN s
                WHEN s IS NULL OR k > (s).k THEN ROW(v, k)::_cw_argmax_text_ts
                ELSE s END
$$;
CREATE FUNCTION _cw_argmax_text_ts_final(s _cw_argmax_text_ts) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$ SELECT (s).v $$;
CREATE AGGREGATE arg_max(TEXT, TIMESTAMPTZ) (
    SFUNC = _cw_argmax_text_ts_step, STYPE = _cw_argmax_text_ts,
    FINALFUNC = _cw_argmax_text_ts_final
);

CREATE TYPE _cw_argmax_text_int AS (v TEXT, k BIGINT);
CREATE FUNCTION _cw_argmax_text_int_step(s _cw_argmax_text_int, v TEXT, k BIGINT)
RETURNS _cw_argmax_text_int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN k IS NULL THEN s
                WHEN s IS NULL OR k > (s).k THEN ROW(v, k)::_cw_argmax_text_int
                ELSE s END
$$;
CREATE FUNCTION _cw_argmax_text_int_final(s _cw_argmax_text_int) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$ SELECT (s).v $$;
CREATE AGGREGATE arg_max(TEXT, BIGINT) (
    SFUNC = _cw_argmax_text_int_step, STYPE = _cw_argmax_text_int,
    FINALFUNC = _cw_argmax_text_int_final
);

CREATE FUNCTION epoch_us(t TIMESTAMPTZ) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM t) * 1000000)::BIGINT
$$;
CREATE FUNCTION string_split(s TEXT, sep TEXT) RETURNS TEXT[] LANGUAGE sql IMMUTABLE AS $$
    SELECT string_to_array(s, sep)
$$;
CREATE FUNCTION list_has_any(a TEXT[], b TEXT[]) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT a && b
$$;
