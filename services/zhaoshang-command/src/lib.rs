//! zhaoshang-command
