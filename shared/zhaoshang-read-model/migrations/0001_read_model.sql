-- The read models of zhaoshang, built from the event stream by the projector.
-- Every row here can be rebuilt from the stream; nothing here is the record.
-- Columns are nullable where an event patch may leave them unset: rows are
-- merged from per-batch patches with COALESCE (see projection.rs).

-- How far each projection has applied the stream, written in the same
-- transaction as the rows it covers.
CREATE TABLE projection_checkpoints (
    projection    text PRIMARY KEY,
    last_sequence bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every event, as the audit and supervision queries read them. The payload
-- is kept as `json` (text checked once), not `jsonb`: it is read back whole,
-- never searched inside, and `json` costs a fraction to write.
CREATE TABLE event_log (
    sequence          bigint PRIMARY KEY,
    event_id          uuid NOT NULL,
    event_type        text NOT NULL,
    aggregate_type    text NOT NULL,
    aggregate_id      text NOT NULL,
    aggregate_version bigint NOT NULL,
    actor             text NOT NULL,
    occurred_on       date,
    recorded_at       timestamptz NOT NULL,
    correlation_id    uuid NOT NULL,
    prev_hash         text,
    hash              text NOT NULL,
    data              json NOT NULL
);
CREATE INDEX event_log_aggregate ON event_log (aggregate_type, aggregate_id, sequence);

-- Plan periods with their targets (targets are data).
CREATE TABLE plan_periods (
    id                        text PRIMARY KEY,
    title                     text NOT NULL,
    document_number           text NOT NULL,
    issued_by                 text NOT NULL,
    issued_on                 date NOT NULL,
    first_year                int NOT NULL,
    last_year                 int NOT NULL,
    industrial_threshold_yuan bigint NOT NULL,
    service_threshold_yuan    bigint NOT NULL,
    targets                   jsonb NOT NULL
);

CREATE TABLE leading_groups (
    id                text PRIMARY KEY,
    plan_period_id    text NOT NULL,
    name              text NOT NULL,
    office_name       text NOT NULL,
    office_department text NOT NULL,
    office_director   text NOT NULL,
    members           jsonb NOT NULL,
    formed_on         date NOT NULL
);

CREATE TABLE task_forces (
    id                                 text PRIMARY KEY,
    number                             int NOT NULL,
    name                               text NOT NULL,
    chain                              text NOT NULL,
    convener                           text NOT NULL,
    deputy_convener                    text NOT NULL,
    lead_department                    text NOT NULL,
    cooperating_departments            jsonb NOT NULL,
    cooperating_departments_open_ended boolean NOT NULL,
    district_bureaus                   jsonb NOT NULL,
    district_bureaus_open_ended        boolean NOT NULL,
    chain_leaders                      jsonb NOT NULL,
    chain_leaders_open_ended           boolean NOT NULL,
    liaison_name                       text,
    liaison_department                 text,
    established_on                     date NOT NULL
);

-- Who held a task force role when: changes are events, so history is kept.
CREATE TABLE task_force_role_history (
    sequence      bigint PRIMARY KEY,
    task_force_id text NOT NULL,
    role          text NOT NULL,
    name          text NOT NULL,
    department    text,
    effective_on  date NOT NULL,
    reason        text
);

CREATE TABLE annual_plans (
    task_force_id   text NOT NULL,
    year            int NOT NULL,
    title           text NOT NULL,
    document_ref    text NOT NULL,
    document_sha256 text NOT NULL,
    first_submitted_on date NOT NULL,
    last_revised_on date NOT NULL,
    revisions       int NOT NULL,
    PRIMARY KEY (task_force_id, year)
);

CREATE TABLE dockings (
    sequence        bigint PRIMARY KEY,
    task_force_id   text NOT NULL,
    enterprise      text NOT NULL,
    enterprise_role text NOT NULL,
    method          text NOT NULL,
    docked_on       date NOT NULL,
    participants    jsonb NOT NULL,
    outcome         text
);
CREATE INDEX dockings_period ON dockings (docked_on, task_force_id);

-- The project reserve and ledger (附件2).
CREATE TABLE projects (
    id                       text PRIMARY KEY,
    task_force_id            text,
    name                     text,
    investor                 text,
    category                 text,
    owner                    text,
    planned_investment_yuan  bigint,
    stage                    text,
    status                   text,
    lead_on                  date,
    negotiating_on           date,
    first_signed_on          date,
    signed_investment_yuan   bigint,
    contract_signed_on       date,
    contract_investment_yuan bigint,
    increased_investment_yuan bigint NOT NULL DEFAULT 0,
    qualifies                boolean,
    company_name             text,
    company_registered_on    date,
    construction_started_on  date,
    producing_on             date,
    funds_arrived_yuan       bigint,
    reserve_entered_on       date,
    status_on                date,
    status_reason            text,
    last_sequence            bigint NOT NULL,
    version                  bigint NOT NULL
);
CREATE INDEX projects_task_force ON projects (task_force_id);
CREATE INDEX projects_first_signed ON projects (first_signed_on) WHERE qualifies;

-- Every step of every project, with its date and evidence.
CREATE TABLE project_steps (
    sequence    bigint PRIMARY KEY,
    project_id  text NOT NULL,
    event_type  text NOT NULL,
    stage       text,
    occurred_on date NOT NULL,
    amount_yuan bigint,
    evidence    text,
    note        text,
    recorded_at timestamptz NOT NULL,
    actor       text NOT NULL
);
CREATE INDEX project_steps_project ON project_steps (project_id, sequence);

CREATE TABLE activities (
    id                      text PRIMARY KEY,
    task_force_id           text,
    kind                    text,
    title                   text,
    status                  text NOT NULL,
    activity_on             date,
    led_by_principal_leader boolean,
    destination_cities      jsonb,
    note                    text,
    cancelled_on            date,
    cancel_reason           text,
    last_sequence           bigint NOT NULL
);
CREATE INDEX activities_period ON activities (activity_on, task_force_id);

CREATE TABLE activity_enterprises (
    activity_id text NOT NULL,
    enterprise  text NOT NULL,
    role        text NOT NULL,
    PRIMARY KEY (activity_id, enterprise)
);

CREATE TABLE meetings (
    id            text PRIMARY KEY,
    kind          text NOT NULL,
    task_force_id text,
    held_on       date NOT NULL,
    title         text NOT NULL,
    attendees     jsonb NOT NULL,
    minutes       text,
    sequence      bigint NOT NULL
);
CREATE INDEX meetings_period ON meetings (held_on, kind);
