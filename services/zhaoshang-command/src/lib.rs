//! The command service: HTTP commands in, immutable events out.
//!
//! A request is parsed into a domain command (a refused value names its
//! field and rule), the aggregate is loaded from its cache and the stream
//! ([`repository`]), the pure domain decides, and the one resulting event is
//! appended to NATS JetStream with optimistic concurrency and the client's
//! idempotency key. The answer carries the event's stream sequence: the
//! consistency token a query can wait for.
//!
//! Layout: [`repository`] is the write path; [`routes`] maps each endpoint
//! to a command; this file holds the service's state and the headers every
//! command reads.

pub mod import;
pub mod personal_data;
pub mod repository;
pub mod routes;

use std::sync::{Arc, RwLock};

use chrono::{Datelike, FixedOffset, NaiveDate, Utc};
use zhaoshang_domain::Aggregate;
use zhaoshang_domain::activity::Activity;
use zhaoshang_domain::briefing::Briefing;
use zhaoshang_domain::enterprise::Enterprise;
use zhaoshang_domain::meeting::Meeting;
use zhaoshang_domain::monthly_report::MonthlyReport;
use zhaoshang_domain::plan::{AdoptPlanPeriod, LeadingGroup, PlanPeriod, PlanPeriodEvent};
use zhaoshang_domain::project::Project;
use zhaoshang_domain::resources::{Expenditure, ServicePlatform, TalentIntroduction};
use zhaoshang_domain::supervision::Escalation;
use zhaoshang_domain::task_force::TaskForce;
use zhaoshang_domain::values::InvestmentThresholds;
use zhaoshang_event_store::{EventStore, EventStoreError};

pub use repository::{AggregateRepository, CommandAccepted, CommandError, Outcome, RequestContext};
pub use routes::{openapi, router};

/// Liuzhou's offset from UTC: dates in the rules are Liuzhou dates.
const LIUZHOU_OFFSET_SECONDS: i32 = 8 * 3600;

/// Today's date in Liuzhou.
pub fn liuzhou_today() -> NaiveDate {
    let offset = FixedOffset::east_opt(LIUZHOU_OFFSET_SECONDS).expect("UTC+8 is a valid offset");
    Utc::now().with_timezone(&offset).date_naive()
}

/// The command service's state, shared by every request.
#[derive(Clone)]
pub struct CommandService {
    inner: Arc<Inner>,
}

struct Inner {
    store: EventStore,
    task_forces: AggregateRepository<TaskForce>,
    projects: AggregateRepository<Project>,
    activities: AggregateRepository<Activity>,
    meetings: AggregateRepository<Meeting>,
    plan_periods: AggregateRepository<PlanPeriod>,
    leading_groups: AggregateRepository<LeadingGroup>,
    enterprises: AggregateRepository<Enterprise>,
    service_platforms: AggregateRepository<ServicePlatform>,
    expenditures: AggregateRepository<Expenditure>,
    talent_introductions: AggregateRepository<TalentIntroduction>,
    briefings: AggregateRepository<Briefing>,
    /// The adopted plan periods, for the investment thresholds in force on a date.
    plans: RwLock<Vec<AdoptPlanPeriod>>,
    monthly_reports: AggregateRepository<MonthlyReport>,
    escalations: AggregateRepository<Escalation>,
    /// The personal-data keys; without it, contact details are refused (503).
    key_store: RwLock<Option<zhaoshang_read_model::personal_data::KeyStore>>,
}

/// Gives the repository of one aggregate type.
pub trait RepositoryOf<A: Aggregate> {
    /// The repository.
    fn repository(&self) -> &AggregateRepository<A>;
}

macro_rules! repository_of {
    ($aggregate:ty, $field:ident) => {
        impl RepositoryOf<$aggregate> for CommandService {
            fn repository(&self) -> &AggregateRepository<$aggregate> {
                &self.inner.$field
            }
        }
    };
}
repository_of!(TaskForce, task_forces);
repository_of!(Project, projects);
repository_of!(Activity, activities);
repository_of!(Meeting, meetings);
repository_of!(PlanPeriod, plan_periods);
repository_of!(LeadingGroup, leading_groups);
repository_of!(Enterprise, enterprises);
repository_of!(ServicePlatform, service_platforms);
repository_of!(Expenditure, expenditures);
repository_of!(TalentIntroduction, talent_introductions);
repository_of!(Briefing, briefings);
repository_of!(MonthlyReport, monthly_reports);
repository_of!(Escalation, escalations);

impl CommandService {
    /// A command service writing to `store`; reads the adopted plan periods.
    ///
    /// # Errors
    /// [`EventStoreError`] when the plan periods cannot be read.
    pub async fn new(store: EventStore) -> Result<Self, EventStoreError> {
        let filter = store.subject(PlanPeriod::TYPE, "*");
        let mut plans = Vec::new();
        for stored in store.read_filter(&filter).await? {
            let event = stored
                .envelope
                .decode::<PlanPeriodEvent>()
                .map_err(|source| EventStoreError::Corrupt { sequence: stored.sequence, source })?;
            let PlanPeriodEvent::Adopted(plan) = event;
            plans.push(plan);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                task_forces: AggregateRepository::new(store.clone()),
                projects: AggregateRepository::new(store.clone()),
                activities: AggregateRepository::new(store.clone()),
                meetings: AggregateRepository::new(store.clone()),
                plan_periods: AggregateRepository::new(store.clone()),
                leading_groups: AggregateRepository::new(store.clone()),
                enterprises: AggregateRepository::new(store.clone()),
                service_platforms: AggregateRepository::new(store.clone()),
                expenditures: AggregateRepository::new(store.clone()),
                talent_introductions: AggregateRepository::new(store.clone()),
                briefings: AggregateRepository::new(store.clone()),
                monthly_reports: AggregateRepository::new(store.clone()),
                escalations: AggregateRepository::new(store.clone()),
                store,
                plans: RwLock::new(plans),
                key_store: RwLock::new(None),
            }),
        })
    }

    /// Gives the service the personal-data key store.
    pub fn set_key_store(&self, key_store: zhaoshang_read_model::personal_data::KeyStore) {
        *self.inner.key_store.write().expect("key store lock poisoned") = Some(key_store);
    }

    /// The personal-data key store, when there is one.
    pub fn key_store(&self) -> Option<zhaoshang_read_model::personal_data::KeyStore> {
        self.inner.key_store.read().expect("key store lock poisoned").clone()
    }

    /// The event store.
    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    /// The investment thresholds in force on `date`: those of the plan period
    /// covering its year, else of the latest period begun before it, else the
    /// 2022–2024 plan's.
    pub fn thresholds_on(&self, date: NaiveDate) -> InvestmentThresholds {
        let plans = self.inner.plans.read().expect("plan registry lock poisoned");
        let year = date.year();
        plans
            .iter()
            .filter(|p| p.first_year <= year)
            .max_by_key(|p| (p.last_year >= year, p.first_year))
            .map(|p| p.investment_thresholds)
            .unwrap_or_default()
    }

    /// The titles of the plan periods this service knows, oldest first.
    pub fn known_plan_titles(&self) -> Vec<String> {
        let plans = self.inner.plans.read().expect("plan registry lock poisoned");
        plans.iter().map(|p| p.title.to_string()).collect()
    }

    /// Records a plan period adopted through this service, so that its
    /// thresholds apply at once.
    pub fn remember_plan(&self, plan: AdoptPlanPeriod) {
        self.inner.plans.write().expect("plan registry lock poisoned").push(plan);
    }
}
