//! zhaoshang-projector
