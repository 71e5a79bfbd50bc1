//! zhaoshang-read-model
