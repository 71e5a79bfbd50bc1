//! zhaoshang
