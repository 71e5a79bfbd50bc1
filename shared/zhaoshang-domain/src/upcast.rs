//! Upcasters: old event versions read as current ones.
//!
//! A published event is never rewritten. When an event's shape changes, the
//! new shape gets a new type tag (`….v2`) and a function here turns the old
//! `(tag, data)` into the new one, so every reader sees only current shapes.
//! No event has a second version yet; the table is where the first goes.

use serde_json::Value;

/// Whether an event of this tag is of an older schema version that
/// [`upcast`] rewrites. Readers use it to skip the rewrite's cost for
/// current events.
pub fn needs_upcast(tag: &str) -> bool {
    let _ = tag;
    false
}

/// Turns an event of an older schema version into the current one. Tags
/// that are current pass through unchanged.
pub fn upcast(tag: &str, data: Value) -> (String, Value) {
    (tag.to_owned(), data)
}
