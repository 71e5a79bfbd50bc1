//! zhaoshang-event-store
