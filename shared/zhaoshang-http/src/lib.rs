//! zhaoshang-http
