//! "Ask Gatehouse": questions about who has access to what.

pub mod llm;
pub mod tools;
