"""Alerts: a notification outbox in PostGIS, subscriptions, webhook receivers, dead letters.

- ``notify_cursor`` / ``notify_events``: the worker reads new ``case_events`` by id
  (no trigger on ``case_events``: the demo loader COPYs a million rows). ``notify_events``
  holds each captured event once (its primary key is the event id); the cursor's
  ``last_id`` only moves past an id once every transaction that could still commit a
  smaller one has ended (``pending_id`` / ``pending_running``: the largest id and the
  transactions writing in this database at the previous pass), so no event is ever
  skipped.
- ``notify_subscriptions``: a resident follows a case, or watches an area (a community,
  or a point and a radius) for chosen kinds; by e-mail, SMS or WeChat.
- ``notify_receivers``: departments' own systems: a URL, an HMAC secret, an optional
  department filter, retry settings.
- ``notifications`` (the outbox): one row per (event, subscription or receiver) with a
  unique ``delivery_key``, so that each event is delivered once per receiver however
  often the fan-out runs. ``notify_deliveries`` logs every attempt;
  ``notify_dead_letters`` lists those that ran out of tries.

Personal data (e-mail addresses, phones, secrets): only the owner and ``gridgov_system``
(the worker) read them; the API client may only add subscriptions.

Revision ID: 0085
Revises: 0080
Create Date: 2026-12-02
"""

from alembic import op

revision = "0085"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
CREATE TABLE notify_cursor (
    id            smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_id       bigint,
    pending_id    bigint,
    pending_running text[],
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO notify_cursor (id) VALUES (1);

CREATE FUNCTION notify_running_xids() RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    -- a fresh look every call: pg_stat_activity is otherwise cached for the transaction
    PERFORM pg_stat_clear_snapshot();
    RETURN (SELECT coalesce(array_agg(backend_xid::text ORDER BY backend_xid::text), '{}')
            FROM pg_stat_activity
            WHERE datname = current_database() AND backend_xid IS NOT NULL
              AND pid <> pg_backend_pid());
END $$;
COMMENT ON FUNCTION notify_running_xids IS 'Transaction ids now writing in this database (other sessions): the notification cursor waits for them.';
REVOKE ALL ON FUNCTION notify_running_xids FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notify_running_xids TO gridgov_system;
COMMENT ON TABLE notify_cursor IS 'Where the notification worker is in case_events: every id <= last_id is captured (NULL: not started yet).';

CREATE TABLE notify_events (
    event_id     bigint PRIMARY KEY REFERENCES case_events(id),
    case_id      bigint NOT NULL REFERENCES cases(id),
    captured_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE notify_events IS 'Case events the notification worker has fanned out, each once.';

CREATE TABLE notify_subscriptions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('follow', 'watch')),
    channel       text NOT NULL CHECK (channel IN ('email', 'sms', 'wechat')),
    address       text NOT NULL CHECK (length(address) BETWEEN 3 AND 254),
    case_id       bigint REFERENCES cases(id),
    community_id  integer REFERENCES communities(id),
    geom          geometry(Point, 4326),
    radius_m      double precision CHECK (radius_m > 0 AND radius_m <= 5000),
    service_codes text[] NOT NULL DEFAULT '{}',
    after_event_id bigint NOT NULL DEFAULT 0,
    client_id     text NOT NULL UNIQUE CHECK (client_id ~ '^[A-Za-z0-9_-]{8,64}$'),
    unsubscribe_hash bytea NOT NULL UNIQUE CHECK (length(unsubscribe_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    CHECK ((kind = 'follow') = (case_id IS NOT NULL)),
    CHECK (kind = 'follow' OR community_id IS NOT NULL OR (geom IS NOT NULL AND radius_m IS NOT NULL)),
    CHECK ((geom IS NULL) = (radius_m IS NULL))
);
CREATE INDEX notify_subscriptions_case ON notify_subscriptions (case_id) WHERE ended_at IS NULL;
CREATE INDEX notify_subscriptions_community ON notify_subscriptions (community_id) WHERE ended_at IS NULL;
CREATE INDEX notify_subscriptions_geom_gix ON notify_subscriptions USING gist (geom);
CREATE UNIQUE INDEX notify_subscriptions_one_follow ON notify_subscriptions (case_id, channel, address)
    WHERE kind = 'follow' AND ended_at IS NULL;
COMMENT ON TABLE notify_subscriptions IS 'Residents following a case or watching an area for kinds (personal data: the address).';

CREATE TABLE notify_receivers (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    url             text NOT NULL CHECK (url ~ '^https?://'),
    secret          text NOT NULL CHECK (length(secret) >= 16),
    department_id   integer REFERENCES departments(id),
    max_tries       integer NOT NULL DEFAULT 12 CHECK (max_tries BETWEEN 1 AND 100),
    backoff_base_s  double precision NOT NULL DEFAULT 5 CHECK (backoff_base_s > 0),
    backoff_cap_s   double precision NOT NULL DEFAULT 900 CHECK (backoff_cap_s > 0),
    after_event_id  bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);
COMMENT ON TABLE notify_receivers IS 'Signed webhooks: departments'' own systems that receive new and changed cases (secret: HMAC-SHA256 key).';

CREATE TABLE notifications (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_key     text NOT NULL UNIQUE,
    event_id         bigint NOT NULL REFERENCES notify_events(event_id),
    case_id          bigint NOT NULL REFERENCES cases(id),
    channel          text NOT NULL CHECK (channel IN ('email', 'sms', 'wechat', 'webhook')),
    subscription_id  bigint REFERENCES notify_subscriptions(id),
    receiver_id      integer REFERENCES notify_receivers(id),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    CHECK ((subscription_id IS NULL) <> (receiver_id IS NULL)),
    CHECK ((channel = 'webhook') = (receiver_id IS NOT NULL))
);
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_event ON notifications (event_id);
COMMENT ON TABLE notifications IS 'The notification outbox: one row per event and recipient, delivered once (delivery_key).';

CREATE TABLE notify_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id  bigint NOT NULL REFERENCES notifications(id),
    attempt          integer NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    ok               boolean NOT NULL,
    detail           text,
    duration_ms      integer
);
CREATE INDEX notify_deliveries_notification ON notify_deliveries (notification_id);
COMMENT ON TABLE notify_deliveries IS 'Every attempt to deliver a notification: when, whether it worked, what the far end said.';

CREATE TABLE notify_dead_letters (
    notification_id  bigint PRIMARY KEY REFERENCES notifications(id),
    died_at          timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL,
    last_error       text,
    retried_at       timestamptz
);
COMMENT ON TABLE notify_dead_letters IS 'Notifications that ran out of tries (gridgov notify dead lists them; --retry sends them again).';

REVOKE ALL ON notify_cursor, notify_events, notify_subscriptions, notify_receivers,
    notifications, notify_deliveries, notify_dead_letters FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON notify_cursor, notify_events, notify_subscriptions,
    notify_receivers, notifications, notify_deliveries, notify_dead_letters TO gridgov_system;
GRANT SELECT ON communities, categories, departments TO gridgov_api_client;
GRANT INSERT ON notify_subscriptions TO gridgov_api_client;
GRANT SELECT (id, kind, case_id, client_id, unsubscribe_hash, ended_at) ON notify_subscriptions TO gridgov_api_client;
GRANT UPDATE (ended_at) ON notify_subscriptions TO gridgov_api_client;
""")


def downgrade() -> None:
    op.execute("""
DROP TABLE IF EXISTS notify_dead_letters;
DROP TABLE IF EXISTS notify_deliveries;
DROP TABLE IF EXISTS notifications;
DROP TABLE IF EXISTS notify_receivers;
DROP TABLE IF EXISTS notify_subscriptions;
DROP TABLE IF EXISTS notify_events;
DROP TABLE IF EXISTS notify_cursor;
DROP FUNCTION IF EXISTS notify_running_xids();
""")
