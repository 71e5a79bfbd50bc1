//! zhaoshang-query
