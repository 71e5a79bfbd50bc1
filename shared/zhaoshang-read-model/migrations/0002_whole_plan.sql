-- The whole plan: the project ledger in full, enterprises, alerts, service
-- platforms, expenditure and talent introduced.

-- After a change of investor the project's signing fields describe the
-- current investor's signing; every first signing, of every investor, is
-- kept in project_signings, which is what the progress table counts.
CREATE TABLE project_signings (
    sequence        bigint PRIMARY KEY,
    project_id      text NOT NULL,
    signed_on       date NOT NULL,
    investment_yuan bigint NOT NULL,
    qualifies       boolean NOT NULL,
    agreement       text NOT NULL
);
CREATE INDEX project_signings_period ON project_signings (signed_on) WHERE qualifies;
CREATE INDEX project_signings_project ON project_signings (project_id);

ALTER TABLE projects ADD COLUMN latest_progress text;
ALTER TABLE projects ADD COLUMN latest_progress_on date;
ALTER TABLE projects ADD COLUMN investor_changed_on date;

-- Problems a project needs help with (存在问题), open until resolved.
CREATE TABLE project_problems (
    project_id      text NOT NULL,
    problem_id      text NOT NULL,
    raised_on       date NOT NULL,
    description     text NOT NULL,
    help_from       text,
    raised_sequence bigint NOT NULL,
    resolved_on     date,
    resolution      text,
    resolved_sequence bigint,
    PRIMARY KEY (project_id, problem_id)
);
CREATE INDEX project_problems_open ON project_problems (project_id) WHERE resolved_on IS NULL;

-- Real-time reports to the office: every negotiation started, signing and
-- change of investor, the moment it is projected.
CREATE TABLE alerts (
    sequence        bigint PRIMARY KEY,
    kind            text NOT NULL,
    project_id      text NOT NULL,
    occurred_on     date NOT NULL,
    recorded_at     timestamptz NOT NULL,
    amount_yuan     bigint,
    actor           text NOT NULL
);
CREATE INDEX alerts_recorded ON alerts (recorded_at);

-- Target and chain-leader enterprises.
CREATE TABLE enterprises (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL,
    task_force_id text NOT NULL,
    uscc          text,
    city          text,
    note          text,
    listed_on     date NOT NULL,
    last_sequence bigint NOT NULL,
    version       bigint NOT NULL
);
CREATE INDEX enterprises_name ON enterprises (name);
CREATE INDEX enterprises_task_force ON enterprises (task_force_id);

CREATE TABLE service_platforms (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    relation        text NOT NULL,
    task_force_id   text,
    operator        text,
    recorded_on     date NOT NULL,
    evidence        text,
    note            text,
    reversed_on     date,
    reversal_reason text,
    last_sequence   bigint NOT NULL
);

CREATE TABLE expenditures (
    id              text PRIMARY KEY,
    task_force_id   text,
    category        text NOT NULL,
    amount_yuan     bigint NOT NULL,
    paid_on         date NOT NULL,
    description     text NOT NULL,
    voucher         text,
    reversed_on     date,
    reversal_reason text,
    last_sequence   bigint NOT NULL
);
CREATE INDEX expenditures_period ON expenditures (paid_on, task_force_id);

CREATE TABLE talent_introductions (
    id              text PRIMARY KEY,
    task_force_id   text NOT NULL,
    title           text NOT NULL,
    people          int NOT NULL,
    level           text,
    enterprise      text,
    introduced_on   date NOT NULL,
    reversed_on     date,
    reversal_reason text,
    last_sequence   bigint NOT NULL
);

-- Quarterly briefings (简报) as published: the content's hash and the stream
-- sequence its figures stood on; republications replace the current text.
CREATE TABLE briefings (
    id              text PRIMARY KEY,
    year            int NOT NULL,
    quarter         int NOT NULL,
    title           text NOT NULL,
    content_sha256  text NOT NULL,
    as_of_sequence  bigint NOT NULL,
    published_on    date NOT NULL,
    first_published_on date NOT NULL,
    publications    int NOT NULL,
    correction      text,
    last_sequence   bigint NOT NULL
);
