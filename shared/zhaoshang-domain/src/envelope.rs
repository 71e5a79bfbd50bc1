//! The event envelope: CloudEvents 1.0 JSON with zhaoshang's extensions, and
//! the canonical encoding its hash is computed over.
//!
//! One NATS message carries one envelope. Extension attribute names follow
//! CloudEvents (lower-case letters and digits only), so `occurredat`, not
//! `occurred_at`.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::aggregate::DomainEvent;

/// Prefix of every event's CloudEvents `type`; the rest is the event's own
/// tag, e.g. `project.signed.v1`.
pub const EVENT_TYPE_PREFIX: &str = "cn.gov.liuzhou.kjj.zhaoshang.";

/// The CloudEvents `source` of every event zhaoshang writes.
pub const EVENT_SOURCE: &str = "urn:cn:gov:liuzhou:kjj:zhaoshang";

/// The envelope of one stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventEnvelope {
    /// CloudEvents version, always `1.0`.
    pub specversion: String,
    /// The event's id, a UUIDv7 (time-ordered).
    pub id: Uuid,
    /// Who produced it: [`EVENT_SOURCE`].
    pub source: String,
    /// `cn.gov.liuzhou.kjj.zhaoshang.<aggregate>.<what>.v<N>`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `<aggregate_type>/<aggregate_id>`.
    pub subject: String,
    /// When the system recorded it (UTC).
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The aggregate type (`project`).
    pub aggregatetype: String,
    /// The aggregate's id.
    pub aggregateid: String,
    /// 1 for the aggregate's first event, then +1 for each.
    pub aggregateversion: u64,
    /// The version of `data`'s schema (the `vN` of the type).
    pub schemaversion: u32,
    /// Who did it: the authenticated user.
    pub actor: String,
    /// When it happened in the world (the signing date); absent for facts
    /// that happen when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurredat: Option<NaiveDate>,
    /// Ties together every event caused by one request or one import.
    pub correlationid: Uuid,
    /// The event or request that caused this one, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causationid: Option<Uuid>,
    /// The client's idempotency key, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotencykey: Option<String>,
    /// Hash of the previous event of the same aggregate; absent for its first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevhash: Option<String>,
    /// SHA-256 (hex) of this envelope's canonical encoding without `hash`.
    pub hash: String,
    /// The event's payload.
    pub data: Value,
}

/// What the writer knows about an event beyond its payload.
#[derive(Debug, Clone)]
pub struct EventMetadata {
    /// Who did it.
    pub actor: String,
    /// The request or import it belongs to.
    pub correlation_id: Uuid,
    /// What caused it.
    pub causation_id: Option<Uuid>,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// When it is being recorded.
    pub recorded_at: DateTime<Utc>,
}

/// An event could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not an envelope.
    #[error("not a zhaoshang event envelope: {0}")]
    Envelope(#[source] serde_json::Error),
    /// The type is not one this code knows.
    #[error("unknown event type {0}")]
    UnknownType(String),
    /// The payload does not match its type's schema.
    #[error("payload of {event_type} does not match its schema: {source}")]
    Payload {
        /// The event's type.
        event_type: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl EventEnvelope {
    /// Wraps a domain event of an aggregate into a hashed envelope.
    pub fn seal<E: DomainEvent>(
        aggregate_type: &str,
        aggregate_id: &str,
        aggregate_version: u64,
        previous_hash: Option<String>,
        event: &E,
        metadata: &EventMetadata,
    ) -> Self {
        let tagged = serde_json::to_value(event).expect("domain events always serialise to JSON");
        let (tag, data) = split_tagged(tagged);
        let schemaversion = schema_version_of(&tag);
        let mut envelope = Self {
            specversion: "1.0".to_owned(),
            id: Uuid::now_v7(),
            source: EVENT_SOURCE.to_owned(),
            event_type: format!("{EVENT_TYPE_PREFIX}{tag}"),
            subject: format!("{aggregate_type}/{aggregate_id}"),
            time: metadata.recorded_at,
            datacontenttype: "application/json".to_owned(),
            aggregatetype: aggregate_type.to_owned(),
            aggregateid: aggregate_id.to_owned(),
            aggregateversion: aggregate_version,
            schemaversion,
            actor: metadata.actor.clone(),
            occurredat: event.occurred_on(),
            correlationid: metadata.correlation_id,
            causationid: metadata.causation_id,
            idempotencykey: metadata.idempotency_key.clone(),
            prevhash: previous_hash,
            hash: String::new(),
            data,
        };
        envelope.hash = envelope.compute_hash();
        envelope
    }

    /// The event's own tag, without [`EVENT_TYPE_PREFIX`].
    pub fn short_type(&self) -> &str {
        self.event_type.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(&self.event_type)
    }

    /// Recomputes the hash over the canonical encoding of every field but `hash`.
    pub fn compute_hash(&self) -> String {
        hex::encode(self.compute_hash_bytes())
    }

    /// [`EventEnvelope::compute_hash`] as bytes, for a verifier that
    /// compares without writing hex.
    pub fn compute_hash_bytes(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }

    /// The canonical encoding the hash covers: every field but `hash`, in
    /// one pass and without copying the payload. It equals
    /// [`write_canonical_json`] over the envelope as a JSON value (a test
    /// holds the two together): the view below lists the members in sorted
    /// order, serde_json writes no white space, escapes strings as JCS does,
    /// and keeps a payload's object members sorted (its `preserve_order`
    /// feature is off in this workspace).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        CanonicalView {
            actor: &self.actor,
            aggregateid: &self.aggregateid,
            aggregatetype: &self.aggregatetype,
            aggregateversion: self.aggregateversion,
            causationid: self.causationid,
            correlationid: self.correlationid,
            data: &self.data,
            datacontenttype: &self.datacontenttype,
            id: self.id,
            idempotencykey: self.idempotencykey.as_deref(),
            occurredat: self.occurredat,
            prevhash: self.prevhash.as_deref(),
            schemaversion: self.schemaversion,
            source: &self.source,
            specversion: &self.specversion,
            subject: &self.subject,
            time: self.time,
            event_type: &self.event_type,
        }
        .to_bytes()
    }

    /// Reads the payload as the domain event of its aggregate type, through
    /// the upcasters (see [`crate::upcast`]).
    ///
    /// # Errors
    /// [`DecodeError::UnknownType`] or [`DecodeError::Payload`].
    pub fn decode<E: DomainEvent>(&self) -> Result<E, DecodeError> {
        self.decode_with(crate::upcast::UPCASTERS)
    }

    /// [`EventEnvelope::decode`] through a given table of upcasters.
    ///
    /// # Errors
    /// As [`EventEnvelope::decode`].
    pub fn decode_with<E: DomainEvent>(&self, upcasters: &[crate::upcast::Upcaster]) -> Result<E, DecodeError> {
        let (tag, data) = crate::upcast::upcast_with(upcasters, self.short_type(), self.data.clone());
        self.parse_tagged(&tag, &data.to_string())
    }

    /// Reads `{"type": tag, "data": …}` from text with `type` ahead of
    /// `data`: otherwise serde buffers `data` before it knows the variant,
    /// and a buffered map cannot give back integer keys (a plan's
    /// `system_years`), so the event would not decode.
    fn parse_tagged<E: DomainEvent>(&self, tag: &str, data_text: &str) -> Result<E, DecodeError> {
        let tagged = format!(r#"{{"type":{},"data":{data_text}}}"#, Value::String(tag.to_owned()));
        serde_json::from_str(&tagged).map_err(|source| {
            if source.to_string().contains("unknown variant") {
                DecodeError::UnknownType(self.event_type.clone())
            } else {
                DecodeError::Payload { event_type: self.event_type.clone(), source }
            }
        })
    }

    /// Reads the payload as [`EventEnvelope::decode`] does, given the
    /// payload already written out as JSON text (`data_text`), so a reader
    /// that needs that text too (the projector's event log) writes it once.
    ///
    /// # Errors
    /// As [`EventEnvelope::decode`].
    pub fn decode_with_data_text<E: DomainEvent>(&self, data_text: &str) -> Result<E, DecodeError> {
        let tag = self.short_type();
        if crate::upcast::needs_upcast(tag) {
            return self.decode();
        }
        self.parse_tagged(tag, data_text)
    }

    /// Parses an envelope from a NATS message payload.
    ///
    /// # Errors
    /// [`DecodeError::Envelope`] when the bytes are not an envelope.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(DecodeError::Envelope)
    }

    /// The bytes written to NATS.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelopes always serialise to JSON")
    }
}

/// Every field of an envelope but `hash`, members in sorted order: what
/// the hash is computed over, written by serde_json.
#[derive(Serialize)]
struct CanonicalView<'a, D: Serialize + ?Sized = Value> {
    actor: &'a str,
    aggregateid: &'a str,
    aggregatetype: &'a str,
    aggregateversion: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    causationid: Option<Uuid>,
    correlationid: Uuid,
    data: &'a D,
    datacontenttype: &'a str,
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    idempotencykey: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    occurredat: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevhash: Option<&'a str>,
    schemaversion: u32,
    source: &'a str,
    specversion: &'a str,
    subject: &'a str,
    time: DateTime<Utc>,
    #[serde(rename = "type")]
    event_type: &'a str,
}

impl<D: Serialize + ?Sized> CanonicalView<'_, D> {
    fn to_bytes(&self) -> Vec<u8> {
        // About the size of a stored envelope: one allocation, no regrowth.
        let mut out = Vec::with_capacity(1024 + self.idempotencykey.map_or(0, str::len));
        serde_json::to_writer(&mut out, self).expect("envelopes always serialise to JSON");
        out
    }
}

/// A stored envelope read only to check it: its text fields borrowed from
/// the message where JSON allows (no escapes), so an auditor replaying a
/// stream does not copy every string of every event, and its payload kept
/// as stored text when that text is already canonical (which an exact check
/// decides; a payload that is not is decoded as usual). It accepts exactly
/// the messages [`EventEnvelope::from_slice`] accepts, with the same values,
/// and its canonical encoding is written by the same code, byte for byte.
#[derive(Debug, Deserialize)]
pub struct StoredEnvelope<'a> {
    /// As [`EventEnvelope::specversion`].
    #[serde(borrow)]
    pub specversion: Cow<'a, str>,
    /// As [`EventEnvelope::id`].
    pub id: Uuid,
    /// As [`EventEnvelope::source`].
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// As [`EventEnvelope::event_type`].
    #[serde(rename = "type", borrow)]
    pub event_type: Cow<'a, str>,
    /// As [`EventEnvelope::subject`].
    #[serde(borrow)]
    pub subject: Cow<'a, str>,
    /// As [`EventEnvelope::time`].
    pub time: DateTime<Utc>,
    /// As [`EventEnvelope::datacontenttype`].
    #[serde(borrow)]
    pub datacontenttype: Cow<'a, str>,
    /// As [`EventEnvelope::aggregatetype`].
    #[serde(borrow)]
    pub aggregatetype: Cow<'a, str>,
    /// As [`EventEnvelope::aggregateid`].
    #[serde(borrow)]
    pub aggregateid: Cow<'a, str>,
    /// As [`EventEnvelope::aggregateversion`].
    pub aggregateversion: u64,
    /// As [`EventEnvelope::schemaversion`].
    pub schemaversion: u32,
    /// As [`EventEnvelope::actor`].
    #[serde(borrow)]
    pub actor: Cow<'a, str>,
    /// As [`EventEnvelope::occurredat`].
    #[serde(default)]
    pub occurredat: Option<NaiveDate>,
    /// As [`EventEnvelope::correlationid`].
    pub correlationid: Uuid,
    /// As [`EventEnvelope::causationid`].
    #[serde(default)]
    pub causationid: Option<Uuid>,
    /// As [`EventEnvelope::idempotencykey`].
    #[serde(default)]
    pub idempotencykey: Option<String>,
    /// As [`EventEnvelope::prevhash`].
    #[serde(default)]
    pub prevhash: Option<String>,
    /// As [`EventEnvelope::hash`].
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
    /// As [`EventEnvelope::data`], as stored.
    #[serde(borrow)]
    data: &'a RawValue,
    /// The payload decoded, when its stored text is not already the
    /// canonical encoding (never, for an envelope zhaoshang wrote).
    #[serde(skip)]
    decoded_data: Option<Value>,
}

impl<'a> StoredEnvelope<'a> {
    /// Reads a NATS message payload.
    ///
    /// # Errors
    /// [`DecodeError::Envelope`] when the bytes are not an envelope.
    pub fn from_slice(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut envelope: Self = serde_json::from_slice(bytes).map_err(DecodeError::Envelope)?;
        // The payload as zhaoshang writes it is already canonical: its bytes
        // are then the canonical encoding itself, with no decoding into a
        // `Value` and writing out again. Anything else is decoded, as
        // `EventEnvelope::from_slice` decodes it (and refused likewise).
        if !is_canonical_json(envelope.data.get().as_bytes()) {
            envelope.decoded_data = Some(serde_json::from_str(envelope.data.get()).map_err(DecodeError::Envelope)?);
        }
        Ok(envelope)
    }

    /// As [`EventEnvelope::canonical_bytes`].
    pub fn canonical_bytes(&self) -> Vec<u8> {
        match &self.decoded_data {
            Some(data) => self.view(data).to_bytes(),
            None => self.view(self.data).to_bytes(),
        }
    }

    fn view<'v, D: Serialize + ?Sized>(&'v self, data: &'v D) -> CanonicalView<'v, D> {
        CanonicalView {
            actor: &self.actor,
            aggregateid: &self.aggregateid,
            aggregatetype: &self.aggregatetype,
            aggregateversion: self.aggregateversion,
            causationid: self.causationid,
            correlationid: self.correlationid,
            data,
            datacontenttype: &self.datacontenttype,
            id: self.id,
            idempotencykey: self.idempotencykey.as_deref(),
            occurredat: self.occurredat,
            prevhash: self.prevhash.as_deref(),
            schemaversion: self.schemaversion,
            source: &self.source,
            specversion: &self.specversion,
            subject: &self.subject,
            time: self.time,
            event_type: &self.event_type,
        }
    }

    /// As [`EventEnvelope::compute_hash_bytes`].
    pub fn compute_hash_bytes(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

/// Whether `text` (one JSON value) is byte for byte what serde_json writes
/// for the value it holds: object members in strictly increasing order of
/// their keys (which then have no escapes), no white space, strings escaped
/// exactly as serde_json escapes them and otherwise raw, integers in
/// serde_json's range and form. Anything else, floating-point numbers
/// included, says `false` and is decoded and written out instead, so a
/// `false` costs time, never exactness; a `true` must never be wrong (the
/// tests compare with a decode and re-encode on every case they make).
fn is_canonical_json(text: &[u8]) -> bool {
    let mut at = 0;
    canonical_value(text, &mut at, 0) && at == text.len()
}

/// Well inside serde_json's own nesting limit (128).
const CANONICAL_DEPTH: usize = 100;

fn canonical_value(text: &[u8], at: &mut usize, depth: usize) -> bool {
    if depth > CANONICAL_DEPTH {
        return false;
    }
    match text.get(*at) {
        Some(b'{') => {
            *at += 1;
            if text.get(*at) == Some(&b'}') {
                *at += 1;
                return true;
            }
            let mut previous: Option<&[u8]> = None;
            loop {
                if text.get(*at) != Some(&b'"') {
                    return false;
                }
                let Some(key) = canonical_string(text, at, false) else { return false };
                if previous.is_some_and(|previous| previous >= key) {
                    return false;
                }
                previous = Some(key);
                if text.get(*at) != Some(&b':') {
                    return false;
                }
                *at += 1;
                if !canonical_value(text, at, depth + 1) {
                    return false;
                }
                match text.get(*at) {
                    Some(b',') => *at += 1,
                    Some(b'}') => {
                        *at += 1;
                        return true;
                    }
                    _ => return false,
                }
            }
        }
        Some(b'[') => {
            *at += 1;
            if text.get(*at) == Some(&b']') {
                *at += 1;
                return true;
            }
            loop {
                if !canonical_value(text, at, depth + 1) {
                    return false;
                }
                match text.get(*at) {
                    Some(b',') => *at += 1,
                    Some(b']') => {
                        *at += 1;
                        return true;
                    }
                    _ => return false,
                }
            }
        }
        Some(b'"') => canonical_string(text, at, true).is_some(),
        Some(b't') => canonical_literal(text, at, b"true"),
        Some(b'f') => canonical_literal(text, at, b"false"),
        Some(b'n') => canonical_literal(text, at, b"null"),
        Some(b'-' | b'0'..=b'9') => canonical_integer(text, at),
        _ => false,
    }
}

/// A string at `at` (its opening quote); the raw bytes between the quotes.
/// Escapes are those serde_json writes (`\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, and `\u00xx` in lower case for the other control
/// characters), allowed only where `escapes` (not in keys, whose raw bytes
/// are compared).
fn canonical_string<'t>(text: &'t [u8], at: &mut usize, escapes: bool) -> Option<&'t [u8]> {
    *at += 1;
    let start = *at;
    loop {
        match *text.get(*at)? {
            b'"' => {
                let content = &text[start..*at];
                *at += 1;
                return Some(content);
            }
            b'\\' if escapes => match *text.get(*at + 1)? {
                b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => *at += 2,
                b'u' => {
                    let code = match text.get(*at + 2..*at + 6)? {
                        [b'0', b'0', high @ (b'0' | b'1'), low @ (b'0'..=b'9' | b'a'..=b'f')] => {
                            let low = if low.is_ascii_digit() { low - b'0' } else { low - b'a' + 10 };
                            (high - b'0') * 16 + low
                        }
                        _ => return None,
                    };
                    if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                        return None;
                    }
                    *at += 6;
                }
                _ => return None,
            },
            b'\\' | 0x00..=0x1f => return None,
            _ => *at += 1,
        }
    }
}

fn canonical_literal(text: &[u8], at: &mut usize, literal: &[u8]) -> bool {
    if text[*at..].starts_with(literal) {
        *at += literal.len();
        true
    } else {
        false
    }
}

/// An integer serde_json reads as one and writes back the same: `0`, or no
/// leading zero, at most `u64::MAX`, at least `i64::MIN`, not `-0`; no
/// fraction or exponent (those are floating-point numbers).
fn canonical_integer(text: &[u8], at: &mut usize) -> bool {
    let negative = text[*at] == b'-';
    let start = *at + usize::from(negative);
    let digits = text[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    let end = start + digits;
    if digits == 0 || (text[start] == b'0' && (digits > 1 || negative)) {
        return false;
    }
    if matches!(text.get(end), Some(b'.' | b'e' | b'E')) {
        return false;
    }
    let Ok(magnitude) = std::str::from_utf8(&text[start..end]).expect("ASCII digits").parse::<u64>() else {
        return false;
    };
    if negative && magnitude > 1 << 63 {
        return false;
    }
    *at = end;
    true
}

fn split_tagged(tagged: Value) -> (String, Value) {
    match tagged {
        Value::Object(mut map) => {
            let tag = match map.remove("type") {
                Some(Value::String(tag)) => tag,
                _ => panic!("domain events are adjacently tagged with a string `type`"),
            };
            let data = map.remove("data").unwrap_or(Value::Null);
            (tag, data)
        }
        _ => panic!("domain events serialise to an object"),
    }
}

/// The `N` of a tag ending in `.vN`; 1 when absent.
pub fn schema_version_of(tag: &str) -> u32 {
    tag.rsplit_once(".v").and_then(|(_, v)| v.parse().ok()).unwrap_or(1)
}

/// Writes `value` as canonical JSON: RFC 8785 (JCS) for the values zhaoshang
/// stores — object members sorted by key, no insignificant white space,
/// strings escaped as ECMAScript's `JSON.stringify` does. Every number in an
/// envelope is an integer, so JCS's floating-point rules never apply; keys are
/// ASCII, so sorting by bytes equals JCS's sorting by UTF-16 code units.
pub fn write_canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_canonical_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_string(key, out);
                out.push(':');
                write_canonical_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_canonical_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metadata with quotes, a tab and a control character in the actor.
    fn awkward_metadata(idempotency_key: &str) -> EventMetadata {
        EventMetadata {
            actor: "联络员 \"甲\"\t\u{1}".to_owned(),
            correlation_id: Uuid::now_v7(),
            causation_id: Some(Uuid::now_v7()),
            idempotency_key: Some(idempotency_key.to_owned()),
            recorded_at: Utc::now(),
        }
    }

    /// A meeting whose texts need every kind of escape.
    fn awkward_meeting() -> crate::meeting::MeetingEvent {
        crate::meeting::MeetingEvent::Convened(crate::meeting::RecordMeetingConvened {
            kind: crate::values::MeetingKind::Joint,
            task_force_id: Some(crate::values::Slug::parse("automotive").expect("slug")),
            on: NaiveDate::from_ymd_opt(2022, 3, 1).expect("date"),
            title: crate::values::Name::parse("联席会\\第一次").expect("name"),
            attendees: vec![crate::values::Name::parse("柳南区科学技术局").expect("name")],
            minutes: Some(crate::values::Text::parse("纪要\n第二行\t é 😀 \u{2028}").expect("text")),
        })
    }

    #[test]
    fn canonical_json_sorts_keys_and_escapes_like_jcs() {
        let value = serde_json::json!({"b": 1, "a": [true, null, "柳州\n\u{1}"], "A": {"z": -5, "y": "\""}});
        let mut out = String::new();
        write_canonical_json(&value, &mut out);
        assert_eq!(out, r#"{"A":{"y":"\"","z":-5},"a":[true,null,"柳州\n\u0001"],"b":1}"#);
    }

    #[test]
    fn the_one_pass_encoding_equals_the_canonical_writer() {
        let metadata = awkward_metadata("key/1");
        let event = awkward_meeting();
        for previous in [None, Some("ab".repeat(32))] {
            let envelope = EventEnvelope::seal("meeting", "m-1", 2, previous, &event, &metadata);
            let mut value = serde_json::to_value(&envelope).expect("value");
            value.as_object_mut().expect("object").remove("hash");
            let mut canonical = String::new();
            write_canonical_json(&value, &mut canonical);
            assert_eq!(String::from_utf8(envelope.canonical_bytes()).expect("utf-8"), canonical);
        }
    }

    /// The borrowing reader an auditor uses and the owning one agree on
    /// every stored envelope, escapes and optional members included, and
    /// refuse the same malformed ones.
    #[test]
    fn a_stored_envelope_hashes_as_the_envelope_does() {
        let metadata = awkward_metadata("key/1 \\ 2");
        let event = awkward_meeting();
        let plain =
            EventMetadata { causation_id: None, idempotency_key: None, actor: "tester".to_owned(), ..metadata.clone() };
        for (previous, metadata) in
            [(None, &metadata), (Some("ab".repeat(32)), &metadata), (Some("cd".repeat(32)), &plain)]
        {
            let envelope = EventEnvelope::seal("meeting", "m-1", 2, previous, &event, metadata);
            let bytes = envelope.to_vec();
            let stored = StoredEnvelope::from_slice(&bytes).expect("a stored envelope");
            assert_eq!(stored.canonical_bytes(), envelope.canonical_bytes());
            assert_eq!(hex::encode(stored.compute_hash_bytes()), envelope.hash);
            assert_eq!(
                matches!(stored.actor, Cow::Owned(_)),
                metadata.actor.contains('"'),
                "an escaped string is copied, a plain one borrowed"
            );
            assert!(matches!(stored.aggregateid, Cow::Borrowed(_)), "a plain one is borrowed");
            // Pretty-printed, with the members in another order, it is the same event.
            let mut value = serde_json::to_value(&envelope).expect("value");
            let members = value.as_object_mut().expect("object");
            let hash = members.remove("hash").expect("hash");
            members.insert("hash".to_owned(), hash);
            let pretty = serde_json::to_vec_pretty(&value).expect("pretty");
            let stored = StoredEnvelope::from_slice(&pretty).expect("a stored envelope");
            assert_eq!(hex::encode(stored.compute_hash_bytes()), envelope.hash);
        }
        let envelope = EventEnvelope::seal("meeting", "m-1", 1, None, &event, &plain);
        let text = String::from_utf8(envelope.to_vec()).expect("utf-8");
        for malformed in [
            text.replace("\"aggregateversion\":1", "\"aggregateversion\":-1"),
            text.replace("\"hash\":", "\"hash\":1,\"x\":"),
            text.replace("\"actor\":\"tester\"", "\"actor\":null"),
            text.replace("\"prevhash\"", "\"p\"").replace("\"id\":", "\"id\":\"x\",\"i\":"),
            text.replace("\"data\":", "\"dat\":"),
            text.replace("\"actor\":\"tester\"", "\"actor\":\"tester\",\"actor\":\"x\""),
            text[..text.len() - 1].to_owned(),
        ] {
            assert_eq!(
                StoredEnvelope::from_slice(malformed.as_bytes()).is_ok(),
                EventEnvelope::from_slice(malformed.as_bytes()).is_ok(),
                "{malformed}"
            );
            assert!(EventEnvelope::from_slice(malformed.as_bytes()).is_err(), "{malformed}");
        }
    }

    /// What serde_json writes back for a text, if it reads it.
    fn reencoded(text: &str) -> Option<String> {
        serde_json::from_str::<Value>(text).ok().map(|value| value.to_string())
    }

    #[test]
    fn canonical_payload_text_is_recognised_and_nothing_else() {
        let nested = format!("{}1{}", "[".repeat(CANONICAL_DEPTH + 1), "]".repeat(CANONICAL_DEPTH + 1));
        for text in [
            "{}",
            "[]",
            "0",
            "null",
            r#"{"a":1,"ab":[true,false,null,-5,0,18446744073709551615,-9223372036854775808],"b":{"c":"d"}}"#,
            "\"柳州\\n\\u0001\\\"\\\\\\t\\b\\f\\r\\u001f😀 \u{2028}\"",
            r#"{"category":"industrial","name":"新能源汽车","planned_investment_yuan":300000000}"#,
        ] {
            assert!(is_canonical_json(text.as_bytes()), "{text}");
            assert_eq!(reencoded(text).as_deref(), Some(text));
        }
        for text in [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{ "a":1}"#,
            "[1, 2]",
            "1.0",
            "1e2",
            "-0",
            "01",
            "-01",
            "18446744073709551616",
            "-9223372036854775809",
            r#""\u0041""#,
            r#""\/""#,
            r#""\u000A""#,
            r#""\u000a""#,
            r#""\u001F""#,
            r#""\u2028""#,
            r#"{"\u0061":1}"#,
            "\"tab\there\"",
            "tru",
            "[1,]",
            r#"{"a":1,}"#,
            "",
            "1 ",
            nested.as_str(),
        ] {
            assert!(!is_canonical_json(text.as_bytes()), "{text}");
        }
    }

    fn json_values() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[\u{0}-\u{7f}é柳😀\u{2028}]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[\u{0}-\u{7f}é]{0,4}", inner, 0..5)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Every text the check accepts is exactly what serde_json writes for
        /// what it reads: tried on serde_json's own output and on that output
        /// edited at one place (a byte removed, doubled, replaced, or white
        /// space put in), which is where a wrong `true` would hide.
        #[test]
        fn the_canonical_check_is_never_wrong(value in json_values(), at in 0usize..64, byte in 0u8..128, edit in 0u8..4) {
            let text = value.to_string();
            let keys_plain = !text.contains("\\");
            if keys_plain && !text.contains('.') && !text.contains('e') {
                proptest::prop_assert!(is_canonical_json(text.as_bytes()), "serde_json's own output: {}", text);
            }
            if is_canonical_json(text.as_bytes()) {
                proptest::prop_assert_eq!(reencoded(&text), Some(text.clone()));
            }
            let mut edited = text.clone().into_bytes();
            let at = at % (edited.len() + 1);
            match edit {
                0 if at < edited.len() => { edited.remove(at); }
                1 if at < edited.len() => { let b = edited[at]; edited.insert(at, b); }
                2 if at < edited.len() => edited[at] = byte,
                _ => edited.insert(at, b' '),
            }
            if let Ok(edited) = String::from_utf8(edited) {
                if is_canonical_json(edited.as_bytes()) {
                    proptest::prop_assert_eq!(reencoded(&edited), Some(edited.clone()));
                }
            }
        }
    }

    #[test]
    fn schema_version_comes_from_the_tag() {
        assert_eq!(schema_version_of("project.signed.v1"), 1);
        assert_eq!(schema_version_of("project.signed.v12"), 12);
        assert_eq!(schema_version_of("project.signed"), 1);
    }
}
