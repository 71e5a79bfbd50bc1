//! The rules of monthly reports, supervision colours and the escalation
//! ladder, one test (or more) per rule, read as given / when / then.

use zhaoshang_domain::DomainError;
use zhaoshang_domain::monthly_report::{
    AmendMonthlyReport, MonthlyFigures, MonthlyReport, MonthlyReportCommand, MonthlyReportEvent, ReportStatus,
    SubmitMonthlyReport, due_date, report_id, status_on,
};
use zhaoshang_domain::plan::Measure;
use zhaoshang_domain::supervision::{
    CloseEscalation, Colour, Duty, Escalation, EscalationCommand, EscalationEvent, EscalationStep, IssueEscalationStep,
    MonthOnRecord, RecordEscalationResponse, assess_monthly_reports, assess_quarterly, assess_target, check_period,
    escalation_id, expected_by, is_backfilled, period_start, unit_due_on,
};
use zhaoshang_domain::testing::{Scenario, date, name, slug, text, yuan};

const TODAY: &str = "2024-06-30";

fn refused<E: std::fmt::Debug>(result: Result<E, DomainError>) -> &'static str {
    match result {
        Ok(event) => panic!("expected a refusal, got {event:?}"),
        Err(error) => error.rule(),
    }
}

// ---------------------------------------------------------------------------
// Monthly reports.
// ---------------------------------------------------------------------------

fn submit(year: i32, month: u32, on: &str) -> SubmitMonthlyReport {
    SubmitMonthlyReport {
        task_force_id: slug("automotive"),
        year,
        month,
        on: date(on),
        figures: MonthlyFigures { projects_signed: 1, qualifying_projects_signed: 1, ..MonthlyFigures::default() },
        progress: text("本月签约一个项目。"),
        problems: None,
        next_month_plan: None,
    }
}

fn amend(on: &str) -> AmendMonthlyReport {
    AmendMonthlyReport {
        on: date(on),
        reason: text("漏报到资。"),
        figures: MonthlyFigures { funds_arrived_yuan: Some(yuan(5_000_000)), ..MonthlyFigures::default() },
        progress: text("本月到资 500 万元。"),
        problems: None,
        next_month_plan: None,
    }
}

#[test]
fn a_report_is_due_on_the_30th_and_in_february_on_its_last_day() {
    assert_eq!(due_date(2022, 5), Some(date("2022-05-30")), "a 31-day month: the 30th");
    assert_eq!(due_date(2022, 6), Some(date("2022-06-30")), "a 30-day month: its last day, the 30th");
    assert_eq!(due_date(2022, 2), Some(date("2022-02-28")), "February: its last day");
    assert_eq!(due_date(2024, 2), Some(date("2024-02-29")), "a leap February: the 29th");
    assert_eq!(due_date(2022, 13), None);
    assert_eq!(due_date(2022, 0), None);
}

#[test]
fn on_time_includes_the_due_date_late_counts_days_missing_only_after_the_due_date() {
    let due = date("2022-05-30");
    assert_eq!(status_on(date("2022-06-10"), due, Some(date("2022-05-30"))), ReportStatus::OnTime);
    assert_eq!(status_on(date("2022-06-10"), due, Some(date("2022-06-02"))), ReportStatus::Late { days_late: 3 });
    assert_eq!(status_on(date("2022-05-30"), due, None), ReportStatus::Pending, "due today is not missing yet");
    assert_eq!(status_on(date("2022-05-31"), due, None), ReportStatus::Missing);
    // A report submitted later had not happened yet on the date asked about.
    assert_eq!(status_on(date("2022-06-01"), due, Some(date("2022-06-05"))), ReportStatus::Missing);
}

#[test]
fn a_report_is_submitted_once_and_then_only_amended() {
    let given =
        Scenario::<MonthlyReport>::on(TODAY).given([MonthlyReportEvent::Submitted(submit(2024, 5, "2024-05-29"))]);
    assert_eq!(refused(given.when(MonthlyReportCommand::Submit(submit(2024, 5, "2024-06-02")))), "must_not_exist");
    let amended = given.when(MonthlyReportCommand::Amend(amend("2024-06-03"))).expect("an amendment is accepted");
    assert!(matches!(amended, MonthlyReportEvent::Amended(_)));
}

#[test]
fn an_amendment_needs_a_submitted_report_and_is_not_dated_before_the_last_change() {
    let nothing = Scenario::<MonthlyReport>::on(TODAY);
    assert_eq!(refused(nothing.when(MonthlyReportCommand::Amend(amend("2024-06-03")))), "must_exist");
    let given = nothing.given([
        MonthlyReportEvent::Submitted(submit(2024, 5, "2024-05-29")),
        MonthlyReportEvent::Amended(amend("2024-06-03")),
    ]);
    assert_eq!(given.state().amendments, 1);
    assert_eq!(refused(given.when(MonthlyReportCommand::Amend(amend("2024-06-02")))), "not_before_last_change");
    assert!(given.when(MonthlyReportCommand::Amend(amend("2024-06-03"))).is_ok(), "the same day is fine");
}

#[test]
fn an_amendment_never_changes_the_first_submission_date() {
    let given = Scenario::<MonthlyReport>::on(TODAY).given([
        MonthlyReportEvent::Submitted(submit(2024, 5, "2024-05-29")),
        MonthlyReportEvent::Amended(amend("2024-06-10")),
    ]);
    assert_eq!(given.state().submitted_on, Some(date("2024-05-29")));
}

#[test]
fn a_report_is_not_submitted_before_its_month_begins_nor_in_the_future() {
    let s = Scenario::<MonthlyReport>::on(TODAY);
    assert_eq!(refused(s.when(MonthlyReportCommand::Submit(submit(2024, 5, "2024-04-30")))), "not_before_month");
    assert_eq!(refused(s.when(MonthlyReportCommand::Submit(submit(2024, 6, "2024-07-01")))), "not_in_future");
    assert!(s.when(MonthlyReportCommand::Submit(submit(2024, 5, "2024-05-01"))).is_ok());
    // Back-filling 2022 is allowed: the date is the day it was submitted then.
    assert!(s.when(MonthlyReportCommand::Submit(submit(2022, 3, "2022-03-28"))).is_ok());
}

#[test]
fn a_report_names_a_real_month_and_year() {
    let s = Scenario::<MonthlyReport>::on(TODAY);
    assert_eq!(refused(s.when(MonthlyReportCommand::Submit(submit(2024, 13, "2024-06-01")))), "month_range");
    assert_eq!(refused(s.when(MonthlyReportCommand::Submit(submit(2024, 0, "2024-06-01")))), "month_range");
    assert_eq!(refused(s.when(MonthlyReportCommand::Submit(submit(1999, 5, "2024-06-01")))), "year_range");
}

#[test]
fn figures_are_bounded_and_qualifying_signings_are_within_signings() {
    let s = Scenario::<MonthlyReport>::on(TODAY);
    let mut too_many = submit(2024, 5, "2024-05-29");
    too_many.figures.online_activities = 1_001;
    let error = s.when(MonthlyReportCommand::Submit(too_many)).expect_err("refused");
    assert_eq!(error.rule(), "figure_too_large");
    assert!(matches!(error, DomainError::InvalidField { field: "figures.online_activities", .. }));
    let mut more_qualifying = submit(2024, 5, "2024-05-29");
    more_qualifying.figures.qualifying_projects_signed = 2;
    assert_eq!(refused(s.when(MonthlyReportCommand::Submit(more_qualifying))), "qualifying_within_signed");
}

#[test]
fn a_report_id_is_one_per_task_force_and_month() {
    assert_eq!(report_id("automotive", 2022, 5), "automotive-2022-05");
    assert_ne!(report_id("automotive", 2022, 5), report_id("automotive", 2022, 6));
}

#[test]
fn a_fact_recorded_more_than_seven_days_after_it_happened_is_back_filled() {
    assert!(!is_backfilled(date("2022-05-29"), date("2022-06-05")), "seven days later is still current");
    assert!(is_backfilled(date("2022-05-29"), date("2022-06-06")));
    assert!(is_backfilled(date("2022-05-29"), date("2026-11-25")));
}

// ---------------------------------------------------------------------------
// Colours.
// ---------------------------------------------------------------------------

#[test]
fn pro_rata_expectation_is_the_target_times_the_fraction_of_the_year_passed() {
    assert_eq!(expected_by(3, date("2022-01-01")), 0);
    // 2 May 2022 is day 122: 121 days passed, 3 × 121 / 365 < 1.
    assert_eq!(expected_by(3, date("2022-05-02")), 0);
    assert_eq!(expected_by(3, date("2022-05-03")), 1);
    assert_eq!(expected_by(1, date("2022-12-31")), 0, "the last day may still do it");
    assert_eq!(expected_by(12, date("2022-12-31")), 11);
    assert_eq!(unit_due_on(3, 1, 2022), Some(date("2022-05-02")));
    assert_eq!(unit_due_on(3, 2, 2022), Some(date("2022-09-01")));
    assert_eq!(unit_due_on(3, 3, 2022), Some(date("2022-12-31")));
    assert_eq!(unit_due_on(1, 1, 2024), Some(date("2024-12-31")), "a leap year too");
    assert_eq!(unit_due_on(3, 4, 2022), None);
}

#[test]
fn a_target_is_green_when_reached_red_when_behind_yellow_when_due_soon_blue_otherwise() {
    // Three activities a year, none yet.
    assert_eq!(assess_target(3, 0, date("2022-03-01")).colour, Colour::Blue);
    assert_eq!(assess_target(3, 0, date("2022-04-02")).colour, Colour::Yellow, "30 days before 2 May");
    assert_eq!(assess_target(3, 0, date("2022-04-01")).colour, Colour::Blue, "31 days before");
    assert_eq!(assess_target(3, 0, date("2022-05-02")).colour, Colour::Yellow, "due today");
    let behind = assess_target(3, 0, date("2022-05-03"));
    assert_eq!(behind.colour, Colour::Red);
    assert_eq!(behind.expected, Some(1));
    assert!(behind.why.contains("落后 1"), "{}", behind.why);
    assert_eq!(assess_target(3, 1, date("2022-05-03")).colour, Colour::Blue, "one done keeps pace");
    assert_eq!(assess_target(3, 3, date("2022-05-03")).colour, Colour::Green);
    assert_eq!(assess_target(0, 0, date("2022-05-03")).colour, Colour::Green, "no target, nothing to lag");
}

#[test]
fn one_project_a_year_turns_yellow_in_december_and_is_never_red_before_the_year_ends() {
    assert_eq!(assess_target(1, 0, date("2022-11-30")).colour, Colour::Blue);
    assert_eq!(assess_target(1, 0, date("2022-12-01")).colour, Colour::Yellow);
    assert_eq!(assess_target(1, 0, date("2022-12-31")).colour, Colour::Yellow);
}

fn months(pairs: &[(u32, &str)]) -> Vec<MonthOnRecord> {
    pairs.iter().map(|(m, on)| MonthOnRecord { month: *m, first_submitted_on: Some(date(on)) }).collect()
}

#[test]
fn monthly_report_duty_is_red_when_a_month_is_missing_and_green_when_this_month_is_in() {
    let jan_feb = months(&[(1, "2022-01-28"), (2, "2022-02-28")]);
    assert_eq!(assess_monthly_reports(date("2022-03-10"), &jan_feb).colour, Colour::Blue);
    assert_eq!(assess_monthly_reports(date("2022-03-23"), &jan_feb).colour, Colour::Yellow, "7 days before the 30th");
    assert_eq!(assess_monthly_reports(date("2022-03-22"), &jan_feb).colour, Colour::Blue);
    let red = assess_monthly_reports(date("2022-03-31"), &jan_feb);
    assert_eq!(red.colour, Colour::Red, "March's report is missing on the 31st");
    assert!(red.why.contains("3月"), "{}", red.why);
    let with_march = months(&[(1, "2022-01-28"), (2, "2022-02-28"), (3, "2022-03-15")]);
    assert_eq!(assess_monthly_reports(date("2022-03-31"), &with_march).colour, Colour::Green);
    // February missing stays red in March even when March is in.
    let no_february = months(&[(1, "2022-01-28"), (3, "2022-03-15")]);
    assert_eq!(assess_monthly_reports(date("2022-03-20"), &no_february).colour, Colour::Red);
    // A late report resolves the lag but is noted.
    let late_february = months(&[(1, "2022-01-28"), (2, "2022-03-02"), (3, "2022-03-15")]);
    let green = assess_monthly_reports(date("2022-03-20"), &late_february);
    assert_eq!(green.colour, Colour::Green);
    assert!(green.why.contains("逾期报送 1 次"), "{}", green.why);
}

#[test]
fn quarterly_duty_is_red_when_an_ended_quarter_had_none_yellow_in_the_last_30_days() {
    let d = Duty::JointMeeting;
    assert_eq!(assess_quarterly(d, date("2022-02-15"), &[]).colour, Colour::Blue);
    assert_eq!(assess_quarterly(d, date("2022-03-02"), &[]).colour, Colour::Yellow);
    assert_eq!(assess_quarterly(d, date("2022-03-01"), &[]).colour, Colour::Blue);
    assert_eq!(assess_quarterly(d, date("2022-03-10"), &[1]).colour, Colour::Green);
    let red = assess_quarterly(d, date("2022-04-01"), &[]);
    assert_eq!(red.colour, Colour::Red);
    assert!(red.why.contains("第1季度") && red.why.contains("联席会"), "{}", red.why);
    // An extra meeting in Q2 does not make up for Q1.
    assert_eq!(assess_quarterly(d, date("2022-05-01"), &[2]).colour, Colour::Red);
    let inspection = assess_quarterly(Duty::SupervisionInspection, date("2022-04-01"), &[]);
    assert!(inspection.why.contains("督导检查"), "{}", inspection.why);
}

#[test]
fn duties_and_periods_have_codes_and_shapes() {
    assert_eq!(Duty::from_code("monthly_report"), Some(Duty::MonthlyReport));
    assert_eq!(Duty::from_code("projects_led_in"), Some(Duty::Target(Measure::ProjectsLedIn)));
    assert_eq!(Duty::from_code("joint_meeting_quarters"), None, "quarters are judged by the joint_meeting duty");
    assert_eq!(Duty::from_code("briefing_quarters"), None, "the office's own duty is not a task force's");
    assert!(check_period(Duty::MonthlyReport, "2022-05").is_ok());
    assert_eq!(check_period(Duty::MonthlyReport, "2022-13").unwrap_err().rule(), "period_format");
    assert_eq!(check_period(Duty::MonthlyReport, "2022-q2").unwrap_err().rule(), "period_format");
    assert!(check_period(Duty::JointMeeting, "2022-q4").is_ok());
    assert_eq!(check_period(Duty::JointMeeting, "2022-q5").unwrap_err().rule(), "period_format");
    assert!(check_period(Duty::Target(Measure::Activities), "2022").is_ok());
    assert_eq!(check_period(Duty::Target(Measure::Activities), "1999").unwrap_err().rule(), "period_format");
    assert_eq!(escalation_id("automotive", Duty::MonthlyReport, "2022-05"), "automotive-monthly_report-2022-05");
}

// ---------------------------------------------------------------------------
// The escalation ladder.
// ---------------------------------------------------------------------------

fn issue(step: EscalationStep, on: &str) -> EscalationCommand {
    EscalationCommand::IssueStep(IssueEscalationStep {
        task_force_id: slug("automotive"),
        duty: Duty::MonthlyReport,
        period: slug("2024-05"),
        step,
        on: date(on),
        issued_by: name("董秀鸾"),
        note: text("5 月进展报告未报送。"),
    })
}

fn respond(on: &str) -> EscalationCommand {
    EscalationCommand::Respond(RecordEscalationResponse {
        on: date(on),
        responder: name("曾智勇"),
        response: text("将于三日内补报。"),
    })
}

fn close(on: &str) -> EscalationCommand {
    EscalationCommand::Close(CloseEscalation { on: date(on), resolution: text("已补报。") })
}

#[test]
fn a_matter_starts_with_a_reminder() {
    let s = Scenario::<Escalation>::on(TODAY);
    assert_eq!(refused(s.when(issue(EscalationStep::ChaseNotice, "2024-06-01"))), "ladder_starts_with_reminder");
    assert_eq!(refused(s.when(issue(EscalationStep::Circular, "2024-06-01"))), "ladder_starts_with_reminder");
    assert!(matches!(s.when(issue(EscalationStep::Reminder, "2024-06-01")), Ok(EscalationEvent::StepIssued(_))));
}

#[test]
fn the_ladder_climbs_one_rung_at_a_time_to_the_circular_and_no_further() {
    let s =
        Scenario::<Escalation>::on(TODAY).then_apply(issue(EscalationStep::Reminder, "2024-06-01")).expect("reminder");
    assert_eq!(refused(s.when(issue(EscalationStep::SupervisionOrder, "2024-06-05"))), "ladder_order", "no skipping");
    assert_eq!(refused(s.when(issue(EscalationStep::Reminder, "2024-06-05"))), "ladder_order", "no repeating");
    let s = s.then_apply(issue(EscalationStep::ChaseNotice, "2024-06-05")).expect("chase notice");
    assert_eq!(refused(s.when(issue(EscalationStep::Reminder, "2024-06-06"))), "ladder_order", "no going down");
    let s = s
        .then_apply(issue(EscalationStep::SupervisionOrder, "2024-06-10"))
        .and_then(|s| s.then_apply(issue(EscalationStep::Circular, "2024-06-20")))
        .expect("supervision order, circular");
    assert_eq!(s.state().open_step, Some(EscalationStep::Circular));
    assert_eq!(refused(s.when(issue(EscalationStep::Circular, "2024-06-21"))), "ladder_top");
}

#[test]
fn a_step_is_not_dated_before_the_previous_one_nor_in_the_future() {
    let s =
        Scenario::<Escalation>::on(TODAY).then_apply(issue(EscalationStep::Reminder, "2024-06-10")).expect("reminder");
    assert_eq!(refused(s.when(issue(EscalationStep::ChaseNotice, "2024-06-09"))), "not_before_previous_step");
    assert_eq!(refused(s.when(issue(EscalationStep::ChaseNotice, "2024-07-01"))), "not_in_future");
    assert_eq!(refused(s.when(respond("2024-06-09"))), "not_before_previous_step");
}

#[test]
fn the_task_force_answers_each_step_once() {
    let s = Scenario::<Escalation>::on(TODAY);
    assert_eq!(refused(s.when(respond("2024-06-02"))), "must_exist");
    let s = s.then_apply(issue(EscalationStep::Reminder, "2024-06-01")).expect("reminder");
    let s = s.then_apply(respond("2024-06-02")).expect("an answer");
    assert!(s.state().answered);
    assert_eq!(refused(s.when(respond("2024-06-03"))), "step_already_answered");
    // The next step may be answered again.
    let s = s.then_apply(issue(EscalationStep::ChaseNotice, "2024-06-05")).expect("chase notice");
    assert!(!s.state().answered);
    assert!(s.when(respond("2024-06-06")).is_ok());
}

#[test]
fn a_closed_matter_takes_no_answer_and_no_higher_step_but_restarts_with_a_reminder() {
    let s = Scenario::<Escalation>::on(TODAY);
    assert_eq!(refused(s.when(close("2024-06-02"))), "must_exist");
    let s = s
        .then_apply(issue(EscalationStep::Reminder, "2024-06-01"))
        .and_then(|s| s.then_apply(issue(EscalationStep::ChaseNotice, "2024-06-03")))
        .and_then(|s| s.then_apply(close("2024-06-04")))
        .expect("opened, chased, closed");
    assert_eq!(s.state().open_step, None);
    assert_eq!(refused(s.when(close("2024-06-05"))), "matter_closed");
    assert_eq!(refused(s.when(respond("2024-06-05"))), "matter_closed");
    assert_eq!(refused(s.when(issue(EscalationStep::SupervisionOrder, "2024-06-05"))), "ladder_starts_with_reminder");
    assert!(s.when(issue(EscalationStep::Reminder, "2024-06-05")).is_ok(), "lagging again: a new round");
    assert_eq!(refused(s.when(close("2024-06-03"))), "matter_closed");
}

#[test]
fn a_matter_keeps_its_task_force_duty_and_period_and_a_period_has_its_duty_s_shape() {
    let s =
        Scenario::<Escalation>::on(TODAY).then_apply(issue(EscalationStep::Reminder, "2024-06-01")).expect("reminder");
    let EscalationCommand::IssueStep(mut other) = issue(EscalationStep::ChaseNotice, "2024-06-02") else {
        unreachable!()
    };
    other.period = slug("2024-04");
    assert_eq!(refused(s.when(EscalationCommand::IssueStep(other.clone()))), "same_matter");
    other.period = slug("2024-q2");
    assert_eq!(refused(s.when(EscalationCommand::IssueStep(other))), "period_format");
}

#[test]
fn a_matter_is_not_raised_about_a_period_that_has_not_begun() {
    assert_eq!(period_start(Duty::MonthlyReport, "2024-05"), Some(date("2024-05-01")));
    assert_eq!(period_start(Duty::JointMeeting, "2024-q3"), Some(date("2024-07-01")));
    assert_eq!(period_start(Duty::Target(Measure::Activities), "2024"), Some(date("2024-01-01")));
    assert_eq!(period_start(Duty::JointMeeting, "2024-07"), None);
    let s = Scenario::<Escalation>::on(TODAY);
    // The May report is raised in April: too early.
    assert_eq!(refused(s.when(issue(EscalationStep::Reminder, "2024-04-30"))), "period_not_begun");
    assert!(s.when(issue(EscalationStep::Reminder, "2024-05-01")).is_ok());
}
