//! Upcasters: old event versions read as current ones.
//!
//! A published event is never rewritten. When an event's shape changes
//! incompatibly, the new shape gets a new type tag (`….v2`), the old tag's
//! schema stays published, and an [`Upcaster`] here turns an old
//! `(tag, data)` into the next version's. Upcasters chain (v1 → v2 → v3), so
//! every reader inside zhaoshang sees only current shapes, and replaying a
//! ten-year-old stream needs no special code. The rules for what needs a new
//! version are in `contract/README.md`.
//!
//! No published event has a second version yet: [`UPCASTERS`] is empty, and
//! the mechanism is held to its promise by the tests below, which read an
//! event of an older (test-only) version as the current one.

use serde_json::Value;

/// Turns one version of an event's payload into the next.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    /// The old tag, e.g. `meeting.convened.v1`.
    pub from: &'static str,
    /// The tag it becomes, e.g. `meeting.convened.v2`.
    pub to: &'static str,
    /// Rewrites the old payload into the new shape.
    pub convert: fn(Value) -> Value,
}

/// Every upcaster in force, oldest first.
pub const UPCASTERS: &[Upcaster] = &[];

/// Whether an event of this tag is of an older version that [`UPCASTERS`]
/// rewrites. Readers use it to skip the rewrite's cost for current events.
pub fn needs_upcast(tag: &str) -> bool {
    UPCASTERS.iter().any(|u| u.from == tag)
}

/// Turns an event of an older schema version into the current one. Tags
/// that are current pass through unchanged.
pub fn upcast(tag: &str, data: Value) -> (String, Value) {
    upcast_with(UPCASTERS, tag, data)
}

/// [`upcast`] with a given table, applying upcasters until none matches.
pub fn upcast_with(table: &[Upcaster], tag: &str, mut data: Value) -> (String, Value) {
    let mut tag = tag.to_owned();
    // A table is finite and each step moves to a different tag; the bound
    // only guards against a table that loops.
    for _ in 0..=table.len() {
        match table.iter().find(|u| u.from == tag) {
            Some(upcaster) => {
                data = (upcaster.convert)(data);
                tag = upcaster.to.to_owned();
            }
            None => break,
        }
    }
    (tag, data)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::envelope::{EVENT_TYPE_PREFIX, EventEnvelope};
    use crate::meeting::MeetingEvent;

    /// A test-only history: v0 listed attendees as one comma-separated
    /// string under another name, and v0.5 ("v05") had no title.
    fn v0_to_v05(mut data: Value) -> Value {
        if let Some(list) = data.as_object_mut().and_then(|o| o.remove("attendee_list")) {
            let names: Vec<Value> =
                list.as_str().unwrap_or_default().split(',').map(|n| Value::String(n.trim().to_owned())).collect();
            data["attendees"] = Value::Array(names);
        }
        data
    }

    fn v05_to_v1(mut data: Value) -> Value {
        data["title"] = json!("（旧版记录，无标题）");
        data
    }

    const TEST_TABLE: &[Upcaster] = &[
        Upcaster { from: "meeting.convened.v0", to: "meeting.convened.v05", convert: v0_to_v05 },
        Upcaster { from: "meeting.convened.v05", to: "meeting.convened.v1", convert: v05_to_v1 },
    ];

    #[test]
    fn an_event_of_an_older_version_is_read_as_the_current_one() {
        let old = json!({
            "kind": "joint", "task_force_id": "automotive", "on": "2022-03-01",
            "attendee_list": "市科学技术局重大科, 柳南区科学技术局",
        });
        let (tag, _) = upcast_with(TEST_TABLE, "meeting.convened.v0", old.clone());
        assert_eq!(tag, "meeting.convened.v1");
        // The stored envelope keeps its old type and payload; only reading upcasts.
        let (tag, data) = ("meeting.convened.v0", old);
        let envelope_json = json!({
            "specversion": "1.0", "id": "0190a0b0-0000-7000-8000-000000000001",
            "source": "urn:cn:gov:liuzhou:kjj:zhaoshang", "type": format!("{EVENT_TYPE_PREFIX}{tag}"),
            "subject": "meeting/m-1", "time": "2022-03-02T01:00:00Z", "datacontenttype": "application/json",
            "aggregatetype": "meeting", "aggregateid": "m-1", "aggregateversion": 1, "schemaversion": 1,
            "actor": "test", "correlationid": "0190a0b0-0000-7000-8000-000000000002", "hash": "", "data": data,
        });
        let envelope: EventEnvelope = serde_json::from_value(envelope_json).expect("an envelope");
        assert!(envelope.decode::<MeetingEvent>().is_err(), "without its upcasters an old version is not readable");
        let MeetingEvent::Convened(meeting) =
            envelope.decode_with::<MeetingEvent>(TEST_TABLE).expect("reads as the current version");
        assert_eq!(meeting.attendees.len(), 2);
        assert_eq!(meeting.attendees[1].as_str(), "柳南区科学技术局");
        assert_eq!(meeting.title.as_str(), "（旧版记录，无标题）");
    }

    #[test]
    fn current_tags_pass_through_and_the_table_in_force_is_consistent() {
        let (tag, data) = upcast_with(TEST_TABLE, "meeting.convened.v1", json!({"x": 1}));
        assert_eq!((tag.as_str(), data), ("meeting.convened.v1", json!({"x": 1})));
        for upcaster in UPCASTERS {
            assert_ne!(upcaster.from, upcaster.to, "an upcaster must move to another version");
            assert!(
                crate::envelope::schema_version_of(upcaster.to) > crate::envelope::schema_version_of(upcaster.from),
                "{} must move to a later version",
                upcaster.from
            );
        }
    }
}
