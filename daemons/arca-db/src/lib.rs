//! arca-db
