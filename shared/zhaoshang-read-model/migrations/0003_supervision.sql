-- Supervision read models: monthly progress reports and escalation matters.
-- Derived from the stream like every read model; rebuildable at any time.
-- Two dates sit side by side on every row: the day a thing happened (`*_on`,
-- the envelope's `occurredat`) and when the system recorded it (`*_recorded_at`,
-- the envelope's `time`), so back-filled records show as such.

-- One row per task force and month: the report as it stands now, with the
-- first submission (which alone decides whether it was on time).
CREATE TABLE monthly_reports (
    id                 text PRIMARY KEY,
    task_force_id      text NOT NULL,
    year               int NOT NULL,
    month              int NOT NULL,
    due_on             date NOT NULL,
    first_submitted_on date NOT NULL,
    first_recorded_at  timestamptz NOT NULL,
    submitted_by       text NOT NULL,
    last_changed_on    date NOT NULL,
    last_recorded_at   timestamptz NOT NULL,
    amendments         int NOT NULL,
    figures            jsonb NOT NULL,
    progress           text NOT NULL,
    problems           text,
    next_month_plan    text,
    last_sequence      bigint NOT NULL,
    UNIQUE (task_force_id, year, month)
);

-- Every submission and amendment of every report, oldest first.
CREATE TABLE monthly_report_history (
    sequence    bigint PRIMARY KEY,
    report_id   text NOT NULL,
    event_type  text NOT NULL,
    happened_on date NOT NULL,
    recorded_at timestamptz NOT NULL,
    actor       text NOT NULL,
    reason      text,
    figures     jsonb NOT NULL
);
CREATE INDEX monthly_report_history_report ON monthly_report_history (report_id, sequence);

-- One row per escalation matter (a task force, a duty, a lagging period).
CREATE TABLE escalations (
    id            text PRIMARY KEY,
    task_force_id text NOT NULL,
    duty          text NOT NULL,
    period        text NOT NULL,
    step          text NOT NULL,
    step_on       date NOT NULL,
    answered      boolean NOT NULL,
    open          boolean NOT NULL,
    opened_on     date NOT NULL,
    closed_on     date,
    resolution    text,
    last_sequence bigint NOT NULL
);
CREATE INDEX escalations_task_force ON escalations (task_force_id, open);

-- Every step, response and closing of every matter, oldest first.
CREATE TABLE escalation_history (
    sequence      bigint PRIMARY KEY,
    escalation_id text NOT NULL,
    event_type    text NOT NULL,
    step          text,
    happened_on   date NOT NULL,
    recorded_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    person        text,
    content       text NOT NULL
);
CREATE INDEX escalation_history_matter ON escalation_history (escalation_id, sequence);
