//! Applying events to the read models, a batch per transaction.
//!
//! A batch is folded in memory into one patch per row, then written with one
//! set-based statement per table (`INSERT … SELECT FROM UNNEST(…) ON CONFLICT
//! DO UPDATE`), so the cost per event stays near a batched insert's whatever
//! the batch holds. The checkpoint is read `FOR UPDATE` and written in the
//! same transaction: events at or below it are skipped, so redeliveries and
//! replays change nothing and two projectors never interleave.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use zhaoshang_domain::EventEnvelope;
use zhaoshang_domain::activity::{ActivityDetails, ActivityEvent};
use zhaoshang_domain::briefing::BriefingEvent;
use zhaoshang_domain::enterprise::EnterpriseEvent;
use zhaoshang_domain::envelope::DecodeError;
use zhaoshang_domain::meeting::MeetingEvent;
use zhaoshang_domain::monthly_report::MonthlyReportEvent;
use zhaoshang_domain::plan::{LeadingGroupEvent, PlanPeriodEvent};
use zhaoshang_domain::project::{AgreementKind, ProjectEvent, ProjectStage, ProjectStatus};
use zhaoshang_domain::resources::{ExpenditureEvent, ReverseRecord, ServicePlatformEvent, TalentIntroductionEvent};
use zhaoshang_domain::supervision::EscalationEvent;
use zhaoshang_domain::task_force::TaskForceEvent;

use crate::ReadModelError;
use crate::copy::CopyRows;
use crate::facts::{Fact, FactOp, ProjectChange, month_start, quarter_start};

/// The name under which the read models' checkpoint is kept.
pub const READ_MODEL_PROJECTION: &str = "read_model";

/// One event to apply: its stream sequence and envelope.
pub struct EventToApply<'a> {
    /// The stream sequence.
    pub sequence: u64,
    /// The event.
    pub envelope: &'a EventEnvelope,
}

#[derive(Default, Clone)]
struct ProjectPatch {
    task_force_id: Option<String>,
    name: Option<String>,
    investor: Option<String>,
    category: Option<String>,
    owner: Option<String>,
    planned_investment_yuan: Option<i64>,
    stage: Option<String>,
    status: Option<String>,
    lead_on: Option<NaiveDate>,
    negotiating_on: Option<NaiveDate>,
    first_signed_on: Option<NaiveDate>,
    signed_investment_yuan: Option<i64>,
    contract_signed_on: Option<NaiveDate>,
    contract_investment_yuan: Option<i64>,
    increased_investment_yuan: i64,
    qualifies: Option<bool>,
    company_name: Option<String>,
    company_registered_on: Option<NaiveDate>,
    construction_started_on: Option<NaiveDate>,
    producing_on: Option<NaiveDate>,
    funds_arrived_yuan: Option<i64>,
    reserve_entered_on: Option<NaiveDate>,
    status_on: Option<NaiveDate>,
    status_reason: Option<String>,
    last_sequence: i64,
    version: i64,
    latest_progress: Option<String>,
    latest_progress_on: Option<NaiveDate>,
    /// Set when this batch changed the investor: the signing fields of this
    /// patch then replace the stored ones instead of filling in around them.
    investor_changed_on: Option<NaiveDate>,
}

#[derive(Default, Clone)]
struct ActivityPatch {
    task_force_id: Option<String>,
    kind: Option<String>,
    title: Option<String>,
    status: String,
    activity_on: Option<NaiveDate>,
    led_by_principal_leader: Option<bool>,
    destination_cities: Option<Value>,
    note: Option<String>,
    cancelled_on: Option<NaiveDate>,
    cancel_reason: Option<String>,
    last_sequence: i64,
    /// The activity's final list of enterprises, when this batch set it.
    enterprises: Option<Vec<(String, String)>>,
}

struct StepRow {
    sequence: i64,
    project_id: String,
    event_type: String,
    stage: Option<String>,
    occurred_on: NaiveDate,
    amount_yuan: Option<i64>,
    evidence: Option<String>,
    note: Option<String>,
    recorded_at: DateTime<Utc>,
    actor: String,
}

/// The rows one batch of events turns into.
#[derive(Default)]
struct Batch {
    /// Event-log rows, already in COPY form.
    log: CopyRows,
    project_order: Vec<String>,
    projects: HashMap<String, ProjectPatch>,
    /// Project-step rows, already in COPY form.
    steps: CopyRows,
    activity_order: Vec<String>,
    activities: HashMap<String, ActivityPatch>,
    meetings: Vec<(String, &'static str, Option<String>, NaiveDate, String, Value, Option<String>, i64)>,
    dockings: Vec<(i64, String, String, String, String, NaiveDate, Value, Option<String>)>,
    /// First signings (of every investor): sequence, project, date, amount, qualifies, agreement.
    signings: Vec<(i64, String, NaiveDate, i64, bool, String)>,
    /// Real-time reports: sequence, kind, project, date, recorded at, amount, actor.
    alerts: Vec<(i64, &'static str, String, NaiveDate, DateTime<Utc>, Option<i64>, String)>,
    /// Rare events (plans, task forces), applied one statement each, in order.
    singles: Vec<(i64, SingleEvent)>,
    /// Monthly reports and escalation matters.
    supervision: crate::supervision::SupervisionRows,
    /// What each event does to the counted facts, in stream order.
    facts: Vec<FactOp>,
}

enum SingleEvent {
    TaskForce(String, TaskForceEvent),
    PlanPeriod(String, PlanPeriodEvent),
    LeadingGroup(String, LeadingGroupEvent),
    ProjectProblem(String, ProjectEvent),
    Enterprise(String, i64, EnterpriseEvent),
    ServicePlatform(String, ServicePlatformEvent),
    Expenditure(String, ExpenditureEvent),
    Talent(String, TalentIntroductionEvent),
    Briefing(String, BriefingEvent),
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("read-model values always serialise")
}

fn enum_code<T: serde::Serialize>(value: &T) -> String {
    match json(value) {
        Value::String(code) => code,
        other => other.to_string(),
    }
}

impl Batch {
    fn project(&mut self, id: &str) -> &mut ProjectPatch {
        if !self.projects.contains_key(id) {
            self.project_order.push(id.to_owned());
        }
        self.projects.entry(id.to_owned()).or_default()
    }

    fn activity(&mut self, id: &str) -> &mut ActivityPatch {
        if !self.activities.contains_key(id) {
            self.activity_order.push(id.to_owned());
        }
        self.activities.entry(id.to_owned()).or_default()
    }

    fn add(&mut self, sequence: u64, envelope: &EventEnvelope) -> Result<(), DecodeError> {
        let seq = i64::try_from(sequence).expect("stream sequences fit in i64");
        let id = envelope.aggregateid.as_str();
        // The payload's JSON text serves both the typed decoding and the event log.
        let data_text = serde_json::to_string(&envelope.data).expect("JSON values always serialise");
        match envelope.aggregatetype.as_str() {
            "project" => self.add_project(seq, envelope, envelope.decode_with_data_text::<ProjectEvent>(&data_text)?),
            "activity" => self.add_activity(seq, id, envelope.decode_with_data_text::<ActivityEvent>(&data_text)?),
            "meeting" => {
                let MeetingEvent::Convened(m) = envelope.decode_with_data_text::<MeetingEvent>(&data_text)?;
                self.add_meeting_facts(seq, id, m.kind.code(), m.task_force_id.as_ref().map(ToString::to_string), m.on);
                self.meetings.push((
                    id.to_owned(),
                    m.kind.code(),
                    m.task_force_id.map(String::from),
                    m.on,
                    m.title.to_string(),
                    json(&m.attendees),
                    m.minutes.map(String::from),
                    seq,
                ));
            }
            "task_force" => {
                let event = envelope.decode_with_data_text::<TaskForceEvent>(&data_text)?;
                if let TaskForceEvent::AnnualPlanSubmitted(plan) = &event {
                    let counts_in = NaiveDate::from_ymd_opt(plan.year, 1, 1).unwrap_or(plan.on);
                    let fact = Fact::new(
                        "annual_plans",
                        Some(id.to_owned()),
                        format!("{id}:{}", plan.year),
                        counts_in,
                        plan.on,
                    );
                    self.facts.push(FactOp::Insert {
                        seq,
                        source: format!("annual_plan:{id}:{}", plan.year),
                        facts: vec![fact],
                    });
                }
                if let TaskForceEvent::EnterpriseDocked(d) = &event {
                    if d.enterprise_role.code() == "target" {
                        let fact = Fact::new(
                            "target_enterprises_docked",
                            Some(id.to_owned()),
                            d.enterprise.to_string(),
                            d.on,
                            d.on,
                        );
                        self.facts.push(FactOp::Insert { seq, source: format!("docking:{seq}"), facts: vec![fact] });
                    }
                    self.dockings.push((
                        seq,
                        id.to_owned(),
                        d.enterprise.to_string(),
                        d.enterprise_role.code().to_owned(),
                        enum_code(&d.method),
                        d.on,
                        json(&d.participants),
                        d.outcome.clone().map(String::from),
                    ));
                } else {
                    self.singles.push((seq, SingleEvent::TaskForce(id.to_owned(), event)));
                }
            }
            "plan_period" => {
                let event = envelope.decode_with_data_text::<PlanPeriodEvent>(&data_text)?;
                self.singles.push((seq, SingleEvent::PlanPeriod(id.to_owned(), event)));
            }
            "leading_group" => {
                let event = envelope.decode_with_data_text::<LeadingGroupEvent>(&data_text)?;
                self.singles.push((seq, SingleEvent::LeadingGroup(id.to_owned(), event)));
            }
            "enterprise" => {
                let event = envelope.decode_with_data_text::<EnterpriseEvent>(&data_text)?;
                let version = i64::try_from(envelope.aggregateversion).unwrap_or(i64::MAX);
                self.singles.push((seq, SingleEvent::Enterprise(id.to_owned(), version, event)));
            }
            "service_platform" => {
                let event = envelope.decode_with_data_text::<ServicePlatformEvent>(&data_text)?;
                let source = format!("service_platform:{id}");
                match &event {
                    ServicePlatformEvent::Recorded(r) => {
                        let tf = r.task_force_id.as_ref().map(ToString::to_string);
                        let fact = Fact::new("service_platforms", tf, id.to_owned(), r.on, r.on);
                        self.facts.push(FactOp::Insert { seq, source, facts: vec![fact] });
                    }
                    ServicePlatformEvent::Reversed(_) => self.facts.push(FactOp::RetractSource { seq, source }),
                }
                self.singles.push((seq, SingleEvent::ServicePlatform(id.to_owned(), event)));
            }
            "expenditure" => {
                let event = envelope.decode_with_data_text::<ExpenditureEvent>(&data_text)?;
                self.singles.push((seq, SingleEvent::Expenditure(id.to_owned(), event)));
            }
            "talent_introduction" => {
                let event = envelope.decode_with_data_text::<TalentIntroductionEvent>(&data_text)?;
                self.singles.push((seq, SingleEvent::Talent(id.to_owned(), event)));
            }
            "briefing" => {
                let event = envelope.decode_with_data_text::<BriefingEvent>(&data_text)?;
                if let BriefingEvent::Published(b) = &event {
                    let month = u32::from(b.quarter) * 3;
                    if let Some(counts_in) = NaiveDate::from_ymd_opt(b.year, month, 1) {
                        let key = format!("{}-q{}", b.year, b.quarter);
                        let fact = Fact::new("briefing_quarters", None, key, counts_in, b.on);
                        self.facts.push(FactOp::Insert { seq, source: format!("briefing:{id}"), facts: vec![fact] });
                    }
                }
                self.singles.push((seq, SingleEvent::Briefing(id.to_owned(), event)));
            }
            "monthly_report" => {
                let event = envelope.decode_with_data_text::<MonthlyReportEvent>(&data_text)?;
                if let MonthlyReportEvent::Submitted(r) = &event {
                    if let Some(counts_in) = NaiveDate::from_ymd_opt(r.year, r.month, 1) {
                        let tf = Some(r.task_force_id.to_string());
                        let fact = Fact::new("monthly_reports", tf, id.to_owned(), counts_in, r.on);
                        self.facts.push(FactOp::Insert {
                            seq,
                            source: format!("monthly_report:{id}"),
                            facts: vec![fact],
                        });
                    }
                }
                self.supervision.add_monthly_report(seq, envelope, event);
            }
            "escalation" => {
                let event = envelope.decode_with_data_text::<EscalationEvent>(&data_text)?;
                self.supervision.add_escalation(seq, envelope, event);
            }
            other => return Err(DecodeError::UnknownType(format!("aggregate type {other}"))),
        }
        self.add_log_row(seq, envelope, &data_text);
        Ok(())
    }

    fn add_project(&mut self, seq: i64, envelope: &EventEnvelope, event: ProjectEvent) {
        let id = envelope.aggregateid.clone();
        let mut alerts = Vec::new();
        let mut signings = Vec::new();
        let mut singles = Vec::new();
        self.project(&id).last_sequence = seq;
        let patch = self.project(&id);
        patch.version = i64::try_from(envelope.aggregateversion).unwrap_or(i64::MAX);
        let step = |stage: Option<ProjectStage>,
                    on: NaiveDate,
                    amount: Option<i64>,
                    evidence: Option<String>,
                    note: Option<String>| StepRow {
            sequence: seq,
            project_id: id.clone(),
            event_type: envelope.short_type().to_owned(),
            stage: stage.map(|s| s.code().to_owned()),
            occurred_on: on,
            amount_yuan: amount,
            evidence,
            note,
            recorded_at: envelope.time,
            actor: envelope.actor.clone(),
        };
        let change = match &event {
            ProjectEvent::LeadRecorded(lead) => {
                Some(ProjectChange::Lead { task_force_id: lead.task_force_id.to_string() })
            }
            ProjectEvent::Signed(s) if s.first_signing => {
                Some(ProjectChange::FirstSigning { qualifies: s.qualifies, on: s.on })
            }
            ProjectEvent::ConstructionStarted(d) => Some(ProjectChange::ConstructionStarted { on: d.on }),
            ProjectEvent::ReserveEntered(d) => Some(ProjectChange::ReserveEntered { on: d.on }),
            ProjectEvent::InvestorChanged(_) => Some(ProjectChange::InvestorChanged),
            _ => None,
        };
        if let Some(change) = change {
            self.facts.push(FactOp::Project { seq, project: id.clone(), change });
        }
        let patch = self.project(&id);
        let row = match event {
            ProjectEvent::LeadRecorded(lead) => {
                patch.task_force_id = Some(lead.task_force_id.to_string());
                patch.name = Some(lead.name.to_string());
                patch.investor = Some(lead.investor.to_string());
                patch.category = Some(lead.category.code().to_owned());
                patch.owner = Some(lead.owner.to_string());
                patch.planned_investment_yuan = lead.planned_investment_yuan.map(|y| y.get());
                patch.stage = Some(ProjectStage::Lead.code().to_owned());
                patch.status = Some(enum_code(&ProjectStatus::Active));
                patch.lead_on = Some(lead.on);
                step(Some(ProjectStage::Lead), lead.on, lead.planned_investment_yuan.map(|y| y.get()), None, None)
            }
            ProjectEvent::NegotiationStarted(n) => {
                patch.stage = Some(ProjectStage::Negotiating.code().to_owned());
                patch.negotiating_on = Some(n.on);
                alerts.push((
                    seq,
                    "negotiation_started",
                    id.clone(),
                    n.on,
                    envelope.time,
                    None,
                    envelope.actor.clone(),
                ));
                step(Some(ProjectStage::Negotiating), n.on, None, None, n.note.map(String::from))
            }
            ProjectEvent::Signed(s) => {
                alerts.push((
                    seq,
                    "signed",
                    id.clone(),
                    s.on,
                    envelope.time,
                    Some(s.investment_yuan.get()),
                    envelope.actor.clone(),
                ));
                if s.first_signing {
                    signings.push((
                        seq,
                        id.clone(),
                        s.on,
                        s.investment_yuan.get(),
                        s.qualifies,
                        enum_code(&s.agreement),
                    ));
                    patch.stage = Some(ProjectStage::Signed.code().to_owned());
                    patch.first_signed_on = Some(s.on);
                    patch.signed_investment_yuan = Some(s.investment_yuan.get());
                    patch.qualifies = Some(s.qualifies);
                }
                if s.agreement == AgreementKind::Contract {
                    patch.contract_signed_on = Some(s.on);
                    if !s.first_signing {
                        patch.contract_investment_yuan = Some(s.investment_yuan.get());
                    }
                }
                let stage = s.first_signing.then_some(ProjectStage::Signed);
                step(
                    stage,
                    s.on,
                    Some(s.investment_yuan.get()),
                    s.evidence.map(String::from),
                    Some(enum_code(&s.agreement)),
                )
            }
            ProjectEvent::CompanyRegistered(r) => {
                patch.stage = Some(ProjectStage::CompanyRegistered.code().to_owned());
                patch.company_name = Some(r.company_name.to_string());
                patch.company_registered_on = Some(r.on);
                step(
                    Some(ProjectStage::CompanyRegistered),
                    r.on,
                    None,
                    r.evidence.map(String::from),
                    Some(r.company_name.to_string()),
                )
            }
            ProjectEvent::ConstructionStarted(d) => {
                patch.stage = Some(ProjectStage::ConstructionStarted.code().to_owned());
                patch.construction_started_on = Some(d.on);
                step(Some(ProjectStage::ConstructionStarted), d.on, None, d.evidence.map(String::from), None)
            }
            ProjectEvent::ProductionStarted(d) => {
                patch.stage = Some(ProjectStage::Producing.code().to_owned());
                patch.producing_on = Some(d.on);
                step(Some(ProjectStage::Producing), d.on, None, d.evidence.map(String::from), None)
            }
            ProjectEvent::FundsArrived(f) => {
                patch.funds_arrived_yuan = Some(f.cumulative_yuan);
                step(None, f.on, Some(f.amount_yuan.get()), None, None)
            }
            ProjectEvent::InvestmentIncreased(a) => {
                patch.increased_investment_yuan += a.amount_yuan.get();
                step(None, a.on, Some(a.amount_yuan.get()), None, None)
            }
            ProjectEvent::ReserveEntered(d) => {
                patch.reserve_entered_on = Some(d.on);
                step(None, d.on, None, d.evidence.map(String::from), None)
            }
            ProjectEvent::Stalled(r) => {
                patch.status = Some(enum_code(&ProjectStatus::Stalled));
                patch.status_on = Some(r.on);
                patch.status_reason = Some(r.reason.to_string());
                step(None, r.on, None, None, Some(r.reason.into()))
            }
            ProjectEvent::Resumed(d) => {
                patch.status = Some(enum_code(&ProjectStatus::Active));
                patch.status_on = Some(d.on);
                step(None, d.on, None, d.evidence.map(String::from), None)
            }
            ProjectEvent::Dropped(r) => {
                patch.status = Some(enum_code(&ProjectStatus::Dropped));
                patch.status_on = Some(r.on);
                patch.status_reason = Some(r.reason.to_string());
                step(None, r.on, None, None, Some(r.reason.into()))
            }
            ProjectEvent::OwnerChanged(o) => {
                patch.owner = Some(o.owner.to_string());
                step(None, o.on, None, None, Some(o.owner.to_string()))
            }
            ProjectEvent::ProgressNoted(n) => {
                patch.latest_progress = Some(n.note.to_string());
                patch.latest_progress_on = Some(n.on);
                step(None, n.on, None, None, Some(n.note.into()))
            }
            ProjectEvent::ProblemRaised(ref p) => {
                let row = step(None, p.on, None, None, Some(p.description.to_string()));
                singles.push((seq, SingleEvent::ProjectProblem(id.clone(), event)));
                row
            }
            ProjectEvent::ProblemResolved(ref r) => {
                let row = step(None, r.on, None, None, Some(r.resolution.to_string()));
                singles.push((seq, SingleEvent::ProjectProblem(id.clone(), event)));
                row
            }
            ProjectEvent::InvestorChanged(c) => {
                patch.investor = Some(c.investor.to_string());
                // Clearing the signing of an unsigned project clears nothing,
                // so the patch need not know whether an earlier batch signed it;
                // the upsert turns a signed project's stage back to negotiating.
                if patch.first_signed_on.is_some() {
                    patch.stage = Some(ProjectStage::Negotiating.code().to_owned());
                }
                patch.investor_changed_on = Some(c.on);
                patch.first_signed_on = None;
                patch.signed_investment_yuan = None;
                patch.contract_signed_on = None;
                patch.contract_investment_yuan = None;
                patch.increased_investment_yuan = 0;
                patch.qualifies = None;
                alerts.push((seq, "investor_changed", id.clone(), c.on, envelope.time, None, envelope.actor.clone()));
                step(None, c.on, None, None, Some(format!("{}：{}", c.investor, c.reason)))
            }
        };
        self.add_step_row(&row);
        self.alerts.append(&mut alerts);
        self.signings.append(&mut signings);
        self.singles.append(&mut singles);
    }

    fn add_activity(&mut self, seq: i64, id: &str, event: ActivityEvent) {
        if let ActivityEvent::Held(d) = &event {
            let tf = Some(d.task_force_id.to_string());
            let kind = d.kind.code();
            let mut facts = vec![Fact::new("activities", tf.clone(), id.to_owned(), d.on, d.on)];
            let kind_measure = match kind {
                "going_out" => Some("going_out_activities"),
                "inviting_in" => Some("inviting_in_activities"),
                "online" => Some("online_activities"),
                _ => None,
            };
            if let Some(measure) = kind_measure {
                facts.push(Fact::new(measure, tf.clone(), id.to_owned(), d.on, d.on));
            }
            if kind == "going_out" && d.led_by_principal_leader {
                facts.push(Fact::new("leader_led_going_out", tf.clone(), id.to_owned(), d.on, d.on));
            }
            for e in &d.enterprises {
                let measure = match (kind, e.role.code()) {
                    ("inviting_in", "target") => "target_enterprises_invited",
                    ("online", "chain_leader") => "chain_leaders_met_online",
                    _ => continue,
                };
                facts.push(Fact::new(measure, tf.clone(), e.name.to_string(), d.on, d.on));
            }
            self.facts.push(FactOp::Insert { seq, source: format!("activity:{id}"), facts });
        }
        let patch = self.activity(id);
        patch.last_sequence = seq;
        let set_details = |patch: &mut ActivityPatch, d: ActivityDetails, status: &str| {
            patch.status = status.to_owned();
            patch.task_force_id = Some(d.task_force_id.to_string());
            patch.kind = Some(d.kind.code().to_owned());
            patch.title = Some(d.title.to_string());
            patch.activity_on = Some(d.on);
            patch.led_by_principal_leader = Some(d.led_by_principal_leader);
            patch.destination_cities = Some(json(&d.destination_cities));
            patch.note = d.note.map(String::from);
            patch.enterprises =
                Some(d.enterprises.into_iter().map(|e| (e.name.to_string(), e.role.code().to_owned())).collect());
        };
        match event {
            ActivityEvent::Planned(d) => set_details(patch, d, "planned"),
            ActivityEvent::Held(d) => set_details(patch, d, "held"),
            ActivityEvent::Cancelled(c) => {
                patch.status = "cancelled".to_owned();
                patch.cancelled_on = Some(c.on);
                patch.cancel_reason = Some(c.reason.into());
            }
        }
    }

    fn add_meeting_facts(&mut self, seq: i64, id: &str, kind: &str, task_force_id: Option<String>, on: NaiveDate) {
        let fact = match (kind, &task_force_id) {
            ("joint" | "supervision", Some(tf)) => {
                let measure = if kind == "joint" { "joint_meeting_quarters" } else { "supervision_meeting_quarters" };
                Fact::new(measure, task_force_id.clone(), format!("{tf}:{}", quarter_start(on)), on, on)
            }
            ("monthly_report", _) => {
                Fact::new("monthly_report_meeting_months", None, month_start(on).to_string(), on, on)
            }
            _ => return,
        };
        self.facts.push(FactOp::Insert { seq, source: format!("meeting:{id}"), facts: vec![fact] });
    }

    async fn write(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        // First: the facts read each project's row as it stood before this batch.
        crate::facts::write(&self.facts, tx).await?;
        self.log.send(
            tx,
            "COPY event_log (sequence, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, actor,
                 occurred_on, recorded_at, correlation_id, prev_hash, hash, data) FROM STDIN",
        )
        .await?;
        self.write_projects(tx).await?;
        self.steps
            .send(
                tx,
                "COPY project_steps (sequence, project_id, event_type, stage, occurred_on, amount_yuan, evidence,
                     note, recorded_at, actor) FROM STDIN",
            )
            .await?;
        self.write_signings_and_alerts(tx).await?;
        self.write_activities(tx).await?;
        self.write_meetings_and_dockings(tx).await?;
        for (seq, single) in &self.singles {
            write_single(tx, *seq, single).await?;
        }
        self.supervision.write(tx).await?;
        Ok(())
    }

    fn add_log_row(&mut self, sequence: i64, e: &EventEnvelope, data: &str) {
        self.log
            .plain(Some(sequence))
            .plain(Some(e.id))
            .text(Some(&e.event_type))
            .text(Some(&e.aggregatetype))
            .text(Some(&e.aggregateid))
            .plain(Some(e.aggregateversion))
            .text(Some(&e.actor))
            .plain(e.occurredat)
            .text(Some(&e.time.to_rfc3339()))
            .plain(Some(e.correlationid))
            .text(e.prevhash.as_deref())
            .text(Some(&e.hash))
            .text(Some(data));
        self.log.end_row();
    }

    async fn write_projects(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        if self.project_order.is_empty() {
            return Ok(());
        }
        let p: Vec<&ProjectPatch> = self.project_order.iter().map(|id| &self.projects[id]).collect();
        macro_rules! col {
            ($field:ident) => {
                p.iter().map(|x| x.$field.clone()).collect::<Vec<_>>()
            };
        }
        sqlx::query(
            "INSERT INTO projects AS p (id, task_force_id, name, investor, category, owner, planned_investment_yuan,
                 stage, status, lead_on, negotiating_on, first_signed_on, signed_investment_yuan, contract_signed_on,
                 contract_investment_yuan, increased_investment_yuan, qualifies, company_name, company_registered_on,
                 construction_started_on, producing_on, funds_arrived_yuan, reserve_entered_on, status_on,
                 status_reason, last_sequence, version, latest_progress, latest_progress_on, investor_changed_on)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::bigint[], $8::text[], $9::text[], $10::date[], $11::date[], $12::date[], $13::bigint[],
                 $14::date[], $15::bigint[], $16::bigint[], $17::boolean[], $18::text[], $19::date[], $20::date[],
                 $21::date[], $22::bigint[], $23::date[], $24::date[], $25::text[], $26::bigint[], $27::bigint[],
                 $28::text[], $29::date[], $30::date[])
             ON CONFLICT (id) DO UPDATE SET
                 task_force_id = COALESCE(EXCLUDED.task_force_id, p.task_force_id),
                 name = COALESCE(EXCLUDED.name, p.name),
                 investor = COALESCE(EXCLUDED.investor, p.investor),
                 category = COALESCE(EXCLUDED.category, p.category),
                 owner = COALESCE(EXCLUDED.owner, p.owner),
                 planned_investment_yuan = COALESCE(EXCLUDED.planned_investment_yuan, p.planned_investment_yuan),
                 stage = CASE WHEN EXCLUDED.stage IS NULL AND EXCLUDED.investor_changed_on IS NOT NULL
                                   AND p.first_signed_on IS NOT NULL THEN 'negotiating'
                              ELSE COALESCE(EXCLUDED.stage, p.stage) END,
                 status = COALESCE(EXCLUDED.status, p.status),
                 lead_on = COALESCE(EXCLUDED.lead_on, p.lead_on),
                 negotiating_on = COALESCE(EXCLUDED.negotiating_on, p.negotiating_on),
                 first_signed_on = CASE WHEN EXCLUDED.investor_changed_on IS NOT NULL THEN EXCLUDED.first_signed_on
                     ELSE COALESCE(EXCLUDED.first_signed_on, p.first_signed_on) END,
                 signed_investment_yuan = CASE WHEN EXCLUDED.investor_changed_on IS NOT NULL THEN EXCLUDED.signed_investment_yuan
                     ELSE COALESCE(EXCLUDED.signed_investment_yuan, p.signed_investment_yuan) END,
                 contract_signed_on = CASE WHEN EXCLUDED.investor_changed_on IS NOT NULL THEN EXCLUDED.contract_signed_on
                     ELSE COALESCE(EXCLUDED.contract_signed_on, p.contract_signed_on) END,
                 contract_investment_yuan = CASE WHEN EXCLUDED.investor_changed_on IS NOT NULL THEN EXCLUDED.contract_investment_yuan
                     ELSE COALESCE(EXCLUDED.contract_investment_yuan, p.contract_investment_yuan) END,
                 increased_investment_yuan = CASE WHEN EXCLUDED.investor_changed_on IS NOT NULL
                     THEN EXCLUDED.increased_investment_yuan
                     ELSE p.increased_investment_yuan + EXCLUDED.increased_investment_yuan END,
                 qualifies = CASE WHEN EXCLUDED.investor_changed_on IS NOT NULL THEN EXCLUDED.qualifies
                     ELSE COALESCE(EXCLUDED.qualifies, p.qualifies) END,
                 company_name = COALESCE(EXCLUDED.company_name, p.company_name),
                 company_registered_on = COALESCE(EXCLUDED.company_registered_on, p.company_registered_on),
                 construction_started_on = COALESCE(EXCLUDED.construction_started_on, p.construction_started_on),
                 producing_on = COALESCE(EXCLUDED.producing_on, p.producing_on),
                 funds_arrived_yuan = COALESCE(EXCLUDED.funds_arrived_yuan, p.funds_arrived_yuan),
                 reserve_entered_on = COALESCE(EXCLUDED.reserve_entered_on, p.reserve_entered_on),
                 status_on = COALESCE(EXCLUDED.status_on, p.status_on),
                 status_reason = COALESCE(EXCLUDED.status_reason, p.status_reason),
                 last_sequence = GREATEST(EXCLUDED.last_sequence, p.last_sequence),
                 version = GREATEST(EXCLUDED.version, p.version),
                 latest_progress = COALESCE(EXCLUDED.latest_progress, p.latest_progress),
                 latest_progress_on = COALESCE(EXCLUDED.latest_progress_on, p.latest_progress_on),
                 investor_changed_on = COALESCE(EXCLUDED.investor_changed_on, p.investor_changed_on)",
        )
        .bind(&self.project_order)
        .bind(col!(task_force_id))
        .bind(col!(name))
        .bind(col!(investor))
        .bind(col!(category))
        .bind(col!(owner))
        .bind(col!(planned_investment_yuan))
        .bind(col!(stage))
        .bind(col!(status))
        .bind(col!(lead_on))
        .bind(col!(negotiating_on))
        .bind(col!(first_signed_on))
        .bind(col!(signed_investment_yuan))
        .bind(col!(contract_signed_on))
        .bind(col!(contract_investment_yuan))
        .bind(col!(increased_investment_yuan))
        .bind(col!(qualifies))
        .bind(col!(company_name))
        .bind(col!(company_registered_on))
        .bind(col!(construction_started_on))
        .bind(col!(producing_on))
        .bind(col!(funds_arrived_yuan))
        .bind(col!(reserve_entered_on))
        .bind(col!(status_on))
        .bind(col!(status_reason))
        .bind(col!(last_sequence))
        .bind(col!(version))
        .bind(col!(latest_progress))
        .bind(col!(latest_progress_on))
        .bind(col!(investor_changed_on))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write_signings_and_alerts(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        if !self.signings.is_empty() {
            macro_rules! col {
                ($i:tt) => {
                    self.signings.iter().map(|r| r.$i.clone()).collect::<Vec<_>>()
                };
            }
            sqlx::query(
                "INSERT INTO project_signings (sequence, project_id, signed_on, investment_yuan, qualifies, agreement)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::date[], $4::bigint[], $5::boolean[], $6::text[])
                 ON CONFLICT (sequence) DO NOTHING",
            )
            .bind(col!(0))
            .bind(col!(1))
            .bind(col!(2))
            .bind(col!(3))
            .bind(col!(4))
            .bind(col!(5))
            .execute(&mut **tx)
            .await?;
        }
        if !self.alerts.is_empty() {
            macro_rules! col {
                ($i:tt) => {
                    self.alerts.iter().map(|r| r.$i.clone()).collect::<Vec<_>>()
                };
            }
            sqlx::query(
                "INSERT INTO alerts (sequence, kind, project_id, occurred_on, recorded_at, amount_yuan, actor)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::date[], $5::timestamptz[],
                     $6::bigint[], $7::text[])
                 ON CONFLICT (sequence) DO NOTHING",
            )
            .bind(col!(0))
            .bind(col!(1))
            .bind(col!(2))
            .bind(col!(3))
            .bind(col!(4))
            .bind(col!(5))
            .bind(col!(6))
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    fn add_step_row(&mut self, step: &StepRow) {
        self.steps
            .plain(Some(step.sequence))
            .text(Some(&step.project_id))
            .text(Some(&step.event_type))
            .text(step.stage.as_deref())
            .plain(Some(step.occurred_on))
            .plain(step.amount_yuan)
            .text(step.evidence.as_deref())
            .text(step.note.as_deref())
            .text(Some(&step.recorded_at.to_rfc3339()))
            .text(Some(&step.actor));
        self.steps.end_row();
    }

    async fn write_activities(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        if self.activity_order.is_empty() {
            return Ok(());
        }
        let a: Vec<&ActivityPatch> = self.activity_order.iter().map(|id| &self.activities[id]).collect();
        macro_rules! col {
            ($field:ident) => {
                a.iter().map(|x| x.$field.clone()).collect::<Vec<_>>()
            };
        }
        sqlx::query(
            "INSERT INTO activities AS a (id, task_force_id, kind, title, status, activity_on, led_by_principal_leader,
                 destination_cities, note, cancelled_on, cancel_reason, last_sequence)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[],
                 $7::boolean[], $8::jsonb[], $9::text[], $10::date[], $11::text[], $12::bigint[])
             ON CONFLICT (id) DO UPDATE SET
                 task_force_id = COALESCE(EXCLUDED.task_force_id, a.task_force_id),
                 kind = COALESCE(EXCLUDED.kind, a.kind),
                 title = COALESCE(EXCLUDED.title, a.title),
                 status = EXCLUDED.status,
                 activity_on = COALESCE(EXCLUDED.activity_on, a.activity_on),
                 led_by_principal_leader = COALESCE(EXCLUDED.led_by_principal_leader, a.led_by_principal_leader),
                 destination_cities = COALESCE(EXCLUDED.destination_cities, a.destination_cities),
                 note = COALESCE(EXCLUDED.note, a.note),
                 cancelled_on = COALESCE(EXCLUDED.cancelled_on, a.cancelled_on),
                 cancel_reason = COALESCE(EXCLUDED.cancel_reason, a.cancel_reason),
                 last_sequence = GREATEST(EXCLUDED.last_sequence, a.last_sequence)",
        )
        .bind(&self.activity_order)
        .bind(col!(task_force_id))
        .bind(col!(kind))
        .bind(col!(title))
        .bind(col!(status))
        .bind(col!(activity_on))
        .bind(col!(led_by_principal_leader))
        .bind(col!(destination_cities))
        .bind(col!(note))
        .bind(col!(cancelled_on))
        .bind(col!(cancel_reason))
        .bind(col!(last_sequence))
        .execute(&mut **tx)
        .await?;
        let replaced: Vec<&String> =
            self.activity_order.iter().filter(|id| self.activities[*id].enterprises.is_some()).collect();
        if replaced.is_empty() {
            return Ok(());
        }
        sqlx::query("DELETE FROM activity_enterprises WHERE activity_id = ANY($1)")
            .bind(&replaced)
            .execute(&mut **tx)
            .await?;
        let (mut ids, mut names, mut roles) = (Vec::new(), Vec::new(), Vec::new());
        for id in replaced {
            for (name, role) in self.activities[id].enterprises.iter().flatten() {
                ids.push(id.clone());
                names.push(name.clone());
                roles.push(role.clone());
            }
        }
        sqlx::query(
            "INSERT INTO activity_enterprises (activity_id, enterprise, role)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(ids)
        .bind(names)
        .bind(roles)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write_meetings_and_dockings(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        if !self.meetings.is_empty() {
            let m = &self.meetings;
            sqlx::query(
                "INSERT INTO meetings (id, kind, task_force_id, held_on, title, attendees, minutes, sequence)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::date[], $5::text[], $6::jsonb[],
                     $7::text[], $8::bigint[])
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(m.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.1.to_owned()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.3).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.4.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.5.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.6.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.7).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        if !self.dockings.is_empty() {
            let d = &self.dockings;
            sqlx::query(
                "INSERT INTO dockings (sequence, task_force_id, enterprise, enterprise_role, method, docked_on,
                     participants, outcome)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[],
                     $7::jsonb[], $8::text[])
                 ON CONFLICT (sequence) DO NOTHING",
            )
            .bind(d.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.1.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.3.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.4.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.5).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.6.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.7.clone()).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

async fn write_single(tx: &mut Transaction<'_, Postgres>, seq: i64, event: &SingleEvent) -> Result<(), sqlx::Error> {
    match event {
        SingleEvent::PlanPeriod(id, PlanPeriodEvent::Adopted(p)) => {
            sqlx::query(
                "INSERT INTO plan_periods (id, title, document_number, issued_by, issued_on, first_year, last_year,
                     industrial_threshold_yuan, service_threshold_yuan, targets)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(p.title.as_str())
            .bind(p.document_number.as_str())
            .bind(p.issued_by.as_str())
            .bind(p.issued_on)
            .bind(p.first_year)
            .bind(p.last_year)
            .bind(p.investment_thresholds.industrial.get())
            .bind(p.investment_thresholds.service.get())
            .bind(json(&p.targets))
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::LeadingGroup(id, LeadingGroupEvent::Formed(g)) => {
            sqlx::query(
                "INSERT INTO leading_groups (id, plan_period_id, name, office_name, office_department,
                     office_director, members, formed_on)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(g.plan_period_id.as_str())
            .bind(g.name.as_str())
            .bind(g.office_name.as_str())
            .bind(g.office_department.as_str())
            .bind(g.office_director.as_str())
            .bind(json(&g.members))
            .bind(g.on)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::TaskForce(id, event) => write_task_force(tx, seq, id, event).await?,
        SingleEvent::ProjectProblem(id, ProjectEvent::ProblemRaised(p)) => {
            sqlx::query(
                "INSERT INTO project_problems (project_id, problem_id, raised_on, description, help_from,
                     raised_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, problem_id) DO NOTHING",
            )
            .bind(id)
            .bind(p.problem_id.as_str())
            .bind(p.on)
            .bind(p.description.as_str())
            .bind(p.help_from.as_ref().map(|n| n.as_str()))
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::ProjectProblem(id, ProjectEvent::ProblemResolved(r)) => {
            sqlx::query(
                "UPDATE project_problems SET resolved_on = $3, resolution = $4, resolved_sequence = $5
                 WHERE project_id = $1 AND problem_id = $2",
            )
            .bind(id)
            .bind(r.problem_id.as_str())
            .bind(r.on)
            .bind(r.resolution.as_str())
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::ProjectProblem(..) => {}
        SingleEvent::Enterprise(id, version, event) => {
            let details = match event {
                EnterpriseEvent::Registered(d) => d,
                EnterpriseEvent::Corrected(c) => &c.details,
            };
            sqlx::query(
                "INSERT INTO enterprises (id, name, role, task_force_id, uscc, city, note, listed_on, last_sequence,
                     version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
                     task_force_id = EXCLUDED.task_force_id, uscc = EXCLUDED.uscc, city = EXCLUDED.city,
                     note = EXCLUDED.note, listed_on = EXCLUDED.listed_on, last_sequence = EXCLUDED.last_sequence,
                     version = EXCLUDED.version",
            )
            .bind(id)
            .bind(details.name.as_str())
            .bind(details.role.code())
            .bind(details.task_force_id.as_str())
            .bind(details.uscc.as_deref())
            .bind(details.city.as_ref().map(|n| n.as_str()))
            .bind(details.note.as_ref().map(|n| n.as_str()))
            .bind(details.listed_on)
            .bind(seq)
            .bind(version)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::ServicePlatform(id, ServicePlatformEvent::Recorded(p)) => {
            sqlx::query(
                "INSERT INTO service_platforms (id, name, relation, task_force_id, operator, recorded_on, evidence,
                     note, last_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(p.name.as_str())
            .bind(enum_code(&p.relation))
            .bind(p.task_force_id.as_ref().map(|s| s.as_str()))
            .bind(p.operator.as_ref().map(|n| n.as_str()))
            .bind(p.on)
            .bind(p.evidence.as_ref().map(|n| n.as_str()))
            .bind(p.note.as_ref().map(|n| n.as_str()))
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::Expenditure(id, ExpenditureEvent::Recorded(e)) => {
            sqlx::query(
                "INSERT INTO expenditures (id, task_force_id, category, amount_yuan, paid_on, description, voucher,
                     last_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(e.task_force_id.as_ref().map(|s| s.as_str()))
            .bind(e.category.code())
            .bind(e.amount_yuan.get())
            .bind(e.on)
            .bind(e.description.as_str())
            .bind(e.voucher.as_ref().map(|n| n.as_str()))
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::Talent(id, TalentIntroductionEvent::Recorded(t)) => {
            sqlx::query(
                "INSERT INTO talent_introductions (id, task_force_id, title, people, level, enterprise,
                     introduced_on, last_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(t.task_force_id.as_str())
            .bind(t.title.as_str())
            .bind(i32::try_from(t.people).unwrap_or(i32::MAX))
            .bind(t.level.as_ref().map(|n| n.as_str()))
            .bind(t.enterprise.as_ref().map(|n| n.as_str()))
            .bind(t.on)
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::Briefing(id, BriefingEvent::Published(b) | BriefingEvent::Republished(b)) => {
            sqlx::query(
                "INSERT INTO briefings (id, year, quarter, title, content_sha256, as_of_sequence, published_on,
                     first_published_on, publications, correction, last_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8, $9)
                 ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, content_sha256 = EXCLUDED.content_sha256,
                     as_of_sequence = EXCLUDED.as_of_sequence, published_on = EXCLUDED.published_on,
                     publications = briefings.publications + 1, correction = EXCLUDED.correction,
                     last_sequence = EXCLUDED.last_sequence",
            )
            .bind(id)
            .bind(b.year)
            .bind(i32::from(b.quarter))
            .bind(b.title.as_str())
            .bind(&b.content_sha256)
            .bind(i64::try_from(b.as_of_sequence).unwrap_or(i64::MAX))
            .bind(b.on)
            .bind(b.correction.as_ref().map(|t| t.as_str()))
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        }
        SingleEvent::ServicePlatform(id, ServicePlatformEvent::Reversed(r)) => {
            reverse(tx, "service_platforms", id, r, seq).await?
        }
        SingleEvent::Expenditure(id, ExpenditureEvent::Reversed(r)) => reverse(tx, "expenditures", id, r, seq).await?,
        SingleEvent::Talent(id, TalentIntroductionEvent::Reversed(r)) => {
            reverse(tx, "talent_introductions", id, r, seq).await?;
        }
    }
    Ok(())
}

/// Marks a record reversed; `table` is one of this module's own table names.
async fn reverse(
    tx: &mut Transaction<'_, Postgres>,
    table: &'static str,
    id: &str,
    reversal: &ReverseRecord,
    seq: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {table} SET reversed_on = $2, reversal_reason = $3, last_sequence = $4 WHERE id = $1"
    ))
    .bind(id)
    .bind(reversal.on)
    .bind(reversal.reason.as_str())
    .bind(seq)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_task_force(
    tx: &mut Transaction<'_, Postgres>,
    seq: i64,
    id: &str,
    event: &TaskForceEvent,
) -> Result<(), sqlx::Error> {
    let role_history =
        |role: &'static str, name: String, department: Option<String>, on: NaiveDate, reason: Option<String>| {
            sqlx::query(
            "INSERT INTO task_force_role_history (sequence, task_force_id, role, name, department, effective_on, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(seq)
        .bind(id.to_owned())
        .bind(role)
        .bind(name)
        .bind(department)
        .bind(on)
        .bind(reason)
        };
    match event {
        TaskForceEvent::Established(c) => {
            sqlx::query(
                "INSERT INTO task_forces (id, number, name, chain, convener, deputy_convener, lead_department,
                     cooperating_departments, cooperating_departments_open_ended, district_bureaus,
                     district_bureaus_open_ended, chain_leaders, chain_leaders_open_ended, established_on)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(i32::from(c.number))
            .bind(c.name.as_str())
            .bind(c.chain.as_str())
            .bind(c.convener.as_str())
            .bind(c.deputy_convener.as_str())
            .bind(c.lead_department.as_str())
            .bind(json(&c.cooperating_departments))
            .bind(c.cooperating_departments_open_ended)
            .bind(json(&c.district_bureaus))
            .bind(c.district_bureaus_open_ended)
            .bind(json(&c.chain_leaders))
            .bind(c.chain_leaders_open_ended)
            .bind(c.on)
            .execute(&mut **tx)
            .await?;
            role_history("convener", c.convener.to_string(), None, c.on, None).execute(&mut **tx).await?;
        }
        TaskForceEvent::ConvenerChanged(p) => {
            sqlx::query("UPDATE task_forces SET convener = $2 WHERE id = $1")
                .bind(&id)
                .bind(p.name.as_str())
                .execute(&mut **tx)
                .await?;
            role_history("convener", p.name.to_string(), None, p.on, p.reason.clone().map(String::from))
                .execute(&mut **tx)
                .await?;
        }
        TaskForceEvent::DeputyConvenerChanged(p) => {
            sqlx::query("UPDATE task_forces SET deputy_convener = $2 WHERE id = $1")
                .bind(&id)
                .bind(p.name.as_str())
                .execute(&mut **tx)
                .await?;
            role_history("deputy_convener", p.name.to_string(), None, p.on, p.reason.clone().map(String::from))
                .execute(&mut **tx)
                .await?;
        }
        TaskForceEvent::LiaisonAssigned(l) => {
            sqlx::query("UPDATE task_forces SET liaison_name = $2, liaison_department = $3 WHERE id = $1")
                .bind(&id)
                .bind(l.name.as_str())
                .bind(l.department.as_str())
                .execute(&mut **tx)
                .await?;
            role_history("liaison", l.name.to_string(), Some(l.department.to_string()), l.on, None)
                .execute(&mut **tx)
                .await?;
        }
        TaskForceEvent::AnnualPlanSubmitted(p) | TaskForceEvent::AnnualPlanRevised(p) => {
            sqlx::query(
                "INSERT INTO annual_plans AS a (task_force_id, year, title, document_ref, document_sha256,
                     first_submitted_on, last_revised_on, revisions)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, 0)
                 ON CONFLICT (task_force_id, year) DO UPDATE SET title = EXCLUDED.title,
                     document_ref = EXCLUDED.document_ref, document_sha256 = EXCLUDED.document_sha256,
                     last_revised_on = EXCLUDED.last_revised_on, revisions = a.revisions + 1",
            )
            .bind(&id)
            .bind(p.year)
            .bind(p.title.as_str())
            .bind(p.document_ref.as_str())
            .bind(&p.document_sha256)
            .bind(p.on)
            .execute(&mut **tx)
            .await?;
        }
        TaskForceEvent::EnterpriseDocked(_) => unreachable!("dockings are written in bulk"),
        // Personal data never enters the read models, not even as ciphertext:
        // the query service reads it from the stream and decrypts it only for
        // those entitled (see the personal-data section of ARCHITECTURE.md).
        TaskForceEvent::LiaisonContactRecorded(_) | TaskForceEvent::LiaisonContactErased(_) => {}
    }
    Ok(())
}

/// A batch decoded and folded into rows, ready to be written: the CPU part
/// of applying, done while the previous batch is being written.
pub struct PreparedBatch {
    /// The checkpoint the batch follows.
    after: u64,
    /// The last sequence in the batch.
    last: u64,
    batch: Batch,
}

impl PreparedBatch {
    /// The checkpoint the batch follows: it is written only onto this one.
    pub fn after(&self) -> u64 {
        self.after
    }

    /// The last sequence the batch covers.
    pub fn last_sequence(&self) -> u64 {
        self.last
    }
}

/// Decodes and folds the events after `after` into rows. The stream never
/// deletes, so its sequences are contiguous: an event after a gap means
/// earlier ones are still in flight (redelivered after a crash), so the
/// batch stops at the first gap. `None` when nothing follows `after`.
///
/// # Errors
/// [`ReadModelError::Decode`] when an event cannot be read.
pub fn prepare(events: &[EventToApply<'_>], after: u64) -> Result<Option<PreparedBatch>, ReadModelError> {
    let mut batch = Batch::default();
    let mut last = after;
    for event in events.iter().filter(|e| e.sequence > after) {
        if event.sequence != last + 1 {
            break;
        }
        batch
            .add(event.sequence, event.envelope)
            .map_err(|source| ReadModelError::Decode { sequence: event.sequence, source })?;
        last = event.sequence;
    }
    Ok((last > after).then_some(PreparedBatch { after, last, batch }))
}

/// What writing a prepared batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The batch was written; the checkpoint is now this.
    Applied(u64),
    /// The checkpoint was not where the batch expected it (another writer,
    /// or a restore): nothing was written; prepare again from this one.
    CheckpointMoved(u64),
}

/// Writes a prepared batch in one transaction with the checkpoint.
///
/// # Errors
/// [`ReadModelError::Database`] when PostgreSQL fails (nothing is applied).
pub async fn write_prepared(
    pool: &sqlx::PgPool,
    notify_channel: &str,
    prepared: &PreparedBatch,
) -> Result<Written, ReadModelError> {
    let mut tx = pool.begin().await?;
    // Read models are derived data, checkpointed with their rows: a commit
    // lost in a database crash takes its checkpoint with it and is simply
    // applied again. So the projector need not wait for the WAL flush.
    sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await?;
    sqlx::query("INSERT INTO projection_checkpoints (projection, last_sequence) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(READ_MODEL_PROJECTION)
        .execute(&mut *tx)
        .await?;
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT last_sequence FROM projection_checkpoints WHERE projection = $1 FOR UPDATE")
            .bind(READ_MODEL_PROJECTION)
            .fetch_one(&mut *tx)
            .await?;
    let checkpoint = u64::try_from(checkpoint).unwrap_or(0);
    if checkpoint != prepared.after {
        tx.rollback().await?;
        return Ok(Written::CheckpointMoved(checkpoint));
    }
    let last = prepared.last;
    prepared.batch.write(&mut tx).await?;
    let last_i64 = i64::try_from(last).expect("stream sequences fit in i64");
    sqlx::query("UPDATE projection_checkpoints SET last_sequence = $2, updated_at = now() WHERE projection = $1")
        .bind(READ_MODEL_PROJECTION)
        .bind(last_i64)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)").bind(notify_channel).bind(last.to_string()).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Written::Applied(last))
}

/// Applies a batch of events: skips those at or below the checkpoint, stops
/// at a gap, and writes the rest with the checkpoint in one transaction.
/// Returns the checkpoint after it.
///
/// # Errors
/// [`ReadModelError::Database`] when PostgreSQL fails (nothing is applied);
/// [`ReadModelError::Decode`] when an event cannot be read (nothing is applied).
pub async fn apply_batch(
    pool: &sqlx::PgPool,
    notify_channel: &str,
    events: &[EventToApply<'_>],
) -> Result<u64, ReadModelError> {
    let mut checkpoint = read_checkpoint(pool).await?;
    loop {
        let Some(prepared) = prepare(events, checkpoint)? else { return Ok(checkpoint) };
        match write_prepared(pool, notify_channel, &prepared).await? {
            Written::Applied(last) => return Ok(last),
            Written::CheckpointMoved(moved) => checkpoint = moved,
        }
    }
}

/// The read models' checkpoint.
///
/// # Errors
/// [`ReadModelError::Database`].
pub async fn read_checkpoint(pool: &sqlx::PgPool) -> Result<u64, ReadModelError> {
    let value: Option<i64> =
        sqlx::query_scalar("SELECT last_sequence FROM projection_checkpoints WHERE projection = $1")
            .bind(READ_MODEL_PROJECTION)
            .fetch_optional(pool)
            .await?;
    Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}
